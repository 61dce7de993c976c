import test from 'ava';
import { connectFetch, connectorFiles, connectorStatus } from '@cdc-outbox-saga/local-stack';
import { stack } from '../helpers/stack.js';

const connectors = connectorFiles();

test("one outbox connector for the database server captures each service database's outbox table, and nothing else", (t) => {
  t.is(connectors.length, 1, 'one binlog reader for the one server (decision 0016)');
  t.deepEqual(connectors[0]!.config['table.include.list']?.split(',').sort(), ['order_db.outbox', 'product_db.outbox', 'user_db.outbox']);
  t.deepEqual(connectors[0]!.config['database.include.list']?.split(',').sort(), ['order_db', 'product_db', 'user_db']);
});

for (const { name, config } of connectors) {
  test(`${name}: the connector and every task report RUNNING`, async (t) => {
    const status = await connectorStatus(stack.connect, name);
    t.is(status.connector.state, 'RUNNING');
    t.true(status.tasks.length > 0);
    for (const task of status.tasks) t.is(task.state, 'RUNNING', `task ${task.id}: ${task.trace ?? ''}`);
  });

  test(`${name}: Connect runs exactly the config in connectors/${name}.json, credentials unresolved`, async (t) => {
    const response = await connectFetch(stack.connect, `/connectors/${name}/config`);
    const running = (await response.json()) as Record<string, string>;
    const { name: registeredName, ...rest } = running;
    t.is(registeredName, name);
    t.deepEqual(rest, config);
    t.is(running['database.password'], '${env:DEBEZIUM_DB_PASSWORD}');
  });
}

test("Connect's REST API answers 401 without credentials and with a wrong password", async (t) => {
  for (const path of ['/', '/connectors', `/connectors/${connectorFiles()[0]!.name}/config`, '/connector-plugins']) {
    const anonymous = await fetch(`${stack.connect.url}${path}`);
    await anonymous.arrayBuffer();
    t.is(anonymous.status, 401, `GET ${path} without credentials`);
  }
  const wrong = await connectFetch({ ...stack.connect, password: `${stack.connect.password}x` }, '/connectors');
  await wrong.arrayBuffer();
  t.is(wrong.status, 401, 'GET /connectors with a wrong password');
});

/** Connect's validation of `config` (nothing is created); config providers are resolved in it as on a start. */
async function validate(config: Record<string, string>): Promise<Map<string, { value: string | null; errors: string[] }>> {
  const response = await connectFetch(stack.connect, `/connector-plugins/${config['connector.class']}/config/validate`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(config),
  });
  const body = (await response.json()) as { configs?: Array<{ value: { name: string; value: string | null; errors: string[] } }> };
  if (!response.ok || !body.configs) throw new Error(`validate answered ${response.status}: ${JSON.stringify(body).slice(0, 300)}`);
  return new Map(body.configs.map(({ value }) => [value.name, value]));
}

test('a connector may not override its producer settings (client config override policy None)', async (t) => {
  const { config } = connectors[0]!;
  const result = await validate({ ...config, name: 'override-probe', 'producer.override.bootstrap.servers': '192.0.2.1:9092' });
  const override = result.get('producer.override.bootstrap.servers');
  t.truthy(override, 'the override is validated');
  t.true((override?.errors.length ?? 0) > 0, `refused: ${JSON.stringify(override)}`);
});

test('the env config provider serves only the variables the connectors read', async (t) => {
  const { config } = connectors[0]!;
  // `name` is echoed back as resolved: an allowed variable is filled in, any other stays a placeholder.
  const allowed = await validate({ ...config, name: '${env:KAFKA_BOOTSTRAP_SERVERS}' });
  t.not(allowed.get('name')?.value, '${env:KAFKA_BOOTSTRAP_SERVERS}', 'an allowed variable is resolved');
  const other = await validate({ ...config, name: '${env:PATH}' });
  t.is(other.get('name')?.value, '${env:PATH}', 'PATH is not served');
});
