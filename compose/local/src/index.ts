/** What tests and tools import from the native stack: endpoints, connector status, component restarts. */
export { settings, stackEnvironment, versions } from './settings.js';
export { connectorFiles, connectorStatus, registerConnectors } from './connectors.js';
export type { ConnectorStatus } from './connectors.js';
export { restart, serviceInstanceNames, startComponents, stopComponents } from './stack.js';
