import type { ServiceMetrics } from '@cdc-outbox-saga/platform';
import { Counter, Histogram } from 'prom-client';

/** Saga outcomes and end-to-end saga latency (order created to completed/cancelled). */
export class SagaMetrics {
  readonly outcomes: Counter<'status' | 'reason'>;
  readonly duration: Histogram<'status'>;

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
  }

  record(status: 'COMPLETED' | 'CANCELLED', reason: string, startedAt: Date): void {
    this.outcomes.inc({ status, reason });
    this.duration.observe({ status }, (Date.now() - startedAt.getTime()) / 1000);
  }
}
