import test from 'ava';
import { connectApiFromEnv, connectFetch, connectorFiles, prometheusUrl } from '@cdc-outbox-saga/local-stack';
import { waitFor } from '../helpers/discovery.js';
import { query } from '../helpers/prometheus.js';

const connect = connectApiFromEnv();
const connector = connectorFiles()[0]!.name;

interface Alert {
  labels: Record<string, string>;
  state: 'pending' | 'firing';
}

async function alertState(): Promise<Alert['state'] | 'inactive'> {
  const body = (await (await fetch(`${prometheusUrl}/api/v1/alerts`)).json()) as { data: { alerts: Alert[] } };
  const alert = body.data.alerts.find((a) => a.labels.alertname === 'ConnectorNotRunning' && a.labels.connector === connector);
  return alert?.state ?? 'inactive';
}

async function connectorState(): Promise<string> {
  const body = (await (await connectFetch(connect, `/connectors/${connector}/status`)).json()) as { connector: { state: string } };
  return body.connector.state;
}

// Disruptive: it pauses the outbox connector (no service's event is published meanwhile).
test.serial('pausing a connector makes ConnectorNotRunning fire on the live Prometheus within the time the rule states', async (t) => {
  t.is(await alertState(), 'inactive');
  const pausedAt = Date.now();
  const paused = await connectFetch(connect, `/connectors/${connector}/pause`, { method: 'PUT' });
  t.is(paused.status, 202);
  t.teardown(async () => {
    await connectFetch(connect, `/connectors/${connector}/resume`, { method: 'PUT' });
    await waitFor(`${connector} RUNNING again`, connectorState, (state) => state === 'RUNNING', 60_000);
  });
  // The rule says `for: 1m`; add a scrape of the Connect job (15 s) and an evaluation (5 s) before it
  // starts counting, and a little slack for the scrape itself.
  await waitFor('the alert firing', alertState, (state) => state === 'firing', 100_000);
  const firedAfterMs = Date.now() - pausedAt;
  t.true(firedAfterMs >= 60_000, `fired after ${firedAfterMs} ms, before its 1 min 'for' passed`);
  t.true(firedAfterMs <= 95_000, `fired after ${firedAfterMs} ms`);
  t.log(`ConnectorNotRunning fired ${firedAfterMs} ms after the connector was paused`);
  const [running] = await query(
    `sum by (connector) (kafka_connect_connect_worker_metrics_connector_running_task_count{connector="${connector}"})`,
  );
  t.is(running?.value[1], '0');
});
