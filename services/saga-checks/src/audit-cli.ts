import { audit } from './audit.js';
import { closeDatabases, openDatabases } from './databases.js';

// npm run audit [-- --pending-grace-seconds N]: exits 1 when any invariant is broken.
const graceArg = process.argv.indexOf('--pending-grace-seconds');
const pendingGraceSeconds = graceArg > 0 ? Number(process.argv[graceArg + 1]) : 30;
const dbs = openDatabases();
try {
  const findings = await audit(dbs, { pendingGraceSeconds });
  const counts = (await dbs.order('sagas').select('status').count({ n: '*' }).groupBy('status')) as Array<{ status: string; n: number }>;
  console.log(`sagas: ${counts.map((s) => `${s.status} ${s.n}`).join(', ') || 'none'}`);
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
