import { createRequire } from 'node:module';

// kafkajs 2.2.4 (its last release) keeps a timer loop running on every broker connection, busy or idle:
// RequestQueue.checkPendingRequests() always ends in scheduleCheckPendingRequests(), which always sets a
// timeout, and with no throttling its delay is negative, so it fires again after 1 ms (kafkajs issue 1556;
// the fix, pull request 1667, is not released). A service holds several connections (consumer, coordinator,
// dead-letter producer, lag admin), so an idle service woke about a thousand times a second per connection.
// This applies that fix: with nothing pending and no throttle in force there is nothing to check later, and
// the next request or throttle schedules a check again. Pending requests keep 2.2.4's behaviour (a check at
// least every 10 ms, or when the throttle ends).

interface RequestQueueInternals {
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  pending: unknown[];
  checkPendingRequests(): void;
}

/** kafkajs' CHECK_PENDING_REQUESTS_INTERVAL, not exported. */
const CHECK_PENDING_REQUESTS_INTERVAL = 10;

const require = createRequire(import.meta.url);

/**
 * Patches kafkajs' RequestQueue once per process, and only kafkajs 2.2.4, the version it was written for
 * (package.json pins it): any other version is left alone. Returns whether the fix is in force.
 */
export function fixKafkajsIdleTimers(): boolean {
  const version = (require('kafkajs/package.json') as { version: string }).version;
  if (version !== '2.2.4') return false;
  const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as {
    prototype: RequestQueueInternals & { scheduleCheckPendingRequests(): void; idleTimerFix?: true };
  };
  const prototype = RequestQueue.prototype;
  if (prototype.idleTimerFix) return true;
  prototype.scheduleCheckPendingRequests = function scheduleCheckPendingRequests(this: RequestQueueInternals) {
    if (this.throttleCheckTimeoutId) return;
    let delay = this.throttledUntil - Date.now();
    if (this.pending.length > 0) delay = delay > 0 ? delay : CHECK_PENDING_REQUESTS_INTERVAL;
    else if (delay <= 0) return;
    this.throttleCheckTimeoutId = setTimeout(() => {
      this.throttleCheckTimeoutId = null;
      this.checkPendingRequests();
    }, delay);
  };
  prototype.idleTimerFix = true;
  return true;
}
