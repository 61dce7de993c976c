import test from 'ava';
import { connectorFiles, connectorStatus } from '@cdc-outbox-saga/local-stack';
import { stack } from '../helpers/stack.js';

const connectors = connectorFiles();

test('there is one outbox connector per service database', (t) => {
  t.deepEqual(
    connectors.map((c) => c.config['table.include.list']).sort(),
    ['order_db.outbox', 'product_db.outbox', 'user_db.outbox'],
  );
});

for (const { name, config } of connectors) {
  test(`${name}: the connector and every task report RUNNING`, async (t) => {
    const status = await connectorStatus(stack.connectUrl, name);
    t.is(status.connector.state, 'RUNNING');
    t.true(status.tasks.length > 0);
    for (const task of status.tasks) t.is(task.state, 'RUNNING', `task ${task.id}: ${task.trace ?? ''}`);
  });

  test(`${name}: Connect runs exactly the config in connectors/${name}.json, credentials unresolved`, async (t) => {
    const response = await fetch(`${stack.connectUrl}/connectors/${name}/config`);
    const running = (await response.json()) as Record<string, string>;
    const { name: registeredName, ...rest } = running;
    t.is(registeredName, name);
    t.deepEqual(rest, config);
    t.is(running['database.password'], '${env:DEBEZIUM_DB_PASSWORD}');
  });
}
