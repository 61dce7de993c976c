import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { eurekaUrls, type EurekaCredentials } from '../discovery/eureka-client.js';
import { AppError } from '../errors.js';

// The shape of every process's settings, validated once at start (loadServiceConfig) and again for each
// commit of the config service: what each key may hold, and how a password named by a file is read.

/**
 * Where Eureka is, who this process is to it, and how this instance keeps its lease. `serviceUrl` is a
 * comma-separated list; empty in a file, or `off` (EUREKA_URL=off), turns registration off (a service
 * started alone, without the stack). The registry wants HTTP basic: `username` (EUREKA_USERNAME) and
 * `password` (EUREKA_PASSWORD) or `passwordFile` (EUREKA_PASSWORD_FILE), read by `eurekaCredentials`.
 */
export const eurekaSettings = z.object({
  serviceUrl: z.string().transform((v, ctx) => {
    const urls = eurekaUrls(v);
    for (const url of urls) {
      if (!z.url().safeParse(url).success) {
        ctx.addIssue({ code: 'custom', message: `"${url}" is not a URL` });
      } else if (new URL(url).username || new URL(url).password) {
        // Not echoed: it holds a password.
        ctx.addIssue({
          code: 'custom',
          message: 'a Eureka URL holds credentials; give them as EUREKA_USERNAME and EUREKA_PASSWORD(_FILE) instead',
        });
      }
    }
    return urls;
  }),
  username: z.string().min(1).optional(),
  password: z.string().optional(),
  passwordFile: z.string().optional(),
  renewalIntervalSeconds: z.coerce.number().int().min(1),
  leaseDurationSeconds: z.coerce.number().int().min(1),
  /**
   * The host others reach this instance at, when it is not the one it listens on (a container listening
   * on 0.0.0.0 is reached by its service name). Defaults to `http.host`.
   */
  instanceHost: z.string().min(1).optional(),
});

/**
 * The credentials `eureka` settings give for the registry, the password read from `passwordFile` when
 * that is how it is given; undefined when registration is off (no URL). With a URL both are required:
 * the registry refuses every request without them, so a process without them fails at start, saying so.
 */
export function eurekaCredentials(eureka: {
  serviceUrl: string[];
  username?: string | undefined;
  password?: string | undefined;
  passwordFile?: string | undefined;
}): EurekaCredentials | undefined {
  if (eureka.serviceUrl.length === 0) return undefined;
  try {
    if (!eureka.username) throw new Error('eureka.username: missing (EUREKA_USERNAME)');
    const password = secretFrom(eureka.password, eureka.passwordFile, 'eureka.password (EUREKA_PASSWORD or EUREKA_PASSWORD_FILE)');
    return { username: eureka.username, password };
  } catch (error) {
    throw new AppError('INVALID_CONFIG', (error as Error).message);
  }
}

/** A pino level name. */
export const logSettings = z.object({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) });

/** Backoff of retried consumer failures: doubles from `minMs` up to `maxMs`. */
export const retrySettings = z
  .object({ minMs: z.coerce.number().int().min(1), maxMs: z.coerce.number().int().min(1) })
  .refine((r) => r.minMs <= r.maxMs, { message: 'minMs must not exceed maxMs' });

/** How often a running process asks the config service for a new commit. */
export const configSettings = z.object({ refreshMs: z.coerce.number().int().min(200) });

/**
 * How bearer tokens are verified, by the gateway and by every service alike: the issuer's public key (a
 * public JWK in a JSON file, `JWT_PUBLIC_KEY_FILE`), the `iss` and `aud` every token must carry, the
 * leeway between the issuer's clock and this one, and the longest lifetime (`exp - iat`) accepted.
 */
export const authSettings = z.object({
  publicKeyFile: z.string().min(1),
  issuer: z.string().min(1),
  audience: z.string().min(1),
  clockToleranceSeconds: z.coerce.number().int().min(0).max(300).default(30),
  /** 86 400 (24 h) unless given. */
  maxLifetimeSeconds: z.coerce.number().int().min(1).optional(),
});
export type AuthSettings = z.infer<typeof authSettings>;

/**
 * A secret given as itself (`value`) or as the path of a file that holds it (`file`: a `*_FILE` variable,
 * for compose's secrets volume and the native stack's .stack/secrets), one of the two; node-config has no
 * `_FILE` convention of its own. The file's content is the secret, trailing line breaks dropped. `what`
 * names the setting in the error.
 */
export function secretFrom(value: string | undefined, file: string | undefined, what: string): string {
  if (value && file) throw new Error(`${what}: give either the secret or the file that holds it, not both`);
  if (file) {
    let content: string;
    try {
      content = readFileSync(file, 'utf8');
    } catch (error) {
      throw new Error(`${what}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    const secret = content.replace(/[\r\n]+$/, '');
    if (!secret) throw new Error(`${what}: ${file} is empty`);
    return secret;
  }
  if (value) return value;
  throw new Error(`${what}: missing (give it, or the path of a file that holds it)`);
}

/** `password`, or `passwordFile` naming a file that holds it; `withPassword` reads it. */
const passwordKeys = { password: z.string().optional(), passwordFile: z.string().optional() };

/** A settings object with `passwordKeys`, as the same object with `password` read (`secretFrom`). */
function withPassword<T extends { password?: string; passwordFile?: string }>(
  { password, passwordFile, ...rest }: T,
  ctx: z.core.$RefinementCtx<T>,
): Omit<T, 'password' | 'passwordFile'> & { password: string } {
  try {
    return { ...rest, password: secretFrom(password, passwordFile, passwordFile ? 'passwordFile' : 'password') };
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
}

/** A database login: `user`, and `password` or `passwordFile` (read into `password`). */
export const databaseLogin = z.object({ user: z.string().min(1), ...passwordKeys }).transform(withPassword);

/**
 * The clock guard (clock-guard.ts): this instance's clock against the database's, at start and every
 * `intervalMs`. A skew beyond `warnSeconds` is logged (and alerted on: ClockSkew, at 2 s); beyond
 * `downSeconds` the instance is DOWN. A reading whose round trip took longer than `maxRoundTripMs` is
 * discarded: the skew is only known to half of it.
 */
export const clockSettings = z
  .object({
    intervalMs: z.coerce.number().int().min(1000),
    warnSeconds: z.coerce.number().positive(),
    downSeconds: z.coerce.number().positive(),
    maxRoundTripMs: z.coerce.number().int().min(1).max(5000),
  })
  .refine((c) => c.warnSeconds < c.downSeconds, { message: 'warnSeconds must be below downSeconds' });

/** Settings every service has; a service extends this schema with its own keys. */
export const baseServiceSettings = z.object({
  service: z.object({ name: z.string().min(1), instanceId: z.string().min(1) }),
  http: z.object({ host: z.string().min(1), port: z.coerce.number().int().min(0).max(65535) }),
  /** The login it serves with (rows only) and `migration`, the one it migrates with at start. */
  db: z
    .object({
      host: z.string().min(1),
      port: z.coerce.number().int().positive(),
      user: z.string().min(1),
      ...passwordKeys,
      database: z.string().min(1),
      poolMax: z.coerce.number().int().positive(),
      /** How long a statement waits for a row lock before it fails (and its event is retried later). */
      lockWaitTimeoutSeconds: z.coerce.number().int().min(1).max(3600),
      /**
       * The login migrations run as, on a connection of its own closed once they are done: the DDL
       * rights it holds are never on a connection that serves requests.
       */
      migration: databaseLogin,
    })
    .transform(withPassword),
  kafka: z.object({
    brokers: z
      .union([z.string(), z.array(z.string())])
      .transform((v) => (Array.isArray(v) ? v : v.split(',')).map((b) => b.trim()).filter(Boolean)),
    groupId: z.string().min(1),
    partitionsConsumedConcurrently: z.coerce.number().int().positive(),
    /**
     * How long a silent member keeps its partitions (Kafka's session timeout). No handler call waits out
     * a retry (the partition is paused instead), so it can be short: a killed instance's partitions move
     * to the others within it.
     */
    sessionTimeoutMs: z.coerce.number().int().min(6000).max(300_000),
    /** The most events of one partition applied in one database transaction. */
    maxBatchEvents: z.coerce.number().int().min(1).max(1000),
    /**
     * A fetch is answered once `minBytes` are there or after `maxWaitMs`, whichever comes first. Together
     * they trade fetches per event (client and broker CPU) against each hop's wait.
     */
    fetch: z.object({
      minBytes: z.coerce
        .number()
        .int()
        .min(1)
        .max(1024 * 1024),
      maxWaitMs: z.coerce.number().int().min(1).max(5000),
    }),
    /** The least time between two offset commits of an instance (0: after every batch). */
    commitIntervalMs: z.coerce.number().int().min(0).max(60_000),
    /**
     * How long an event id is remembered for deduplication. It must outlive the topics' retention
     * (168 h), or a redelivered event older than the record would be applied again.
     */
    dedupeRetentionHours: z.coerce.number().int().min(169, "must exceed the topics' 168 h retention"),
    /** Backoff of a transient failure's retries (live). */
    retry: retrySettings,
    /**
     * kafkajs' own retries of a failed request: the first delay and the most one grows to. A consumer
     * that runs out of them (a broker SIGKILLed: its connections refused until the controller moves its
     * partitions) crashes and is restarted after the last delay, so `maxMs` bounds that delay too.
     */
    clientRetry: z.object({
      initialMs: z.coerce.number().int().min(1).max(10_000),
      maxMs: z.coerce.number().int().min(1).max(60_000),
    }),
  }),
  registry: z.object({ url: z.url() }),
  outbox: z.object({
    deleteAfterInsert: z.coerce.boolean(),
    /** The largest encoded event accepted; must stay under Kafka's record limit (1 MiB by default). */
    maxEventBytes: z.coerce
      .number()
      .int()
      .min(1024)
      .max(1024 * 1024),
  }),
  eureka: eurekaSettings,
  /** Every route but GET /health and GET /metrics needs a bearer token the service verifies itself. */
  auth: authSettings,
  health: z.object({
    /** How often the instance checks its database and consumer (and tells Eureka of a change). */
    intervalMs: z.coerce.number().int().min(100),
    /** How long a consumer kafkajs is restarting after a crash may take to rejoin before the instance is DOWN. */
    consumerRestartGraceMs: z.coerce.number().int().min(0),
  }),
  clock: clockSettings,
  shutdown: z.object({
    /**
     * On a clean stop, how long the instance keeps serving after it left Eureka: the gateway reads Eureka
     * every 3 s, and a request it sends meanwhile must find the instance still there, not a closed socket.
     */
    drainMs: z.coerce.number().int().min(0),
  }),
  log: logSettings,
  config: configSettings,
});

export type BaseServiceSettings = z.infer<typeof baseServiceSettings>;
