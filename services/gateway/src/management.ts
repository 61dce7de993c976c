import type { Server } from 'node:http';
import { createHttpApp, finishHttpApp, listen, type Logger, type ServiceMetrics } from '@cdc-outbox-saga/platform';

/** What the management port needs from the running gateway. */
export interface ManagementParts {
  metrics: ServiceMetrics;
  logger: Logger;
  /** Whether the gateway can serve (as its public /health says). */
  isUp: () => boolean;
  /** The details: instance, instances per service, registry age, config commit. */
  details: () => Record<string, unknown>;
}

export interface RunningManagement {
  url: string;
  server: Server;
}

/**
 * The gateway's management server, for the stack and not for the public: `GET /health` with the details
 * (200 UP / 503 DOWN) and `GET /metrics` for Prometheus. It listens on its own address (127.0.0.1 unless
 * configured otherwise), so what it tells about the deployment never reaches the public port.
 */
export async function startManagement(host: string, port: number, parts: ManagementParts): Promise<RunningManagement> {
  const app = createHttpApp();
  app.get('/health', (_req, res) => {
    const up = parts.isUp();
    res.status(up ? 200 : 503).json({ status: up ? 'UP' : 'DOWN', ...parts.details() });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(parts.metrics.registry.contentType).send(await parts.metrics.registry.metrics());
  });
  finishHttpApp(app, parts.logger);
  const server = await listen(app, host, port);
  return { url: `http://${host}:${(server.address() as { port: number }).port}`, server };
}
