/** When an instance is taken out of rotation, and for how long. */
export interface OutlierSettings {
  /** Consecutive failed exchanges (reset, hang-up, no answer in time) that eject an instance. */
  consecutiveFailures: number;
  /** How long an ejected instance gets no traffic before it is tried again. */
  ejectionMs: number;
}

/**
 * Round robin over a service's instances as discovery lists them now, with outlier ejection as Envoy
 * does it: an instance that refused a connection, or failed `consecutiveFailures` exchanges in a row,
 * gets no traffic for `ejectionMs`, then is tried again. A refused connection, or one not made within the
 * connect timeout, ejects at once: nothing (alive) listens there, and the request can go elsewhere because
 * it never reached the instance. HTTP answers,
 * 5xx included, are the service's own business and never eject.
 */
export class LoadBalancer {
  private next = 0;
  private readonly failures = new Map<string, number>();
  private readonly ejectedUntil = new Map<string, number>();

  constructor(
    /** The instances to balance over right now (base URLs); called on every pick. */
    private readonly instances: () => string[],
    private readonly outlier: OutlierSettings,
    private readonly now: () => number = Date.now,
  ) {}

  /** The next instance that is neither ejected nor in `exclude`, or undefined when there is none. */
  pick(exclude: ReadonlySet<string> = new Set()): string | undefined {
    const targets = this.instances();
    for (let i = 0; i < targets.length; i++) {
      const index = (this.next + i) % targets.length;
      const target = targets[index]!;
      if (exclude.has(target) || this.isEjected(target)) continue;
      this.next = (index + 1) % targets.length;
      return target;
    }
    return undefined;
  }

  isEjected(target: string): boolean {
    const until = this.ejectedUntil.get(target);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.ejectedUntil.delete(target);
    return false;
  }

  /** An exchange with `target` completed: its run of failures is over. */
  succeeded(target: string): void {
    this.failures.delete(target);
  }

  /** An exchange with `target` failed; `refused` (nothing listening) ejects it at once. */
  failed(target: string, refused: boolean): void {
    const count = (this.failures.get(target) ?? 0) + 1;
    if (refused || count >= this.outlier.consecutiveFailures) {
      this.failures.delete(target);
      this.ejectedUntil.set(target, this.now() + this.outlier.ejectionMs);
    } else {
      this.failures.set(target, count);
    }
  }
}
