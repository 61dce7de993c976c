import { Agent } from 'node:http';
import { ServiceMetrics, LiveConfig, createLogger, setLogLevel, eurekaClientFor, listen, packageVersion } from '@cdc-outbox-saga/platform';
import { Gauge } from 'prom-client';
import { gatewayApp } from './app.js';
import { EurekaDiscovery } from './discovery.js';
import { startManagement } from './management.js';
import { routeProxy } from './proxy.js';
import { rateLimit } from './rate-limit.js';
import { gatewaySettings, type GatewaySettings } from './settings.js';

export { gatewaySettings, loadSettings, type GatewaySettings } from './settings.js';

export interface RunningGateway {
  url: string;
  /** The management server: detailed `/health` and `/metrics`. */
  managementUrl: string;
  stop(): Promise<void>;
}

/**
 * The gateway: `/api/<resource>` goes to the resource's service with the `/api` prefix taken off,
 * round robin over the service's UP instances as Eureka lists them, over keep-alive connections. An
 * instance that refuses connections or keeps failing is ejected for a while. It adds `X-Request-Id` and
 * `traceparent` when the client sent none, and answers JSON 503 (no instance reachable), 502 (the
 * instance failed mid-request) or 504 (no answer in time). A request that never reached an instance
 * (refused, or no connection in time) goes to the next one; one that did is never sent twice. Bodies are
 * read whole but not parsed: each service validates its own. Its details and metrics are served on a
 * management port of their own (`management.host`, `management.port`), not on the public one.
 */
export async function start(settings: GatewaySettings): Promise<RunningGateway> {
  // A copy: live settings from the config service change it in place, and the caller's object stays as given.
  settings = structuredClone(settings);
  setLogLevel(settings.log.level);
  const logger = createLogger('gateway', settings.log.level).child({ instance: settings.service.instanceId });
  const metrics = new ServiceMetrics('gateway', settings.service.instanceId);
  const discovery = new EurekaDiscovery(settings.eureka, logger);
  // Keep-alive to the instances: a TCP handshake per request costs more than the request itself.
  // No cap on connections per instance: a request queued for a socket would have its (already read) body
  // stream ended by http-proxy before the body could be written. The timeout bounds idle kept-alive
  // connections, and makes Node honour the instance's Keep-Alive hint (close a second before it does).
  const agent = new Agent({ keepAlive: settings.upstream.keepAlive, timeout: 60_000, scheduling: 'lifo' });
  const limiter = rateLimit(settings.rateLimit);
  const routes = settings.routes.map((route) => routeProxy(route, { settings, agent, discovery, logger }));

  /** Per service, how many instances a request could go to now. */
  const routable = () =>
    Object.fromEntries(
      routes.map(({ route, balancer }) => {
        const listed = route.targets ?? discovery.upInstances(route.service);
        return [route.service, listed.filter((target) => !balancer.isEjected(target)).length];
      }),
    );
  new Gauge({
    name: 'gateway_upstream_instances',
    help: 'Instances the gateway can route to now, by service (UP in Eureka and not ejected)',
    labelNames: ['service'],
    registers: [metrics.registry],
    collect() {
      for (const [service, count] of Object.entries(routable())) this.set({ service }, count);
    },
  });
  // DOWN only while it has never read Eureka's registry (when any route needs it): it knows no instance at
  // all then. With the registry read, a service without instances gets its 503 per request.
  const needsDiscovery = settings.routes.some((route) => !route.targets);
  const isUp = () => !needsDiscovery || Number.isFinite(discovery.ageMs);

  const app = gatewayApp({ settings, logger, metrics, limiter, routes, isUp });

  // Live settings: a new commit of the config service changes these without a restart. The timeouts are
  // read per request from `settings.upstream`, the response timeout also from each route's proxy options.
  const config = new LiveConfig(gatewaySettings, settings, { logger, intervalMs: settings.config.refreshMs })
    .on('rateLimit', (s) => limiter.setLimits(s.rateLimit.capacity, s.rateLimit.refillPerSecond))
    .on('upstream.connectTimeoutMs', (s) => {
      settings.upstream.connectTimeoutMs = s.upstream.connectTimeoutMs;
    })
    .on('upstream.timeoutMs', (s) => {
      settings.upstream.timeoutMs = s.upstream.timeoutMs;
      for (const { options } of routes) options.proxyTimeout = s.upstream.timeoutMs;
    })
    .start();

  if (needsDiscovery) await discovery.start();
  const management = await startManagement(settings.management.host, settings.management.port, {
    metrics,
    logger,
    isUp,
    details: () => {
      const registryAgeMs = Number.isFinite(discovery.ageMs) ? discovery.ageMs : null;
      return { instance: settings.service.instanceId, instances: routable(), registryAgeMs, config: config.origin };
    },
  });
  // The 100 Continue waits until the token and the rate limit have passed (see gatewayApp).
  const server = await listen(app, settings.http.host, settings.http.port, { continueAfter: 'app' });
  const port = (server.address() as { port: number }).port;
  const url = `http://${settings.http.host}:${port}`;
  // Prometheus finds /metrics through Eureka's `management.port`: the management server's, not this one.
  const managementPort = (management.server.address() as { port: number }).port;
  const eureka = eurekaClientFor(settings, port, packageVersion(import.meta.url), logger, managementPort);
  eureka?.start('UP');
  logger.info(
    {
      url,
      management: management.url,
      routes: settings.routes.map((r) => `${r.prefix} -> ${r.targets?.join(' | ') ?? `${r.service} (Eureka)`}`),
    },
    'gateway started',
  );
  return {
    url,
    managementUrl: management.url,
    async stop() {
      config.stop();
      await eureka?.stop();
      discovery.stop();
      // Requests in flight finish; idle keep-alive connections would hold close() for their timeout.
      const closed = Promise.all(
        [server, management.server].map((s) => {
          const done = new Promise<void>((resolve) => s.close(() => resolve()));
          s.closeIdleConnections();
          return done;
        }),
      );
      await closed;
      agent.destroy();
      limiter.close();
    },
  };
}
