import { z } from 'zod';
import { keySegments, mergeSources, unflatten, type FlatSource, type Scalar } from './properties.js';

/** Spring Cloud Config Server's environment answer (`GET /{application}/{profile}[/{label}]`). */
export const environmentAnswer = z.object({
  name: z.string(),
  profiles: z.array(z.string()),
  label: z.string().nullable(),
  version: z.string().nullable(),
  state: z.string().nullable().optional(),
  propertySources: z.array(z.object({ name: z.string(), source: z.record(z.string(), z.unknown()) })),
});
export type EnvironmentAnswer = z.infer<typeof environmentAnswer>;

/** Where a service asks for its settings: set by environment variables, since node-config is not read yet. */
export interface ConfigServiceTarget {
  /** Base URL of the config service; empty when switched off (`CONFIG_SERVER_URL=`). */
  url: string;
  application: string;
  profiles: string[];
  /** A branch, tag or commit; the server's default branch when absent. */
  label?: string;
}

/**
 * The config service a process reads: `CONFIG_SERVER_URL` (default http://127.0.0.1:8888, empty for none),
 * profiles from `CONFIG_PROFILE` (comma-separated), else `NODE_ENV`, else `default` as in Spring, and
 * `CONFIG_LABEL`.
 */
export function configServiceTarget(application: string, env: NodeJS.ProcessEnv = process.env): ConfigServiceTarget {
  const profiles = (env.CONFIG_PROFILE || env.NODE_ENV || 'default')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  return {
    url: (env.CONFIG_SERVER_URL ?? 'http://127.0.0.1:8888').replace(/\/+$/, ''),
    application,
    profiles,
    label: env.CONFIG_LABEL || undefined,
  };
}

/** Asks the config service for an application's settings; throws with the reason when it cannot answer. */
export async function fetchEnvironment(target: ConfigServiceTarget, timeoutMs = 3000): Promise<EnvironmentAnswer> {
  const path = [target.application, target.profiles.join(','), ...(target.label ? [target.label.replaceAll('/', '(_)')] : [])]
    .map(encodeURIComponent)
    .join('/');
  const response = await fetch(`${target.url}/${path}`, {
    headers: { accept: 'application/json' },
    signal: AbortSignal.timeout(timeoutMs),
  });
  if (!response.ok) throw new Error(`GET ${target.url}/${path} answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
  return environmentAnswer.parse(await response.json());
}

/** The answer as one nested object, more specific sources over less specific ones: a node-config layer. */
export function settingsLayer(answer: EnvironmentAnswer): Record<string, unknown> {
  const sources = answer.propertySources.map(
    ({ source }): FlatSource =>
      new Map(
        Object.entries(source)
          // node-config merges this layer into objects: a key reaching Object's prototype must not get there.
          .filter(([key]) => !keySegments(key).some((part) => part === '__proto__' || part === 'constructor' || part === 'prototype'))
          .map(([key, value]) => [key, value as Scalar]),
      ),
  );
  return unflatten(mergeSources(sources));
}
