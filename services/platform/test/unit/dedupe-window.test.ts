import test from 'ava';
import { dedupeWindowProblems } from '../../src/consumer/topic-guard.js';

const hours = (h: number) => h * 3_600_000;

test('a topic whose records outlive the dedupe window by segment granularity is named', (t) => {
  t.deepEqual(dedupeWindowProblems(192, [{ topic: 'hourly', retentionMs: hours(168), segmentMs: hours(1) }]), []);
  const [problem] = dedupeWindowProblems(192, [{ topic: 'weekly', retentionMs: hours(168), segmentMs: hours(168) }]);
  t.regex(problem!, /^weekly keeps a record up to 336\.0 h/);
});

test('a topic that keeps records for ever is named, whatever the window', (t) => {
  t.deepEqual(dedupeWindowProblems(10_000, [{ topic: 'forever', retentionMs: -1, segmentMs: hours(1) }]), [
    'forever keeps records for ever (retention.ms -1)',
  ]);
});
