import { readFileSync } from 'node:fs';
import { delimiter } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import {
  configServiceTarget,
  fetchEnvironment,
  settingsLayer,
  type ConfigServiceTarget,
  type EnvironmentAnswer,
} from '../config/config-client.js';
import { AppError } from '../errors.js';
import { createLogger } from '../logger.js';

/**
 * A path inside the package of the calling module, which runs from `<package>/dist/src/…`: call it with
 * `import.meta.url` from a file directly in `src/` (`packagePath(import.meta.url, 'schemas')`).
 */
export function packagePath(moduleUrl: string, path: string): string {
  return fileURLToPath(new URL(`../../${path}`, moduleUrl));
}

/** Defaults and environment-variable names shared by every service (services/platform/config). */
export const platformConfigDir = fileURLToPath(new URL('../../../config', import.meta.url));

/** A package's version from its package.json (call with `import.meta.url` from a file in `src/`). */
export function packageVersion(moduleUrl: string): string {
  return (JSON.parse(readFileSync(packagePath(moduleUrl, 'package.json'), 'utf8')) as { version: string }).version;
}

// The settings' schemas live in service-settings.ts; they are re-exported here, where they always were.
export * from './service-settings.js';

/** Where a process's settings came from at start, shown in `/health`. */
export interface ConfigOrigin {
  /** `config-service` when its answer is a layer of the settings, `local` when only the files are. */
  source: 'config-service' | 'local';
  application: string;
  profiles: string[];
  url?: string;
  label?: string | null;
  /** The commit the config service's answer came from. */
  version?: string | null;
  propertySources?: string[];
  /** Why the config service's answer is not in use. */
  reason?: string;
}

/** What `loadServiceConfig` found, kept for `watchConfig` (one service per process). */
export interface LoadedConfig {
  origin: ConfigOrigin;
  target: ConfigServiceTarget;
  /** `$NODE_CONFIG` as the process was given it: it stays above the config service's layer. */
  givenNodeConfig: Record<string, unknown>;
  /** The merged raw settings now in force, before validation. */
  raw: Record<string, unknown>;
}

let loaded: LoadedConfig | undefined;

/** What the last `loadServiceConfig` of this process found (undefined before it ran). */
export function loadedConfig(): LoadedConfig | undefined {
  return loaded;
}

/** Problems of a failed validation, one line. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
}

function serviceName(configDir: string): string {
  try {
    const name = (JSON.parse(readFileSync(`${configDir}/default.json`, 'utf8')) as { service?: { name?: unknown } }).service?.name;
    if (typeof name === 'string' && name) return name;
  } catch {
    // no default.json: the directory name will do
  }
  return configDir.split(/[\\/]/).filter(Boolean).at(-2) ?? 'application';
}

/**
 * Reads a service's settings once, at start, in layers from lowest to highest: the platform's `config/`
 * files, the service's own (`default.json`, `<NODE_ENV>.json`), **the config service's answer** for the
 * service (its `name` in `default.json`), `$NODE_CONFIG`, and environment variables
 * (`custom-environment-variables.json`). Then validates them: a missing or malformed key fails the start
 * with every problem named. When the config service cannot answer, the service starts on its local
 * settings and says so in one log line; `watchConfig` keeps asking.
 */
export async function loadServiceConfig<T extends z.ZodType>(configDir: string, schema: T): Promise<z.infer<T>> {
  // The platform's defaults first, the service's own files over them. node-config reads
  // NODE_CONFIG_DIR and NODE_CONFIG when it is first imported, so set them before importing.
  process.env.NODE_CONFIG_DIR ??= [platformConfigDir, configDir].join(delimiter);
  process.env.SUPPRESS_NO_CONFIG_WARNING = 'y';
  const application = serviceName(configDir);
  const target = configServiceTarget(application);
  const givenNodeConfig = process.env.NODE_CONFIG ? (JSON.parse(process.env.NODE_CONFIG) as Record<string, unknown>) : {};
  const origin: ConfigOrigin = { source: 'local', application, profiles: target.profiles, url: target.url || undefined };
  const logger = createLogger(`${application}-config`);
  if (!target.url) {
    origin.reason = 'no config service (CONFIG_SERVER_URL is empty)';
  } else {
    try {
      const answer = await fetchEnvironment(target);
      process.env.NODE_CONFIG = JSON.stringify(nodeConfigLayer(answer, givenNodeConfig));
      Object.assign(origin, answerOrigin(answer));
      logger.info(
        { url: target.url, label: answer.label, version: answer.version, propertySources: origin.propertySources },
        'settings from the config service',
      );
    } catch (error) {
      origin.reason = (error as Error).message;
      logger.warn(
        { url: target.url, reason: origin.reason },
        'config service unavailable: starting on the local settings (config/ files and environment) and asking it again in the background',
      );
    }
  }
  const { default: config } = await import('config');
  const raw = JSON.parse(JSON.stringify(config.util.toObject())) as Record<string, unknown>;
  const result = schema.safeParse(raw);
  if (!result.success) {
    const from = origin.source === 'config-service' ? ` and the config service (${application}, commit ${origin.version})` : '';
    throw new AppError('INVALID_CONFIG', `configuration in ${configDir}${from} is invalid: ${describeIssues(result.error)}`);
  }
  loaded = { origin, target, givenNodeConfig, raw };
  return result.data;
}

/** What `$NODE_CONFIG` holds for a config service answer: the answer, with the process's own `$NODE_CONFIG` over it. */
export function nodeConfigLayer(answer: EnvironmentAnswer, givenNodeConfig: Record<string, unknown>): Record<string, unknown> {
  return deepMerge(settingsLayer(answer), givenNodeConfig);
}

/** The origin fields an answer in force sets: its commit, label and property sources. */
export function answerOrigin(answer: EnvironmentAnswer): Pick<ConfigOrigin, 'source' | 'label' | 'version' | 'propertySources'> {
  return {
    source: 'config-service',
    label: answer.label,
    version: answer.version,
    propertySources: answer.propertySources.map((p) => p.name),
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** `over` on top of `under`, objects merged key by key, anything else replaced. */
export function deepMerge(under: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...under };
  for (const [key, value] of Object.entries(over)) {
    merged[key] = isPlainObject(value) && isPlainObject(merged[key]) ? deepMerge(merged[key] as Record<string, unknown>, value) : value;
  }
  return merged;
}
