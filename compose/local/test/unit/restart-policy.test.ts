import test from 'ava';
import { RestartSeries, defaultRestartPolicy, restartDelayMs } from '../../src/restart-policy.js';

const second = 1000;

test('restarts wait 1, 2, 4, 8 and 16 s; the sixth failure in a row gives up after five failed restarts', (t) => {
  const series = new RestartSeries(0);
  let now = 0;
  const delays: number[] = [];
  for (;;) {
    now += 5 * second; // each restart dies again within seconds
    const decision = series.failed(now);
    if (!decision.restart) {
      t.is(decision.failedRestarts, 5);
      break;
    }
    t.is(decision.attempt, delays.length + 1);
    delays.push(decision.delayMs);
    now += decision.delayMs;
    series.restarted(now);
  }
  t.deepEqual(
    delays,
    [1, 2, 4, 8, 16].map((s) => s * second),
  );
});

test('a restart that stays up 60 s ends the series: the next failure waits 1 s again', (t) => {
  const series = new RestartSeries(0);
  t.like(series.failed(10 * second), { restart: true, attempt: 1 });
  series.restarted(11 * second);
  t.like(series.failed(40 * second), { restart: true, attempt: 2, delayMs: 2 * second }, 'up 29 s: still the same series');
  series.restarted(42 * second);
  t.like(series.failed(42 * second + 60 * second), { restart: true, attempt: 1, delayMs: second }, 'up 60 s: a new series');
});

test('a restart that never came up counts as failed, however long the component had run before', (t) => {
  const series = new RestartSeries(0);
  t.like(series.failed(3600 * second), { restart: true, attempt: 1 }, 'up an hour, then died');
  // The restart exits during its start: no restarted() in between, so no reset from the hour it had been up.
  t.like(series.failed(3600 * second + 70 * second), { restart: true, attempt: 2 });
  t.like(series.failed(3600 * second + 140 * second), { restart: true, attempt: 3 });
});

test('the wait doubles up to the cap and stays there', (t) => {
  const policy = { ...defaultRestartPolicy, maxFailedRestarts: 8 };
  t.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8].map((attempt) => restartDelayMs(attempt, policy) / second),
    [1, 2, 4, 8, 16, 30, 30, 30],
  );
});
