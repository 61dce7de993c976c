/** What tests and tools import from the native stack: endpoints, connector status, component restarts, dev tokens. */
export { accountPassword, accountPasswordFile, connectWorkers, kafkaNodes, settings, stackEnvironment, versions } from './settings.js';
export type { ConnectWorker, DatabaseAccount, KafkaNode, ServiceDatabase } from './settings.js';
export {
  connectApiFromEnv,
  connectAuthorization,
  connectFetch,
  connectorFiles,
  connectorStatus,
  registerConnectors,
  stackConnectApi,
} from './connectors.js';
export type { ConnectApi, ConnectorStatus } from './connectors.js';
export { restart, serviceInstanceNames, serviceInstanceUrls, startComponents, startExtraInstance, stopComponents } from './stack.js';
export { killHeldDown, logFile, recordedNames, recordedPid } from './processes.js';
export { connectorKey, readRestarts } from './restarts.js';
export type { RestartRecord } from './restarts.js';
export { rootSql } from './components/mariadb.js';
export { databaseEnvironment } from './components/services.js';
export { eurekaApiFromEnv } from './components/eureka.js';
export type { EurekaApi } from './components/eureka.js';
export { monitoringDir, prometheusUrl, promtoolBinary } from './components/prometheus.js';
export { SCOPE_TOKEN, TOKEN_AUDIENCE, TOKEN_ISSUER, ensureSigningKey, mintToken } from './dev-token.js';
export type { MintOptions, SigningKey } from './dev-token.js';
