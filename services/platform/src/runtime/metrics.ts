import type { RequestHandler } from 'express';
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The Prometheus metrics every service exposes on GET /metrics. */
export class ServiceMetrics {
  readonly registry = new Registry();
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly eventsHandled: Counter<'topic' | 'event_type' | 'outcome'>;
  readonly eventHandling: Histogram<'event_type'>;
  /** Outbox commit (the event's occurredAt) to receipt by this consumer: one CDC hop. */
  readonly cdcHop: Histogram<'event_type'>;

  constructor(service: string, instance: string) {
    this.registry.setDefaultLabels({ service, instance });
    collectDefaultMetrics({ register: this.registry });
    const latencyBuckets = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5];
    this.httpDuration = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: latencyBuckets,
      registers: [this.registry],
    });
    this.eventsHandled = new Counter({
      name: 'saga_events_handled_total',
      help: 'Consumed events by type and outcome (applied, duplicate, skipped, dead-lettered)',
      labelNames: ['topic', 'event_type', 'outcome'],
      registers: [this.registry],
    });
    this.eventHandling = new Histogram({
      name: 'saga_event_handling_seconds',
      help: 'Time to handle one event, decode to commit',
      labelNames: ['event_type'],
      buckets: latencyBuckets,
      registers: [this.registry],
    });
    this.cdcHop = new Histogram({
      name: 'saga_cdc_hop_seconds',
      help: 'From the outbox write of an event to its receipt here (binlog, Debezium, Kafka, consumer)',
      labelNames: ['event_type'],
      buckets: latencyBuckets,
      registers: [this.registry],
    });
  }

  /**
   * Times every request; the route label is the matched route pattern, never a raw id. A handler mounted
   * on a prefix (the gateway's proxy) has no route pattern: it names its prefix in `res.locals.route`.
   */
  httpMiddleware(): RequestHandler {
    return (req, res, next) => {
      const end = this.httpDuration.startTimer({ method: req.method });
      res.on('finish', () => {
        const pattern = (req.route as { path?: string } | undefined)?.path;
        const mounted = typeof res.locals.route === 'string' ? res.locals.route : 'unmatched';
        end({ route: pattern ? `${req.baseUrl}${pattern}` : mounted, status: String(res.statusCode) });
      });
      next();
    };
  }
}
