import type { z } from 'zod';
import { setLogLevel, type Logger } from '../logger.js';
import {
  answerOrigin,
  describeIssues,
  loadedConfig,
  nodeConfigLayer,
  type ConfigOrigin,
  type LoadedConfig,
} from '../runtime/service-config.js';
import { fetchEnvironment } from './config-client.js';
import { flatten } from './properties.js';

export interface LiveConfigOptions {
  logger: Logger;
  /** How often to ask the config service for the commit it serves. */
  intervalMs: number;
}

/**
 * Keeps a running service's settings in step with the config service. Every `intervalMs` it asks for the
 * service's environment; when the commit differs from the one in force it rebuilds the settings with the
 * same layers as at start (files, the new answer, `$NODE_CONFIG`, environment variables, so a key an
 * environment variable sets never changes) and validates them with the service's schema. An invalid
 * commit is refused with the problems logged and the last good settings stay. A valid one is applied key
 * by key: a key under a prefix registered with `on` is applied at once; any other changed key is logged
 * as taking effect at the next restart.
 *
 * Polling the commit id rather than a refresh event on Kafka (Spring Cloud Bus): one small GET per
 * instance every few seconds costs nothing here, needs no webhook from the Git host and no extra topic,
 * and an instance that was down or partitioned catches up by itself on its next poll.
 */
export class LiveConfig<S> {
  private readonly handlers: Array<{ prefix: string; apply: (settings: S) => void }> = [];
  private timer: NodeJS.Timeout | undefined;
  private refused: string | null | undefined;
  private settings: S;
  private readonly state: LoadedConfig;

  constructor(
    private readonly schema: z.ZodType<S>,
    initial: S,
    private readonly options: LiveConfigOptions,
  ) {
    // Settings handed over directly (a test, an embedded use) have no config service to follow.
    this.state = loadedConfig() ?? {
      origin: { source: 'local', application: '', profiles: [], reason: 'settings given directly, not loaded' },
      target: { url: '', application: '', profiles: [] },
      givenNodeConfig: {},
      raw: {},
    };
    this.settings = initial;
    // Every process has a log level, and it is always live.
    this.on('log.level', (settings) => {
      const level = (settings as { log?: { level?: string } }).log?.level;
      if (level) setLogLevel(level);
    });
  }

  /** The settings in force. */
  get current(): S {
    return this.settings;
  }

  /** Where the settings in force came from (commit, property sources), for `/health`. */
  get origin(): ConfigOrigin {
    return this.state.origin;
  }

  /** Applies changes of every key under `prefix` (`rateLimit`, `log.level`) without a restart. */
  on(prefix: string, apply: (settings: S) => void): this {
    this.handlers.push({ prefix, apply });
    return this;
  }

  start(): this {
    if (!this.state.target.url) return this;
    const loop = () => {
      this.timer = setTimeout(
        () =>
          void this.poll()
            .catch((error: unknown) => this.options.logger.error({ err: error }, 'config refresh failed; keeping the settings in force'))
            .finally(() => this.timer && loop()),
        this.options.intervalMs,
      );
      this.timer.unref();
    };
    loop();
    return this;
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One round: ask, and apply a new commit. Exposed for tests; the timer calls it. */
  async poll(): Promise<void> {
    const { logger } = this.options;
    let answer;
    try {
      answer = await fetchEnvironment(this.state.target);
    } catch (error) {
      // Said once when it goes away (the start-up line said it if it was never there).
      if (this.state.origin.source === 'config-service' && !this.state.origin.reason) {
        logger.warn(
          { url: this.state.target.url, reason: (error as Error).message },
          'config service unavailable: keeping the settings in force',
        );
      }
      this.state.origin.reason = (error as Error).message;
      return;
    }
    if (this.state.origin.reason && this.state.origin.source === 'config-service') {
      logger.info({ url: this.state.target.url }, 'config service available again');
    }
    const sameCommit = this.state.origin.source === 'config-service' && answer.version === this.state.origin.version;
    this.state.origin.reason = undefined;
    if (sameCommit || answer.version === this.refused) return;

    const raw = await rebuild(nodeConfigLayer(answer, this.state.givenNodeConfig));
    const parsed = this.schema.safeParse(raw);
    if (!parsed.success) {
      this.refused = answer.version;
      logger.error(
        { version: answer.version, label: answer.label, problems: describeIssues(parsed.error) },
        'config service commit refused: invalid settings; keeping the last good ones',
      );
      return;
    }
    const before = flatten(this.state.raw);
    const after = flatten(raw);
    const changed = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter(
      (key) => JSON.stringify(before[key]) !== JSON.stringify(after[key]),
    );
    this.settings = parsed.data;
    this.state.raw = raw;
    Object.assign(this.state.origin, answerOrigin(answer));
    this.refused = undefined;

    const live = changed.filter((key) => this.handlers.some((h) => covers(h.prefix, key)));
    const restart = changed.filter((key) => !live.includes(key));
    for (const handler of this.handlers) {
      if (!live.some((key) => covers(handler.prefix, key))) continue;
      try {
        handler.apply(this.settings);
      } catch (error) {
        logger.error({ err: error, prefix: handler.prefix, version: answer.version }, 'a live setting could not be applied');
      }
    }
    if (changed.length === 0)
      logger.info({ version: answer.version }, 'new commit from the config service: no setting of this service changed');
    else if (live.length > 0)
      logger.info(
        { version: answer.version, applied: Object.fromEntries(live.map((k) => [k, after[k]])) },
        'settings from the config service applied',
      );
    if (restart.length > 0) {
      logger.warn(
        { version: answer.version, keys: restart },
        'settings changed in the config repository that take effect only after a restart',
      );
    }
  }
}

function covers(prefix: string, key: string): boolean {
  return key === prefix || key.startsWith(`${prefix}.`) || key.startsWith(`${prefix}[`);
}

/**
 * The settings node-config would build now with `layer` as `$NODE_CONFIG`: the same files and environment
 * variables as at start (node-config's own loader, so the layering cannot drift from the start-up one).
 */
async function rebuild(layer: Record<string, unknown>): Promise<Record<string, unknown>> {
  const { default: config } = await import('config');
  const previous = process.env.NODE_CONFIG;
  process.env.NODE_CONFIG = JSON.stringify(layer);
  try {
    return JSON.parse(JSON.stringify(config.util.loadFileConfigs())) as Record<string, unknown>;
  } finally {
    if (previous === undefined) delete process.env.NODE_CONFIG;
    else process.env.NODE_CONFIG = previous;
  }
}

/** A watcher of the settings `loadServiceConfig` loaded; register live keys with `on`, then `start()`. */
export function watchConfig<S>(schema: z.ZodType<S>, initial: S, options: LiveConfigOptions): LiveConfig<S> {
  return new LiveConfig(schema, initial, options);
}
