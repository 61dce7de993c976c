import {
  eurekaCredentials,
  fetchApplications,
  type DiscoveredInstance,
  type EurekaCredentials,
  type Logger,
} from '@cdc-outbox-saga/platform';

/**
 * The gateway's copy of Eureka's registry: fetched every `refreshMs`, kept as it was when Eureka does
 * not answer, so an outage of the registry never stops traffic to the instances already known (as
 * Netflix's client caches its registry). Only instances whose status is UP are routed to. It reads with
 * the gateway's Eureka credentials (`eureka.username`, `eureka.password` or `eureka.passwordFile`).
 */
export class EurekaDiscovery {
  private apps = new Map<string, DiscoveredInstance[]>();
  private timer: NodeJS.Timeout | undefined;
  private failingSince: number | undefined;
  private lastRefresh = 0;
  private readonly serviceUrls: string[];
  private readonly refreshMs: number;
  private readonly credentials: EurekaCredentials | undefined;

  /** Throws when `eureka` names a registry but no credentials for it. */
  constructor(
    eureka: {
      serviceUrl: string[];
      registryRefreshMs: number;
      username?: string | undefined;
      password?: string | undefined;
      passwordFile?: string | undefined;
    },
    private readonly logger: Logger,
    private readonly onRefresh: (apps: Map<string, DiscoveredInstance[]>) => void = () => undefined,
  ) {
    this.serviceUrls = eureka.serviceUrl;
    this.refreshMs = eureka.registryRefreshMs;
    this.credentials = eurekaCredentials(eureka);
  }

  /** Fetches once (without failing when Eureka is down) and then every `refreshMs`. */
  async start(): Promise<void> {
    await this.refresh();
    const loop = () => {
      this.timer = setTimeout(() => void this.refresh().finally(() => this.timer && loop()), this.refreshMs);
      this.timer.unref();
    };
    loop();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Base URLs of the UP instances of `app` (lower case, as `order`), as of the last good fetch. */
  upInstances(app: string): string[] {
    return (this.apps.get(app) ?? []).filter((i) => i.status === 'UP').map((i) => i.url);
  }

  /** Milliseconds since the registry was last read successfully (Infinity before the first time). */
  get ageMs(): number {
    return this.lastRefresh === 0 ? Infinity : Date.now() - this.lastRefresh;
  }

  async refresh(): Promise<void> {
    try {
      this.apps = await fetchApplications(this.serviceUrls, Math.min(this.refreshMs, 3000), this.credentials);
      this.lastRefresh = Date.now();
      if (this.failingSince !== undefined) {
        this.logger.info(
          { afterSeconds: Math.round((Date.now() - this.failingSince) / 1000) },
          'Eureka answers again; routing table refreshed',
        );
        this.failingSince = undefined;
      }
      this.onRefresh(this.apps);
    } catch (error) {
      if (this.failingSince === undefined) {
        this.failingSince = Date.now();
        this.logger.warn(
          { reason: (error as Error).message, known: Object.fromEntries([...this.apps].map(([app, list]) => [app, list.length])) },
          'Eureka does not answer; routing to the instances known from the last fetch',
        );
      }
    }
  }
}
