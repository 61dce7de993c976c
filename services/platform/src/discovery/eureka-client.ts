import type { Logger } from '../logger.js';

/** Eureka's instance states; a client sets UP, DOWN, STARTING or OUT_OF_SERVICE. */
export type InstanceStatus = 'UP' | 'DOWN' | 'STARTING' | 'OUT_OF_SERVICE' | 'UNKNOWN';

/** What one instance tells Eureka about itself. */
export interface InstanceRegistration {
  /** The application name; Eureka stores it upper-cased (`order` -> `ORDER`). */
  app: string;
  instanceId: string;
  host: string;
  port: number;
  /** Path of the health endpoint (default /health) and of the status page (default the same). */
  healthPath?: string;
  statusPath?: string;
  /** Free-form string metadata: version, management port, where the metrics are. */
  metadata?: Record<string, string>;
}

/**
 * HTTP basic credentials for Eureka: the registry refuses every request without them (401), so no one
 * who merely reaches its port can register an instance or read where the services are.
 */
export interface EurekaCredentials {
  username: string;
  password: string;
}

export interface EurekaClientOptions {
  /** Eureka's base URLs up to `/eureka` (`http://127.0.0.1:8761/eureka`); tried in order. */
  serviceUrls: string[];
  /** Sent with every request; without them a registry behind basic auth answers 401. */
  credentials?: EurekaCredentials;
  logger: Logger;
  /** Heartbeat period (Eureka's default 30 s; the local stack uses 5). */
  renewalIntervalSeconds?: number;
  /** How long Eureka keeps an instance without a heartbeat (default 90 s; the local stack uses 15). */
  leaseDurationSeconds?: number;
  /** Per-request timeout, so a hung Eureka never holds a heartbeat or a shutdown. */
  requestTimeoutMs?: number;
}

/** One instance as Eureka lists it, reduced to what a caller routes with. */
export interface DiscoveredInstance {
  app: string;
  instanceId: string;
  status: InstanceStatus;
  /** `http://host:port` */
  url: string;
  metadata: Record<string, string>;
}

const defaultDataCenter = { '@class': 'com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo', name: 'MyOwn' };

/**
 * Splits a comma-separated `EUREKA_URL` into base URLs without a trailing slash. Credentials do not go in
 * a URL (`http://user:pass@host/eureka`, Spring's convention): fetch refuses such URLs, and a URL ends up
 * in logs. They are separate settings (`EurekaCredentials`).
 */
export function eurekaUrls(value: string | string[] | undefined): string[] {
  // `off`: node-config ignores an empty environment variable, so EUREKA_URL= cannot switch Eureka off.
  if (typeof value === 'string' && value.trim().toLowerCase() === 'off') return [];
  const list = Array.isArray(value) ? value : (value ?? '').split(',');
  return list.map((url) => url.trim().replace(/\/+$/, '')).filter(Boolean);
}

/**
 * Registers one service instance with a Eureka server over Eureka's REST API, as Netflix's Java client
 * does: register, heartbeat every `renewalIntervalSeconds`, register again when a heartbeat answers
 * 404 (Eureka restarted or evicted us) or when the instance's status changes, and cancel the lease on a
 * clean stop. Nothing here blocks the service: while Eureka is unreachable it logs once, keeps trying on
 * every heartbeat tick, and says so when it gets through.
 */
export class EurekaClient {
  private status: InstanceStatus = 'STARTING';
  /** Eureka resolves concurrent registrations by this: a newer one replaces an older one. */
  private dirtyTimestamp = Date.now();
  /** The `dirtyTimestamp` of the registration Eureka acknowledged last, if it still holds. */
  private registeredVersion: number | undefined;
  private unreachableSince: number | undefined;
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  /** The heartbeat in flight, if any: a status change waits for it, a stop too. */
  private inFlight: Promise<void> | undefined;
  private readonly renewalMs: number;
  private readonly leaseSeconds: number;
  private readonly timeoutMs: number;

  constructor(
    private readonly instance: InstanceRegistration,
    private readonly options: EurekaClientOptions,
  ) {
    if (options.serviceUrls.length === 0) throw new Error('EurekaClient needs at least one Eureka URL');
    this.renewalMs = (options.renewalIntervalSeconds ?? 30) * 1000;
    this.leaseSeconds = options.leaseDurationSeconds ?? 90;
    this.timeoutMs = options.requestTimeoutMs ?? 3000;
  }

  /** Starts registering and heartbeating in the background with the given status; returns at once. */
  start(status: InstanceStatus): void {
    this.status = status;
    this.running = true;
    this.schedule(0);
  }

  /** Changes the status Eureka shows (UP, DOWN, …): the instance registers again with it at once. */
  setStatus(status: InstanceStatus): void {
    if (status === this.status) return;
    this.status = status;
    this.dirtyTimestamp = Math.max(Date.now(), this.dirtyTimestamp + 1);
    // A heartbeat in flight reschedules itself at once when it sees the newer status.
    if (this.running && !this.inFlight) this.schedule(0);
  }

  /** Whether Eureka has acknowledged the latest registration or heartbeat. */
  get isRegistered(): boolean {
    return this.registeredVersion === this.dirtyTimestamp;
  }

  /** Stops heartbeating and cancels the lease, so callers stop routing here at once. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.inFlight;
    const { app, instanceId } = this.instance;
    for (const base of this.options.serviceUrls) {
      try {
        const response = await this.request('DELETE', `${base}/apps/${app.toUpperCase()}/${encodeURIComponent(instanceId)}`);
        if (response.ok || response.status === 404) {
          this.options.logger.info({ eureka: base }, 'deregistered from Eureka');
          return;
        }
      } catch {
        /* try the next server; the lease runs out by itself otherwise */
      }
    }
    this.options.logger.warn('could not deregister from Eureka; the lease will expire by itself');
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      const sent = this.dirtyTimestamp;
      this.inFlight = this.beat().finally(() => {
        this.inFlight = undefined;
        if (this.running) this.schedule(this.dirtyTimestamp !== sent ? 0 : this.renewalMs);
      });
    }, delayMs);
    this.timer.unref();
  }

  /** One heartbeat, or a registration when the server does not know this instance (or its new status). */
  private async beat(): Promise<void> {
    const { app, instanceId } = this.instance;
    for (const base of this.options.serviceUrls) {
      try {
        if (this.isRegistered) {
          const renewed = await this.request('PUT', `${base}/apps/${app.toUpperCase()}/${encodeURIComponent(instanceId)}`);
          if (renewed.ok) return this.reachable(base);
          if (renewed.status !== 404) throw answered('heartbeat', renewed.status);
          this.options.logger.info({ eureka: base }, 'Eureka does not know this instance (restarted or evicted it): registering again');
        }
        const version = this.dirtyTimestamp;
        const response = await this.request('POST', `${base}/apps/${app.toUpperCase()}`, this.registration());
        if (!response.ok) throw answered('registration', response.status);
        this.registeredVersion = version;
        this.options.logger.info({ eureka: base, status: this.status }, 'registered with Eureka');
        return this.reachable(base);
      } catch (error) {
        this.registeredVersion = undefined;
        if (this.unreachableSince === undefined) {
          this.unreachableSince = Date.now();
          this.options.logger.warn(
            { eureka: base, reason: (error as Error).message, retryEverySeconds: this.renewalMs / 1000 },
            'Eureka is unreachable; serving anyway and retrying in the background',
          );
        }
      }
    }
  }

  private reachable(base: string): void {
    if (this.unreachableSince !== undefined) {
      this.options.logger.info(
        { eureka: base, afterSeconds: Math.round((Date.now() - this.unreachableSince) / 1000) },
        'Eureka is reachable again',
      );
      this.unreachableSince = undefined;
    }
  }

  private registration(): unknown {
    const { app, instanceId, host, port, metadata = {} } = this.instance;
    const base = `http://${host}:${port}`;
    return {
      instance: {
        instanceId,
        hostName: host,
        app: app.toUpperCase(),
        ipAddr: host,
        status: this.status,
        port: { $: port, '@enabled': 'true' },
        securePort: { $: 443, '@enabled': 'false' },
        vipAddress: app,
        secureVipAddress: app,
        homePageUrl: `${base}/`,
        statusPageUrl: `${base}${this.instance.statusPath ?? this.instance.healthPath ?? '/health'}`,
        healthCheckUrl: `${base}${this.instance.healthPath ?? '/health'}`,
        dataCenterInfo: defaultDataCenter,
        leaseInfo: { renewalIntervalInSecs: this.renewalMs / 1000, durationInSecs: this.leaseSeconds },
        metadata,
        lastDirtyTimestamp: String(this.dirtyTimestamp),
      },
    };
  }

  private request(method: string, url: string, body?: unknown): Promise<Response> {
    return eurekaRequest(method, url, this.timeoutMs, this.options.credentials, body);
  }
}

/** A refused request; a 401 says what it means, since the process keeps running and retrying. */
function answered(what: string, status: number): Error {
  return new Error(
    `${what} answered ${status}${status === 401 ? ' (Eureka wants valid credentials: EUREKA_USERNAME, EUREKA_PASSWORD or EUREKA_PASSWORD_FILE)' : ''}`,
  );
}

/** The `Authorization` header value for HTTP basic (RFC 7617: `user:password`, UTF-8, base64). */
export function basicAuthorization({ username, password }: EurekaCredentials): string {
  return `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}`;
}

/** Request headers for Eureka: JSON, and the credentials when there are some. */
function eurekaHeaders(credentials: EurekaCredentials | undefined, withBody = false): Record<string, string> {
  return {
    accept: 'application/json',
    ...(withBody ? { 'content-type': 'application/json' } : {}),
    ...(credentials ? { authorization: basicAuthorization(credentials) } : {}),
  };
}

async function eurekaRequest(
  method: string,
  url: string,
  timeoutMs: number,
  credentials: EurekaCredentials | undefined,
  body?: unknown,
): Promise<Response> {
  const response = await fetch(url, {
    method,
    headers: eurekaHeaders(credentials, body !== undefined),
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  // Drain the body so the connection goes back to the pool.
  await response.arrayBuffer();
  return response;
}

interface EurekaAppsJson {
  applications?: {
    application?: Array<{
      name: string;
      instance: Array<{
        instanceId: string;
        hostName: string;
        ipAddr?: string;
        status: InstanceStatus;
        port: { $: number | string; '@enabled'?: string };
        metadata?: Record<string, string>;
      }>;
    }>;
  };
}

/**
 * Every instance Eureka knows, by application name in lower case (`order`, `gateway`), read with
 * `credentials` when given. Throws when no server answers, so a caller can keep the list it had.
 */
export async function fetchApplications(
  serviceUrls: string[],
  timeoutMs = 3000,
  credentials?: EurekaCredentials,
): Promise<Map<string, DiscoveredInstance[]>> {
  let lastError: unknown;
  for (const base of serviceUrls) {
    try {
      const response = await fetch(`${base}/apps`, { headers: eurekaHeaders(credentials), signal: AbortSignal.timeout(timeoutMs) });
      if (!response.ok) {
        // Read it anyway (a restarted Eureka answers 403 for a while), so the connection can be reused.
        await response.arrayBuffer().catch(() => undefined);
        throw answered(`GET ${base}/apps`, response.status);
      }
      const json = (await response.json()) as EurekaAppsJson;
      const apps = new Map<string, DiscoveredInstance[]>();
      for (const application of json.applications?.application ?? []) {
        apps.set(
          application.name.toLowerCase(),
          application.instance.map((i) => ({
            app: application.name.toLowerCase(),
            instanceId: i.instanceId,
            status: i.status,
            url: `http://${i.ipAddr ?? i.hostName}:${Number(i.port.$)}`,
            metadata: i.metadata ?? {},
          })),
        );
      }
      return apps;
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError instanceof Error ? lastError : new Error(String(lastError));
}
