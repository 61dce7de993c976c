import test from 'ava';
import { createRequire } from 'node:module';
import { fixKafkajsIdleTimers } from '../../src/index.js';

const require = createRequire(import.meta.url);

interface Queue {
  throttledUntil: number;
  throttleCheckTimeoutId: NodeJS.Timeout | null;
  pending: unknown[];
  scheduleCheckPendingRequests(): void;
  checkPendingRequests(): void;
}

/** kafkajs' own RequestQueue, as a connection builds it (no socket: nothing is sent here). */
function queue(): Queue {
  const RequestQueue = require('kafkajs/src/network/requestQueue/index.js') as new (options: object) => Queue;
  const silent = { debug() {}, info() {}, warn() {}, error() {} };
  return new RequestQueue({
    instrumentationEmitter: null,
    maxInFlightRequests: null,
    requestTimeout: 30_000,
    enforceRequestTimeout: false,
    clientId: 'test',
    broker: 'localhost:9092',
    logger: { namespace: () => silent },
    isConnected: () => true,
  });
}

test('an idle kafkajs connection schedules no check: nothing pending and no throttle', (t) => {
  t.true(fixKafkajsIdleTimers(), 'kafkajs 2.2.4 is the version the fix is for');
  const idle = queue();
  idle.checkPendingRequests();
  t.is(idle.throttleCheckTimeoutId, null, 'without the fix a 1 ms timeout is set here, and again every time it fires');
});

test('a pending request or a throttle in force still gets its check', (t) => {
  fixKafkajsIdleTimers();
  const pending = queue();
  pending.pending.push({});
  pending.scheduleCheckPendingRequests();
  t.not(pending.throttleCheckTimeoutId, null);
  clearTimeout(pending.throttleCheckTimeoutId!);

  const throttled = queue();
  throttled.throttledUntil = Date.now() + 50;
  throttled.scheduleCheckPendingRequests();
  t.not(throttled.throttleCheckTimeoutId, null);
  clearTimeout(throttled.throttleCheckTimeoutId!);
});
