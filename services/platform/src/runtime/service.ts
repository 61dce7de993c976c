import type { RequestListener, Server } from 'node:http';
import { once } from 'node:events';
import type { Express } from 'express';
import { Kafka, logLevel } from 'kafkajs';
import type { Knex } from 'knex';
import pRetry from 'p-retry';
import { EventCodec, createSchemaRegistry } from '../avro/event-codec.js';
import { loadEventSchemas } from '../avro/event-schemas.js';
import { IdempotentConsumer, type EventHandler } from '../consumer/idempotent-consumer.js';
import { ProcessedEventsCleaner } from '../consumer/processed-events-cleaner.js';
import { monitorConsumerGroup } from '../consumer/lag-monitor.js';
import { createDatabase } from '../data/database.js';
import { migrateAs, type Migration } from '../data/migrations.js';
import { isRetriable } from '../errors.js';
import { fixKafkajsIdleTimers } from '../kafka/idle-timer-fix.js';
import { createHttpApp, finishHttpApp } from '../http/http-app.js';
import { createHttpServer, type HttpServerOptions } from '../http/http-server.js';
import { authenticate } from '../auth/authenticate.js';
import { verifierOptionsFrom } from '../auth/token-verifier.js';
import { createLogger, setLogLevel, type Logger } from '../logger.js';
import { OutboxWriter } from '../outbox/outbox-writer.js';
import { EurekaClient } from '../discovery/eureka-client.js';
import { HealthMonitor, consumerCheck, databaseCheck, type HealthReport } from './health.js';
import { ClockGuard, readDatabaseClock } from './clock-guard.js';
import { ServiceMetrics } from './metrics.js';
import type { z } from 'zod';
import { LiveConfig } from '../config/live-config.js';
import { baseServiceSettings, eurekaCredentials, type BaseServiceSettings, type eurekaSettings } from './service-config.js';

/** What a service's routes and handlers get to work with. */
export interface ServiceContext {
  settings: BaseServiceSettings;
  logger: Logger;
  db: Knex;
  outbox: OutboxWriter;
  metrics: ServiceMetrics;
}

export interface ServiceDefinition<Extra extends object = object, Settings extends BaseServiceSettings = BaseServiceSettings> {
  settings: Settings;
  /** The schema `settings` were loaded with; a new commit of the config service is validated with it. */
  schema?: z.ZodType<Settings>;
  /**
   * Settings of this service that apply without a restart, by key prefix (`saga.maxWaitSeconds`). The
   * platform's own are always live: `log.level`, `kafka.retry`.
   */
  live?: (context: ServiceContext & Extra) => Record<string, (settings: Settings) => void>;
  /** The service's release, shown in Eureka's metadata (`packageVersion(import.meta.url)`). */
  version: string;
  migrations: Migration[];
  /** Folder of this service's `.avsc` files: the events it publishes on `<aggregateType>.events`. */
  schemaDir: string;
  aggregateType: string;
  /** Topics this service consumes. */
  topics: string[];
  /** Service-specific parts built once from the common ones and handed to handlers and routes. */
  extend?: (context: ServiceContext) => Extra;
  handlers: (context: ServiceContext & Extra) => Record<string, EventHandler>;
  routes: (app: Express, context: ServiceContext & Extra) => void;
}

export interface RunningService extends ServiceContext {
  /** The settings in force and where they came from; changes as the config service's commits apply. */
  config: LiveConfig<BaseServiceSettings>;
  /** Base URL of the HTTP server (useful with port 0). */
  url: string;
  consumer: IdempotentConsumer;
  /** What GET /health answers: the database, the consumer and the clock, checked every `health.intervalMs`. */
  health: HealthMonitor;
  stop(): Promise<void>;
}

/** 200 with the report when UP, 503 otherwise, as Spring Boot's health endpoint does. */
export function healthAnswer(report: HealthReport, instance: string): { status: number; body: unknown } {
  return { status: report.status === 'UP' ? 200 : 503, body: { ...report, instance } };
}

/**
 * Boots a domain service: migrates its database, registers its event schemas, starts its idempotent
 * consumer and serves HTTP (routes, each behind a verified bearer token; GET /health and GET /metrics open).
 * `stop()` undoes it in reverse order.
 */
export async function startService<Extra extends object = object, Settings extends BaseServiceSettings = BaseServiceSettings>(
  definition: ServiceDefinition<Extra, Settings>,
): Promise<RunningService> {
  const { settings } = definition;
  setLogLevel(settings.log.level);
  const logger = createLogger(`${settings.service.name}-service`, settings.log.level).child({ instance: settings.service.instanceId });
  const metrics = new ServiceMetrics(settings.service.name, settings.service.instanceId);
  // Eureka named without its credentials fails the start here, not after the migrations (eurekaClientFor reads them again).
  eurekaCredentials(settings.eureka);
  const { migration, ...serving } = settings.db;
  const db = createDatabase({ ...serving, pool: { min: 0, max: settings.db.poolMax } });

  const untilUp = <T>(what: string, work: () => Promise<T>) =>
    pRetry(work, {
      retries: 30,
      minTimeout: 200,
      maxTimeout: 2000,
      shouldRetry: (error) => isRetriable(error),
      onFailedAttempt: (error) => logger.warn({ what, attempt: error.attemptNumber, reason: error.message }, 'waiting for a dependency'),
    });

  // As the migration account, on a connection of its own; the service then serves as the runtime one (rows only).
  await untilUp('database', () => migrateAs({ ...serving, ...migration }, definition.migrations));
  const codec = new EventCodec(createSchemaRegistry(settings.registry.url));
  const schemas = loadEventSchemas(definition.schemaDir, definition.aggregateType);
  await untilUp('schema registry', () => codec.register(schemas));
  const outbox = new OutboxWriter(codec, schemas, {
    deleteAfterInsert: settings.outbox.deleteAfterInsert,
    maxEventBytes: settings.outbox.maxEventBytes,
  });
  const common: ServiceContext = { settings, logger, db, outbox, metrics };
  const context = { ...common, ...(definition.extend?.(common) ?? ({} as Extra)) };

  // Before the first client connects: kafkajs 2.2.4's per-connection 1 ms timer loop (idle-timer-fix.ts).
  const idleTimerFix = fixKafkajsIdleTimers();
  const kafka = new Kafka({
    clientId: `${settings.service.name}-${settings.service.instanceId}`,
    brokers: settings.kafka.brokers,
    logLevel: logLevel.WARN,
  });
  const consumer = new IdempotentConsumer({
    kafka,
    db,
    codec,
    logger,
    groupId: settings.kafka.groupId,
    topics: definition.topics,
    partitionsConsumedConcurrently: settings.kafka.partitionsConsumedConcurrently,
    maxBatchEvents: settings.kafka.maxBatchEvents,
    fetch: settings.kafka.fetch,
    commitIntervalMs: settings.kafka.commitIntervalMs,
    sessionTimeoutMs: settings.kafka.sessionTimeoutMs,
    clientRetry: settings.kafka.clientRetry,
    dedupeWindowHours: settings.kafka.dedupeRetentionHours,
    retry: settings.kafka.retry,
    handlers: definition.handlers(context),
    onEvent: (event, outcome, durationMs) => {
      const type = event?.eventType ?? 'unknown';
      metrics.eventsHandled.inc({ topic: event?.topic ?? 'unknown', event_type: type, outcome });
      metrics.eventHandling.observe({ event_type: type }, durationMs / 1000);
    },
    onReceived: (event, receivedAt) => {
      const occurredAt = (event.payload as { occurredAt?: unknown }).occurredAt;
      if (typeof occurredAt === 'number') metrics.cdcHop.observe({ event_type: event.eventType }, (receivedAt - occurredAt) / 1000);
    },
  });
  // This instance's clock against the database's, once now (in the first health report) and every
  // clock.intervalMs: a skew over clock.downSeconds turns the instance DOWN.
  const clock = new ClockGuard({ ...settings.clock, read: () => readDatabaseClock(db), logger, registry: metrics.registry });
  await clock.sample();
  let eureka: EurekaClient | undefined;
  const health = new HealthMonitor(
    [
      databaseCheck(db),
      consumerCheck(consumer.kafkaConsumer, {
        restartGraceMs: settings.health.consumerRestartGraceMs,
        stoppedOnPurpose: () => consumer.stoppedOnPurpose,
      }),
      clock.check,
    ],
    settings.health.intervalMs,
    (report, previous) => {
      const level = report.status === 'DOWN' ? 'warn' : 'info';
      logger[level]({ status: report.status, previous, checks: report.checks }, `health is ${report.status}`);
      eureka?.setStatus(report.status);
    },
  );

  // The service verifies every caller itself (the gateway is not trusted to have): a bearer token on every
  // request but GET /health and GET /metrics, checked before the body is read, refusals counted in metrics.
  const app = createHttpApp([
    metrics.httpMiddleware(),
    authenticate({ ...verifierOptionsFrom(settings.auth), publicPaths: ['/health', '/metrics'] }),
  ]);
  const config = new LiveConfig<Settings>(definition.schema ?? (baseServiceSettings as unknown as z.ZodType<Settings>), settings, {
    logger,
    intervalMs: settings.config.refreshMs,
  }).on('kafka.retry', (s) => consumer.setRetry(s.kafka.retry));
  for (const [prefix, apply] of Object.entries(definition.live?.(context) ?? {})) config.on(prefix, apply);
  app.get('/health', (_req, res) => {
    const { status, body } = healthAnswer(health.current, settings.service.instanceId);
    res.status(status).json({ ...(body as object), config: config.origin });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  definition.routes(app, context);
  finishHttpApp(app, logger);

  health.start();
  clock.start();
  config.start();
  await consumer.start();
  const cleaner = new ProcessedEventsCleaner(db, logger, settings.kafka.dedupeRetentionHours);
  cleaner.start();
  const monitor = monitorConsumerGroup({
    kafka,
    groupId: settings.kafka.groupId,
    topics: definition.topics,
    registry: metrics.registry,
    logger,
  });
  // authenticate sends the 100 Continue once the token verified: a refused request never gets one.
  const server = await listen(app, settings.http.host, settings.http.port, { continueAfter: 'authentication' });
  const port = (server.address() as { port: number }).port;
  const url = `http://${settings.http.host}:${port}`;
  eureka = eurekaClientFor(settings, port, definition.version, logger);
  eureka?.start((await health.refresh()).status);
  logger.info({ url, topics: definition.topics, groupId: settings.kafka.groupId, kafkajsIdleTimerFix: idleTimerFix }, 'service started');

  return {
    ...common,
    url,
    consumer,
    health,
    config: config as unknown as LiveConfig<BaseServiceSettings>,
    async stop() {
      config.stop();
      // Out of Eureka first, then serve on until the gateway has read the registry again: a request it sends
      // meanwhile finds the instance still here, instead of a kept-alive connection being closed under it.
      await eureka?.stop();
      if (eureka) await new Promise((resolve) => setTimeout(resolve, settings.shutdown.drainMs));
      health.stop();
      clock.stop();
      // Requests in flight finish; idle keep-alive connections (the gateway's) would hold close() for 5 s.
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await closed;
      cleaner.stop();
      await monitor.stop();
      await consumer.stop();
      await db.destroy();
      logger.info('service stopped');
    },
  };
}

/** What `eurekaClientFor` needs of a process's settings (every service, the gateway, the config service). */
export interface RegistrationSettings {
  service: { name: string; instanceId: string };
  http: { host: string };
  eureka: z.infer<typeof eurekaSettings>;
}

/**
 * The Eureka client of a process listening on `port` (its endpoints for the stack on `managementPort`, the
 * same port unless it has one of its own), registered under its service name and instance id
 * with `instanceMetadata` and the settings' credentials; undefined when Eureka is switched off. Not
 * started: the caller starts it with the status it has. Registration runs in the background and retries;
 * an absent Eureka never holds up a start (missing credentials do: `eurekaCredentials` throws).
 */
export function eurekaClientFor(
  settings: RegistrationSettings,
  port: number,
  version: string,
  logger: Logger,
  managementPort = port,
): EurekaClient | undefined {
  if (settings.eureka.serviceUrl.length === 0) return undefined;
  return new EurekaClient(
    {
      app: settings.service.name,
      instanceId: settings.service.instanceId,
      host: settings.eureka.instanceHost ?? settings.http.host,
      port,
      metadata: instanceMetadata(version, port, managementPort),
    },
    {
      serviceUrls: settings.eureka.serviceUrl,
      credentials: eurekaCredentials(settings.eureka),
      logger,
      renewalIntervalSeconds: settings.eureka.renewalIntervalSeconds,
      leaseDurationSeconds: settings.eureka.leaseDurationSeconds,
    },
  );
}

/**
 * What every instance publishes in Eureka's metadata: its release, where its management endpoints are
 * (the HTTP port itself, or the gateway's management port) and where Prometheus finds its metrics there.
 */
export function instanceMetadata(version: string, port: number, managementPort = port): Record<string, string> {
  return { version, 'management.port': String(managementPort), 'prometheus.path': '/metrics', 'prometheus.scrape': 'true' };
}

/**
 * Listens on host:port with the hardened server every process here shares (`createHttpServer`: JSON
 * answers to parser errors, 10 s for the headers, security headers, 65 s keep-alive for the gateway's
 * reused connections). Resolves once listening; rejects when the port cannot be bound.
 */
export async function listen(app: RequestListener, host: string, port: number, options: HttpServerOptions = {}): Promise<Server> {
  const server = createHttpServer(app, options);
  server.listen(port, host);
  await once(server, 'listening');
  return server;
}

/**
 * Runs a service (or the gateway, or the config service) as a process: starts it, exits 1 if it cannot,
 * and stops it cleanly on SIGINT/SIGTERM.
 */
export async function runAsProcess(start: () => Promise<{ stop(): Promise<void>; logger?: Logger }>): Promise<void> {
  let service: { stop(): Promise<void>; logger?: Logger };
  try {
    service = await start();
  } catch (error) {
    console.error(error);
    process.exit(1);
  }
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    service.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        if (service.logger) service.logger.error({ err: error }, 'stop failed');
        else console.error('stop failed', error);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}
