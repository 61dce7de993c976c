/**
 * @packageDocumentation
 * What every service of the saga shares: the error type, database access and migrations, Avro events
 * through the schema registry, the outbox writer and the idempotent consumer, bearer-token verification.
 */
export { AppError, describeError, isDuplicateKey, isRetriable } from './errors.js';
export { setLogLevel } from './logger.js';
export { createLogger, type Logger } from './logger.js';
export { createDatabase, type DatabaseSettings } from './data/database.js';
export { inOneTrip, type Statement } from './data/one-trip.js';
export { fixKafkajsIdleTimers } from './kafka/idle-timer-fix.js';
export { migrate, migrateAs, platformMigrations, timestamps, type Migration } from './data/migrations.js';
export { loadEventSchemas, topicFor, type EventSchema } from './avro/event-schemas.js';
export { EventCodec, createSchemaRegistry } from './avro/event-codec.js';
export { OutboxWriter, type OutboxEvent, type OutboxWriterOptions } from './outbox/outbox-writer.js';
export {
  IdempotentConsumer,
  type ConsumedEvent,
  type EventHandler,
  type EventOutcome,
  type IdempotentConsumerOptions,
} from './consumer/idempotent-consumer.js';
export { childTraceparent, isTraceparent } from './trace-context.js';
export { ProcessedEventsCleaner } from './consumer/processed-events-cleaner.js';
export {
  ConsumerMonitor,
  monitorConsumerGroup,
  partitionLag,
  type ConsumerMonitorOptions,
  type PartitionOffsets,
} from './consumer/lag-monitor.js';
export { readToEnds, waitingDeadLetters, type DeadLetterRecord, type PartitionEnds, type ReadRecord } from './consumer/dead-letters.js';
export { DeadLetterHeaders, headerText } from './consumer/headers.js';
export {
  checkJsonText,
  jsonTextProblems,
  textSchema,
  DUPLICATE_KEY,
  NOT_AN_INTEGER_LITERAL,
  UNSAFE_INTEGER,
  type InputProblem,
} from './http/input.js';
export {
  allowedMethods,
  createHttpApp,
  finishHttpApp,
  fromBodyParser,
  fromRequestError,
  methodNotAllowed,
  parseBody,
  parseId,
  idSchema,
  REQUEST_ID_HEADER,
  requestIdFrom,
  JSON_BODY_LIMIT,
} from './http/http-app.js';
export {
  DEFAULT_TIMEOUTS,
  SECURITY_HEADERS,
  clientErrorResponse,
  createHttpServer,
  edgeOf,
  hostHeaderCount,
  originForm,
  rawErrorResponse,
  sendContinue,
  type HttpServerOptions,
  type HttpServerTimeouts,
} from './http/http-server.js';
export { AUTH_REALM, authenticate, holdContinue, sendTokenRefusal, type AuthenticateOptions } from './auth/authenticate.js';
export {
  DEFAULT_CACHE_ENTRIES,
  DEFAULT_MAX_LIFETIME_SECONDS,
  TokenVerifier,
  readPublicKeyFile,
  tokenRefusal,
  verifierOptionsFrom,
  type AuthContext,
  type TokenRefusalCode,
  type TokenVerifierOptions,
} from './auth/token-verifier.js';
export { VerifiedTokens } from './auth/verified-tokens.js';
export {
  authSettings,
  baseServiceSettings,
  databaseLogin,
  secretFrom,
  clockSettings,
  configSettings,
  eurekaCredentials,
  eurekaSettings,
  loadServiceConfig,
  loadedConfig,
  logSettings,
  packageVersion,
  retrySettings,
  type AuthSettings,
  type BaseServiceSettings,
  type ConfigOrigin,
} from './runtime/service-config.js';
export { LiveConfig, watchConfig, type LiveConfigOptions } from './config/live-config.js';
export {
  configServiceTarget,
  environmentAnswer,
  fetchEnvironment,
  settingsLayer,
  type ConfigServiceTarget,
  type EnvironmentAnswer,
} from './config/config-client.js';
export { flatten, keySegments, mergeSources, unflatten, type FlatSource, type Scalar } from './config/properties.js';
export {
  EurekaClient,
  basicAuthorization,
  eurekaUrls,
  fetchApplications,
  type DiscoveredInstance,
  type EurekaClientOptions,
  type EurekaCredentials,
  type InstanceRegistration,
  type InstanceStatus,
} from './discovery/eureka-client.js';
export {
  HealthMonitor,
  consumerCheck,
  type ConsumerCheckOptions,
  databaseCheck,
  overall,
  type CheckResult,
  type HealthCheck,
  type HealthReport,
  type HealthStatus,
} from './runtime/health.js';
export { ServiceMetrics } from './runtime/metrics.js';
export {
  CLOCK_SKEW_METRIC,
  ClockGuard,
  classifySkew,
  describeSkew,
  estimateSkew,
  readDatabaseClock,
  type ClockEstimate,
  type ClockGuardOptions,
  type ClockSample,
  type ClockState,
  type ClockThresholds,
} from './runtime/clock-guard.js';
export {
  startService,
  runAsProcess,
  healthAnswer,
  eurekaClientFor,
  instanceMetadata,
  listen,
  type RegistrationSettings,
  type RunningService,
  type ServiceContext,
  type ServiceDefinition,
} from './runtime/service.js';
export { packagePath, platformConfigDir } from './runtime/service-config.js';
export * from './saga-events.js';
