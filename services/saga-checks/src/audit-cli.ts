import { readFileSync } from 'node:fs';
import { configServiceTarget, fetchEnvironment, settingsLayer } from '@cdc-outbox-saga/platform';
import { audit } from './audit.js';
import { closeDatabases, openDatabases } from './databases.js';

// npm run audit [-- --pending-grace-seconds N] [-- --deadline-seconds N]: exits 1 when any invariant is broken.
function numberArg(name: string): number | undefined {
  const at = process.argv.indexOf(name);
  return at > 0 ? Number(process.argv[at + 1]) : undefined;
}

/**
 * The saga deadline the order service runs with: `--deadline-seconds`, else what the config service serves
 * the order service, else the order service's built-in default.
 */
async function orderDeadlineSeconds(): Promise<number> {
  const given = numberArg('--deadline-seconds');
  if (given !== undefined) return given;
  try {
    const layer = settingsLayer(await fetchEnvironment(configServiceTarget('order')));
    const served = (layer.saga as { deadlineSeconds?: unknown } | undefined)?.deadlineSeconds;
    if (served !== undefined) return Number(served);
  } catch {
    // No config service: the order service runs on its own files too.
  }
  const defaults = JSON.parse(readFileSync(new URL('../../../order/config/default.json', import.meta.url), 'utf8')) as {
    saga: { deadlineSeconds: number };
  };
  return defaults.saga.deadlineSeconds;
}

const pendingGraceSeconds = numberArg('--pending-grace-seconds') ?? 30;
const deadlineSeconds = await orderDeadlineSeconds();
const dbs = openDatabases();
try {
  const findings = await audit(dbs, { pendingGraceSeconds, deadlineSeconds });
  const counts = (await dbs.order('sagas').select('status').count({ n: '*' }).groupBy('status')) as Array<{ status: string; n: number }>;
  console.log(`sagas: ${counts.map((s) => `${s.status} ${s.n}`).join(', ') || 'none'} (deadline ${deadlineSeconds} s)`);
  if (findings.length === 0) {
    console.log('audit: clean (orders, payments, stock and points agree across the three databases)');
  } else {
    for (const f of findings.slice(0, 200)) console.log(`✗ ${f.check} ${f.subject}: ${f.message}`);
    console.log(`audit: ${findings.length} finding(s)`);
    process.exitCode = 1;
  }
} finally {
  await closeDatabases(dbs);
}
