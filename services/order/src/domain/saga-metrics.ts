import type { ServiceMetrics } from '@cdc-outbox-saga/platform';
import { Counter, Gauge, Histogram } from 'prom-client';

/** Saga outcomes, end-to-end saga latency (order created to completed/cancelled), and the sagas in flight. */
export class SagaMetrics {
  readonly outcomes: Counter<'status' | 'reason'>;
  readonly duration: Histogram<'status'>;
  /**
   * Read from the database by each instance's deadline sweep, so every order instance reports the same
   * database-wide values: aggregate with max(), not sum().
   */
  readonly pending: Gauge;
  readonly oldestPendingAge: Gauge;

  constructor(metrics: ServiceMetrics) {
    this.outcomes = new Counter({
      name: 'saga_outcomes_total',
      help: 'Finished sagas by outcome and reason',
      labelNames: ['status', 'reason'],
      registers: [metrics.registry],
    });
    this.duration = new Histogram({
      name: 'saga_duration_seconds',
      help: 'From the order being created to its saga finishing',
      labelNames: ['status'],
      buckets: [0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 5, 10],
      registers: [metrics.registry],
    });
    this.pending = new Gauge({
      name: 'saga_pending_orders',
      help: 'Orders whose saga is PENDING (all instances, from the database; max() across instances)',
      registers: [metrics.registry],
    });
    this.oldestPendingAge = new Gauge({
      name: 'saga_oldest_pending_age_seconds',
      help: 'Age of the oldest PENDING saga, 0 when none (from the database; max() across instances)',
      registers: [metrics.registry],
    });
  }

  record(status: 'COMPLETED' | 'CANCELLED', reason: string, startedAt: Date): void {
    this.outcomes.inc({ status, reason });
    this.duration.observe({ status }, (Date.now() - startedAt.getTime()) / 1000);
  }

  /** The sagas in flight, as the last sweep counted them. */
  recordPending(count: number, oldestAgeSeconds: number): void {
    this.pending.set(count);
    this.oldestPendingAge.set(oldestAgeSeconds);
  }
}
