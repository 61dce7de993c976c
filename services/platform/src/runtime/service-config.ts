import { readFileSync } from 'node:fs';
import { delimiter } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { eurekaUrls } from '../discovery/eureka-client.js';
import { AppError } from '../errors.js';

/**
 * A path inside the package of the calling module, which runs from `<package>/dist/src/…`: call it with
 * `import.meta.url` from a file directly in `src/` (`packagePath(import.meta.url, 'schemas')`).
 */
export function packagePath(moduleUrl: string, path: string): string {
  return fileURLToPath(new URL(`../../${path}`, moduleUrl));
}

/** Defaults and environment-variable names shared by every service (services/platform/config). */
export const platformConfigDir = fileURLToPath(new URL('../../../config', import.meta.url));

/**
 * Where Eureka is and how this instance keeps its lease. An empty `serviceUrl` turns registration off
 * (a service started alone, without the stack).
 */
export const eurekaSettings = z.object({
  serviceUrl: z.string().transform((v, ctx) => {
    const urls = eurekaUrls(v);
    for (const url of urls) {
      if (!z.url().safeParse(url).success) ctx.addIssue({ code: 'custom', message: `"${url}" is not a URL` });
    }
    return urls;
  }),
  renewalIntervalSeconds: z.coerce.number().int().min(1),
  leaseDurationSeconds: z.coerce.number().int().min(1),
  /**
   * The host others reach this instance at, when it is not the one it listens on (a container listening
   * on 0.0.0.0 is reached by its service name). Defaults to `http.host`.
   */
  instanceHost: z.string().min(1).optional(),
});

/** A package's version from its package.json (call with `import.meta.url` from a file in `src/`). */
export function packageVersion(moduleUrl: string): string {
  return (JSON.parse(readFileSync(packagePath(moduleUrl, 'package.json'), 'utf8')) as { version: string }).version;
}

/** Settings every service has; a service extends this schema with its own keys. */
export const baseServiceSettings = z.object({
  service: z.object({ name: z.string().min(1), instanceId: z.string().min(1) }),
  http: z.object({ host: z.string().min(1), port: z.coerce.number().int().min(0).max(65535) }),
  db: z.object({
    host: z.string().min(1),
    port: z.coerce.number().int().positive(),
    user: z.string().min(1),
    password: z.string(),
    database: z.string().min(1),
    poolMax: z.coerce.number().int().positive(),
  }),
  kafka: z.object({
    brokers: z.union([z.string(), z.array(z.string())]).transform((v) =>
      (Array.isArray(v) ? v : v.split(',')).map((b) => b.trim()).filter(Boolean),
    ),
    groupId: z.string().min(1),
    partitionsConsumedConcurrently: z.coerce.number().int().positive(),
    /**
     * How long an event id is remembered for deduplication. It must outlive the topics' retention
     * (168 h), or a redelivered event older than the record would be applied again.
     */
    dedupeRetentionHours: z.coerce.number().int().min(169, 'must exceed the topics\' 168 h retention'),
  }),
  registry: z.object({ url: z.url() }),
  outbox: z.object({ deleteAfterInsert: z.coerce.boolean() }),
  eureka: eurekaSettings,
  health: z.object({
    /** How often the instance checks its database and consumer (and tells Eureka of a change). */
    intervalMs: z.coerce.number().int().min(100),
  }),
});

export type BaseServiceSettings = z.infer<typeof baseServiceSettings>;

/**
 * Reads a service's node-config files (the platform's `config/` then the service's: `default.json`,
 * `<NODE_ENV>.json`, `custom-environment-variables.json`) once, at start, and validates them: a missing or
 * malformed key fails the start with every problem named.
 */
export async function loadServiceConfig<T extends z.ZodType>(configDir: string, schema: T): Promise<z.infer<T>> {
  // The platform's defaults first, the service's own files over them. node-config reads
  // NODE_CONFIG_DIR when it is first imported, so set it before importing.
  process.env.NODE_CONFIG_DIR ??= [platformConfigDir, configDir].join(delimiter);
  process.env.SUPPRESS_NO_CONFIG_WARNING = 'y';
  const { default: config } = await import('config');
  const raw = config.util.toObject() as unknown;
  const result = schema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new AppError('INVALID_CONFIG', `configuration in ${configDir} is invalid: ${problems}`);
  }
  return result.data;
}
