import test from 'ava';
import { serviceInstanceUrls } from '@cdc-outbox-saga/local-stack';

// Every service instance compares its clock with the database's at start and every minute (clock.intervalMs):
// `clock_skew_seconds` in its /metrics, a `clock` entry in its /health. The stack runs on one machine, so the
// two clocks are one: what is measured is the measurement's own error, a few milliseconds.
test("every service instance exports its clock's skew against the database's, near 0, and its /health lists the clock check UP", async (t) => {
  const instances = Object.entries(serviceInstanceUrls());
  t.true(instances.length >= 3, `instances: ${instances.map(([name]) => name).join(', ')}`);
  for (const [name, url] of instances) {
    const service = name.replace(/-[^-]+$/, '');
    const health = (await (await fetch(`${url}/health`, { signal: AbortSignal.timeout(5000) })).json()) as {
      status: string;
      instance: string;
      checks: Record<string, { status: string; reason?: string }>;
    };
    t.like(health, { status: 'UP', instance: name }, name);
    t.deepEqual(Object.keys(health.checks).sort(), ['clock', 'consumer', 'database'], `${name}: its checks`);
    t.deepEqual(health.checks.clock, { status: 'UP' }, `${name}: the clock check UP, with no skew to report`);

    const metrics = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    t.regex(metrics, /^# TYPE clock_skew_seconds gauge$/m, name);
    const lines = metrics.split('\n').filter((line) => line.startsWith('clock_skew_seconds{'));
    t.is(lines.length, 1, `${name}: one clock_skew_seconds series: ${lines.join(' | ')}`);
    const match = /^clock_skew_seconds\{(.*)\} (\S+)$/.exec(lines[0] ?? '');
    t.truthy(match, `${name}: ${lines[0]}`);
    t.is(match?.[1], `service="${service}",instance="${name}"`, `${name}: the labels every service metric has`);
    const skew = Number(match?.[2]);
    t.true(Number.isFinite(skew) && Math.abs(skew) < 0.5, `${name}: skew ${skew} s, where one clock serves both`);
  }
});
