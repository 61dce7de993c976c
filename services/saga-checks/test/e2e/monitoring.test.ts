import test from 'ava';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { connectorFiles, monitoringDir, promtoolBinary, rootSql, serviceInstanceNames, settings } from '@cdc-outbox-saga/local-stack';
import { readDlq } from '../../src/dlq-kafka.js';
import { createProduct, createUser, placeOrder } from '../helpers/api.js';
import { waitFor, waitForValue } from '../helpers/discovery.js';
import { activeTargets, query } from '../helpers/prometheus.js';
import { consumerGroups, kafka, topicEnds } from '../helpers/topics.js';

const run = promisify(execFile);

test("every alert rule passes its promtool unit test, and the stack's Prometheus config checks", async (t) => {
  const tests = await run(promtoolBinary, ['test', 'rules', join(monitoringDir, 'tests/alerts.test.yml')]);
  t.regex(tests.stdout, /SUCCESS/);
  const config = await run(promtoolBinary, ['check', 'config', join(settings.confDir, 'prometheus.yml')]);
  t.regex(config.stdout, /SUCCESS: 13 rules found/);
});

test('Prometheus scrapes every part: one job per kind, each service instance found through Eureka, all up', async (t) => {
  const count = (service: string) => serviceInstanceNames().filter((name) => name.startsWith(`${service}-`)).length;
  const expected: Record<string, number> = {
    prometheus: 1,
    registry: 1,
    kafka: 1,
    connect: 1,
    mariadb: 1,
    order: count('order'),
    product: count('product'),
    user: count('user'),
    gateway: 1,
    'config-server': 1,
  };
  const byJob = (targets: Awaited<ReturnType<typeof activeTargets>>) => {
    const jobs: Record<string, number> = {};
    for (const target of targets) if (target.health === 'up') jobs[target.labels.job] = (jobs[target.labels.job] ?? 0) + 1;
    return jobs;
  };
  // Eureka discovery refreshes every 5 s and each target is scraped every 5 s.
  await waitFor(
    'every target up',
    async () => byJob(await activeTargets()),
    (jobs) => JSON.stringify(jobs, Object.keys(expected).sort()) === JSON.stringify(expected, Object.keys(expected).sort()),
    60_000,
  );
  const targets = await activeTargets();
  t.true(
    targets.every((target) => target.health === 'up'),
    JSON.stringify(targets.filter((x) => x.health !== 'up')),
  );
  for (const name of serviceInstanceNames())
    t.true(
      targets.some((target) => target.labels.instance === name),
      `${name} is a target`,
    );
});

test('Connect and Debezium report through the JMX exporter: every connector running, none failed, its lag behind the binlog', async (t) => {
  const connectors = connectorFiles().map((file) => file.name);
  await waitFor(
    'connector metrics scraped',
    () => query('sum by (connector) (kafka_connect_connect_worker_metrics_connector_running_task_count)'),
    (series) => connectors.every((c) => series.some((s) => s.metric.connector === c && Number(s.value[1]) === 1)),
    30_000,
  );
  const failed = await query('sum by (connector) (kafka_connect_connect_worker_metrics_connector_failed_task_count)');
  t.deepEqual(
    failed.map((s) => [s.metric.connector, Number(s.value[1])]).sort(),
    connectors.map((c) => [c, 0]),
  );
  const behind = await query('max by (server) (debezium_mariadb_connector_metrics_millisecondsbehindsource)');
  t.deepEqual(
    behind.map((s) => s.metric.server).sort(),
    connectorFiles()
      .map((file) => file.config['topic.prefix'])
      .sort(),
  );
  const controller = await query('kafka_controller_kafkacontroller_value{name="ActiveControllerCount"}');
  t.deepEqual(
    controller.map((s) => Number(s.value[1])),
    [1],
    'the broker reports through its own agent',
  );
});

test('after orders of each outcome, PromQL answers for outcomes by reason, saga duration and CDC hops', async (t) => {
  const userId = await createUser(100);
  const productId = await createProduct(30, 5);
  t.is((await placeOrder(userId, [{ productId, quantity: 1 }])).body.status, 'COMPLETED');
  t.is((await placeOrder(userId, [{ productId, quantity: 9 }])).body.reason, 'OUT_OF_STOCK');
  t.is((await placeOrder(userId, [{ productId, quantity: 3 }])).body.reason, 'INSUFFICIENT_POINTS');
  await waitFor(
    'the outcomes scraped',
    () => query('sum by (status, reason) (saga_outcomes_total)'),
    (series) =>
      ['OUT_OF_STOCK', 'INSUFFICIENT_POINTS'].every((reason) => series.some((s) => s.metric.reason === reason)) &&
      series.some((s) => s.metric.status === 'COMPLETED'),
    30_000,
  );
  // Over the histogram's whole life: a rate() would show nothing for a series whose first scrape already
  // held these observations (prom-client makes a labelled series when it is first observed).
  const p99 = await query('histogram_quantile(0.99, sum by (le) (saga_duration_seconds_bucket))');
  t.is(p99.length, 1);
  t.true(Number(p99[0]!.value[1]) > 0, `a p99 in seconds: ${JSON.stringify(p99)}`);
  // Scraped every 5 s: each consumer's hops show once its next scrape has run.
  const hops = await waitForValue(
    'CDC hops of every consumer',
    () => query('sum by (job) (saga_cdc_hop_seconds_count)'),
    (series) => JSON.stringify(series.map((s) => s.metric.job).sort()) === JSON.stringify(['order', 'product', 'user']),
    30_000,
  );
  t.deepEqual(hops.map((s) => s.metric.job).sort(), ['order', 'product', 'user'], 'CDC hop counts per consumer');
  t.true(
    hops.every((s) => Number(s.value[1]) > 0),
    `each consumer timed at least one hop: ${JSON.stringify(hops)}`,
  );
});

test("MariaDB reports through the MySQL exporter, as a user that may read the server's status and no service's data", async (t) => {
  // Scraped every 5 s: every collector of the exporter succeeded (a missing privilege fails its collector).
  await waitFor(
    'MariaDB scraped',
    () => query('max(mysql_up{job="mariadb"}) + max(mysql_exporter_last_scrape_error{job="mariadb"}) * 10'),
    (series) => series.length === 1 && Number(series[0]!.value[1]) === 1,
    30_000,
  );
  const binlogs = await query('mysql_binlog_files{job="mariadb"}');
  t.true(binlogs.length === 1 && Number(binlogs[0]!.value[1]) > 0, `the binlog Debezium reads: ${JSON.stringify(binlogs)}`);
  const user = settings.credentials.exporter.user;
  const grants = (await rootSql(`SHOW GRANTS FOR '${user}'@'${settings.host}'`))
    .trim()
    .split('\n')
    .map((line) => /^GRANT (.+) ON (\S+) TO /.exec(line))
    .map((match) => `${match?.[2]}: ${match?.[1]?.split(', ').sort().join(', ')}`)
    .sort();
  t.deepEqual(grants, ['*.*: BINLOG MONITOR, PROCESS', '`performance_schema`.*: SELECT']);
});

/** The partitions of every topic each service's group reads, as `group topic partition`. */
async function groupPartitions(): Promise<string[]> {
  const ends = await topicEnds();
  return Object.entries(consumerGroups)
    .flatMap(([group, topics]) =>
      topics.flatMap((topic) => [...ends.get(topic)!.keys()].map((partition) => `${group} ${topic} ${partition}`)),
    )
    .sort();
}

test('every service group reports its lag per topic and partition from Kafka, and it comes back to 0 once the orders are through', async (t) => {
  const userId = await createUser(100);
  const productId = await createProduct(10, 5);
  t.is((await placeOrder(userId, [{ productId, quantity: 1 }])).body.status, 'COMPLETED');
  const expected = await groupPartitions();
  // Each instance reads Kafka every 10 s and is scraped every 5 s. Other test files place orders meanwhile,
  // so "caught up" is: each instance saw the partition at 0 at least once in the last minute.
  const lagged = () => query('max by (consumergroup, topic, partition) (min_over_time(kafka_consumergroup_lag[1m]))');
  const keys = (series: Awaited<ReturnType<typeof lagged>>) =>
    series.map((s) => `${s.metric.consumergroup} ${s.metric.topic} ${s.metric.partition}`).sort();
  await waitFor(
    'every partition of every group at lag 0',
    lagged,
    (series) => JSON.stringify(keys(series)) === JSON.stringify(expected) && series.every((s) => Number(s.value[1]) === 0),
    90_000,
  );
  const committed = await query('max by (consumergroup, topic, partition) (kafka_consumergroup_current_offset)');
  t.true(
    committed.length > 0 && committed.every((s) => expected.includes(`${s.metric.consumergroup} ${s.metric.topic} ${s.metric.partition}`)),
    JSON.stringify(committed),
  );
});

test("every service group reports the dead letters waiting on its topics' DLQs, as many as npm run dlq lists", async (t) => {
  const dlqTopics = [...new Set(Object.values(consumerGroups).flat())].map((topic) => `${topic}.dlq`);
  const entries = await readDlq(kafka, dlqTopics);
  const expected = Object.entries(consumerGroups)
    .flatMap(([group, topics]) =>
      topics.map((topic) => {
        const waiting = entries.filter((e) => e.topic === `${topic}.dlq` && e.consumerGroup === group && !e.redriven).length;
        return `${group} ${topic}.dlq ${waiting}`;
      }),
    )
    .sort();
  const reported = async () =>
    (await query('max by (consumergroup, topic) (saga_dlq_messages)'))
      .map((s) => `${s.metric.consumergroup} ${s.metric.topic} ${Number(s.value[1])}`)
      .sort();
  const scraped = await waitForValue(
    'the DLQ counts scraped',
    reported,
    (lines) => JSON.stringify(lines) === JSON.stringify(expected),
    60_000,
  );
  t.deepEqual(scraped, expected);
});
