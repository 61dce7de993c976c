import type { Knex } from 'knex';
import type { Logger } from '../logger.js';

/**
 * Keeps `processed_events` bounded. A record may go once the event it stands for can no longer be
 * redelivered, i.e. after the topic's retention (7 days here): the default keeps 8. Deletes in small
 * batches so it never holds locks the consumers would wait on.
 */
export class ProcessedEventsCleaner {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Knex,
    private readonly logger: Logger,
    private readonly retentionHours: number,
    private readonly batchSize = 5000,
  ) {}

  /** Deletes what is older than the retention; returns how many records went. */
  async cleanOnce(): Promise<number> {
    let total = 0;
    for (;;) {
      const deleted = await this.db.raw(
        'DELETE FROM processed_events WHERE processed_at < NOW(6) - INTERVAL ? HOUR ORDER BY processed_at LIMIT ?',
        [this.retentionHours, this.batchSize],
      );
      const count = (deleted[0] as { affectedRows: number }).affectedRows;
      total += count;
      if (count < this.batchSize) return total;
    }
  }

  start(intervalMs = 60_000): void {
    this.timer = setInterval(() => {
      this.cleanOnce().then(
        (count) => count > 0 && this.logger.info({ count }, 'expired processed-event records deleted'),
        (error: unknown) => this.logger.warn({ err: error }, 'cleaning processed_events failed; next round retries'),
      );
    }, intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
