/**
 * Round robin over a service's instances, skipping for a while an instance that just refused a
 * connection. Discovery (Eureka) will feed `targets` later; for now they come from the config.
 */
export class RoundRobin {
  private next = 0;
  private readonly downUntil = new Map<string, number>();

  constructor(
    readonly targets: string[],
    private readonly retryDownAfterMs: number,
    private readonly now: () => number = Date.now,
  ) {
    if (targets.length === 0) throw new Error('a route needs at least one target');
  }

  /** The next instance that is not marked down, or undefined when every instance is down. */
  pick(): string | undefined {
    for (let i = 0; i < this.targets.length; i++) {
      const target = this.targets[(this.next + i) % this.targets.length]!;
      if ((this.downUntil.get(target) ?? 0) <= this.now()) {
        this.next = (this.next + i + 1) % this.targets.length;
        return target;
      }
    }
    return undefined;
  }

  markDown(target: string): void {
    this.downUntil.set(target, this.now() + this.retryDownAfterMs);
  }
}
