import type { RestartPolicy } from './restart-policy.js';

/**
 * What the supervisor gives each of its watchers: whose components they are, the restart policy, where
 * lines go, and the supervisor's stop (its signal, a pause that ends early on it, and the tasks it waits
 * for when it stops).
 */
export interface WatchContext {
  /** The session whose components are watched: only what it owns is restarted. */
  readonly owner: string;
  readonly policy: RestartPolicy;
  readonly log: (line: string) => void;
  /** Aborted once the supervisor stops. */
  readonly signal: AbortSignal;
  /** Sleeps `ms`, less if the supervisor stops meanwhile. */
  pause(ms: number): Promise<void>;
  /** Runs `task` in the background: the supervisor logs its error and waits for it when it stops. */
  track(task: Promise<void>): void;
}

/** How long ago `since` was, as the supervisor's lines say it: "2.5s". */
export const secondsSince = (since: number): string => `${((Date.now() - since) / 1000).toFixed(1)}s`;
