import test from 'ava';
import { backoffMs } from '../../src/consumer/partition-backoff.js';

test('the retry backoff doubles from the minimum, stays within the maximum, and is jittered over the upper half', (t) => {
  for (let i = 0; i < 200; i++) {
    const first = backoffMs(1, 100, 10_000);
    t.true(first >= 50 && first <= 100, `attempt 1: ${first}`);
    const fourth = backoffMs(4, 100, 10_000);
    t.true(fourth >= 400 && fourth <= 800, `attempt 4: ${fourth}`);
    const late = backoffMs(60, 100, 10_000);
    t.true(late >= 5_000 && late <= 10_000, `attempt 60: ${late}`);
  }
});
