import { createServer } from 'node:net';
import { eurekaApiFromEnv } from '@cdc-outbox-saga/local-stack';
import { eurekaUrls, fetchApplications, type DiscoveredInstance, type EurekaCredentials } from '@cdc-outbox-saga/platform';
import { settings as stack } from '@cdc-outbox-saga/local-stack';

const eurekaApi = eurekaApiFromEnv();
/** The stack's Eureka, as `npm test` publishes it. */
export const eureka = eurekaUrls(eurekaApi.url);
/** Its HTTP basic user: it answers 401 to anything else. */
export const eurekaCredentials: EurekaCredentials = { username: eurekaApi.username, password: eurekaApi.password };

export async function eurekaInstances(app: string): Promise<DiscoveredInstance[]> {
  return (await fetchApplications(eureka, 3000, eurekaCredentials)).get(app) ?? [];
}

interface GatewayHealth {
  instances: Record<string, number>;
  registryAgeMs: number | null;
}

/** The gateway's management server (detailed /health, /metrics); its public /health says UP or DOWN only. */
export const gatewayManagement = (process.env.GATEWAY_MANAGEMENT_URL ?? `http://${stack.host}:${stack.ports.gatewayManagement}`).replace(
  /\/$/,
  '',
);

async function gatewayHealth(): Promise<GatewayHealth> {
  const response = await fetch(`${gatewayManagement}/health`, { signal: AbortSignal.timeout(5000) });
  return (await response.json()) as GatewayHealth;
}

/** How many instances of each service the gateway would route to now (its management /health says). */
export async function gatewayInstances(): Promise<Record<string, number>> {
  return (await gatewayHealth()).instances;
}

/** How long ago the gateway last read Eureka successfully. */
export async function gatewayRegistryAgeMs(): Promise<number> {
  return (await gatewayHealth()).registryAgeMs ?? Infinity;
}

/**
 * Polls `read` every 200 ms until `done` holds for what it returns; fails after `timeoutMs` with the
 * last value. Returns the value `done` held for, for the test to assert on.
 */
export async function waitForValue<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const started = Date.now();
  for (;;) {
    let value: T | undefined;
    try {
      value = await read();
      if (done(value)) return value;
    } catch (error) {
      value = undefined;
      if (Date.now() - started > timeoutMs) throw error;
    }
    if (Date.now() - started > timeoutMs) throw new Error(`${what}: not within ${timeoutMs} ms (last: ${JSON.stringify(value)})`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** `waitForValue`, returning how long it took instead. */
export async function waitFor<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number): Promise<number> {
  const started = Date.now();
  await waitForValue(what, read, done, timeoutMs);
  return Date.now() - started;
}

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** How many requests an instance has served on `route` (from its own /metrics). */
export async function servedCount(instanceUrl: string, route: string): Promise<number> {
  const text = await (await fetch(`${instanceUrl}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('http_request_duration_seconds_count{') && line.includes(`route="${route}"`))
      total += Number(line.split(' ').at(-1));
  }
  return total;
}
