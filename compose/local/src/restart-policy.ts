/** When the supervisor restarts a component (or a connector) that failed, and when it stops trying. */
export interface RestartPolicy {
  /** The wait before the first restart of a series; each further restart in a row waits twice as long... */
  firstDelayMs: number;
  /** ...but never longer than this. */
  maxDelayMs: number;
  /** Up this long after a restart, it has recovered: its next failure starts a new series. */
  stableAfterMs: number;
  /** A series of this many restarts that each failed again within `stableAfterMs` ends in giving up. */
  maxFailedRestarts: number;
}

/** 1 s, 2 s, 4 s, 8 s, 16 s, then give up (the 30 s cap matters only to a policy that allows more restarts). */
export const defaultRestartPolicy: RestartPolicy = {
  firstDelayMs: 1000,
  maxDelayMs: 30_000,
  stableAfterMs: 60_000,
  maxFailedRestarts: 5,
};

export type RestartDecision =
  | { restart: true; /** 1 for the first restart of the series */ attempt: number; delayMs: number }
  | { restart: false; failedRestarts: number };

/** The wait before restart number `attempt` (1-based) of a series. */
export function restartDelayMs(attempt: number, policy: RestartPolicy = defaultRestartPolicy): number {
  return Math.min(policy.firstDelayMs * 2 ** (attempt - 1), policy.maxDelayMs);
}

/**
 * The failures of one component in a row, as a clock-driven state machine (no timers of its own, so it
 * is tested with plain numbers). `failed` when it is found dead or its restart did not come up,
 * `restarted` once a restart is up.
 */
export class RestartSeries {
  private restarts = 0;
  /** Since when it has been up; undefined while it is down (a restart that fails at once never was up). */
  private upSince: number | undefined;

  constructor(
    now: number,
    private readonly policy: RestartPolicy = defaultRestartPolicy,
  ) {
    this.upSince = now;
  }

  failed(now: number): RestartDecision {
    if (this.upSince !== undefined && now - this.upSince >= this.policy.stableAfterMs) this.restarts = 0;
    this.upSince = undefined;
    if (this.restarts >= this.policy.maxFailedRestarts) return { restart: false, failedRestarts: this.restarts };
    this.restarts += 1;
    return { restart: true, attempt: this.restarts, delayMs: restartDelayMs(this.restarts, this.policy) };
  }

  restarted(now: number): void {
    this.upSince = now;
  }
}
