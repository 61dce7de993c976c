/** What tests and tools import from the native stack: endpoints, connector status, component restarts, dev tokens. */
export { settings, stackEnvironment, versions } from './settings.js';
export { connectorFiles, connectorStatus, registerConnectors } from './connectors.js';
export type { ConnectorStatus } from './connectors.js';
export { restart, serviceInstanceNames, serviceInstanceUrls, startComponents, startExtraInstance, stopComponents } from './stack.js';
export { logFile, recordedNames, recordedPid } from './processes.js';
export { connectorKey, readRestarts } from './restarts.js';
export type { RestartRecord } from './restarts.js';
export { rootSql } from './components/mariadb.js';
export { monitoringDir, prometheusUrl, promtoolBinary } from './components/prometheus.js';
export { TOKEN_AUDIENCE, TOKEN_ISSUER, ensureSigningKey, mintToken } from './dev-token.js';
export type { MintOptions, SigningKey } from './dev-token.js';
