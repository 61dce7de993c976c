import { audit } from './audit.js';
import { closeDatabases, openDatabases } from './databases.js';
import { orderDeadlineSeconds } from './order-deadline.js';

// npm run audit [-- --pending-grace-seconds N] [-- --deadline-seconds N]: exits 1 when any invariant is broken.
function numberArg(name: string): number | undefined {
  const at = process.argv.indexOf(name);
  return at > 0 ? Number(process.argv[at + 1]) : undefined;
}

const pendingGraceSeconds = numberArg('--pending-grace-seconds') ?? 30;
const deadlineSeconds = await orderDeadlineSeconds(numberArg('--deadline-seconds'));
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
