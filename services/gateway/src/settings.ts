import { configSettings, eurekaSettings, loadServiceConfig, logSettings, packagePath } from '@cdc-outbox-saga/platform';
import { z } from 'zod';
import { authSettings } from './auth.js';
import { rateLimitSettings } from './rate-limit.js';

const targetList = z
  .union([z.string(), z.array(z.string())])
  .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((t) => t.trim()).filter(Boolean))
  .pipe(z.array(z.url()));

const port = z.coerce.number().int().min(0).max(65535);

export const gatewaySettings = z.object({
  service: z.object({ name: z.string(), instanceId: z.string() }),
  http: z.object({
    host: z.string(),
    port,
    /** Bodies are read whole before proxying (so a refused connection can be retried); larger ones get 413. */
    maxBodyBytes: z.coerce.number().int().positive(),
  }),
  /**
   * Where the detailed health (instances, registry age, config commit) and /metrics are served: not on the
   * public port. 127.0.0.1 unless the operator opens it (compose: inside its network only).
   */
  management: z.object({ host: z.string(), port }),
  upstream: z.object({
    /** How long a new connection to an instance may take; past it the request goes to the next one. */
    connectTimeoutMs: z.coerce.number().int().positive(),
    /** How long an instance may take to answer once it has the request (covers `Prefer: wait`). */
    timeoutMs: z.coerce.number().int().positive(),
    /** Off only to measure what keep-alive saves (npm run bench), or behind something that cannot keep connections. */
    keepAlive: z.union([z.boolean(), z.enum(['true', 'false']).transform((v) => v === 'true')]).default(true),
  }),
  outlier: z.object({
    consecutiveFailures: z.coerce.number().int().positive(),
    ejectionMs: z.coerce.number().int().min(0),
  }),
  eureka: eurekaSettings.extend({
    /** How often the gateway reads Eureka's registry into its routing table. */
    registryRefreshMs: z.coerce.number().int().min(100),
  }),
  auth: authSettings,
  /** A token bucket per token subject (per client address for requests without a token). */
  rateLimit: rateLimitSettings,
  log: logSettings,
  config: configSettings,
  routes: z
    .array(
      z.object({
        prefix: z.string().startsWith('/'),
        /** The Eureka application name of the instances behind this route. */
        service: z.string(),
        rewrite: z.string(),
        /** Fixed instances instead of discovery (a gateway run without Eureka). */
        targets: targetList.optional(),
      }),
    )
    .min(1),
});
export type GatewaySettings = z.infer<typeof gatewaySettings>;

/** The gateway's settings: its config/ files, the config service's gateway.yml, the environment. */
export function loadSettings(): Promise<GatewaySettings> {
  return loadServiceConfig(packagePath(import.meta.url, 'config'), gatewaySettings);
}
