import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// settings.ts reads STACK_DIR once, at import: point it at a fresh folder first, then import.
const stackDir = mkdtempSync(join(tmpdir(), 'mariadb-provisioning-'));
process.env.STACK_DIR = stackDir;
const { settings } = await import('../../src/settings.js');
const { provisioningSql } = await import('../../src/components/mariadb.js');

test.after.always(() => rmSync(stackDir, { recursive: true, force: true }));

const statements = () =>
  provisioningSql()
    .split(';\n')
    .map((s) => s.replace(/;$/, ''));
const hosts = ['127.0.0.1', 'localhost'];

test('every account gets a password of its own, generated into the state folder and readable by its owner only', (t) => {
  const sql = provisioningSql();
  const accounts = [
    ...settings.databases.flatMap((d) => [d.runtime, d.migration]),
    settings.credentials.debezium,
    settings.credentials.exporter,
    settings.credentials.auditor,
  ];
  const passwords = accounts.map((account) => {
    const file = join(stackDir, 'secrets', account.secret);
    t.is(statSync(file).mode & 0o777, 0o600, file);
    const password = readFileSync(file, 'utf8').trim();
    t.true(sql.includes(`'${account.user}'@'127.0.0.1' IDENTIFIED BY '${password}'`), account.user);
    return password;
  });
  t.is(new Set(passwords).size, accounts.length);
  // The same passwords on a second run: provisioning repeats on every start.
  t.is(provisioningSql(), sql);
});

test("accounts are made for the stack's local hosts only; '%' appears only where the old accounts are dropped", (t) => {
  const all = statements();
  const withPercent = all.filter((s) => s.includes("'%'"));
  t.is(withPercent.length, 1);
  t.regex(withPercent[0]!, /^DROP USER IF EXISTS 'order_svc'@'%', 'order_migrate'@'%', .*'debezium'@'%', 'exporter'@'%', 'auditor'@'%'$/);
  for (const statement of all.filter((s) => /^(CREATE|ALTER) USER/.test(s))) {
    t.regex(statement, /@'(127\.0\.0\.1|localhost)' IDENTIFIED BY /);
  }
});

test('a runtime account has rows only, a migration account DDL too, each on its own database, and anything else there is revoked', (t) => {
  const all = statements();
  for (const { name, runtime, migration } of settings.databases) {
    for (const host of hosts) {
      t.true(all.includes(`GRANT SELECT, INSERT, UPDATE, DELETE ON \`${name}\`.* TO '${runtime.user}'@'${host}'`));
      t.true(
        all.includes(
          `GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, DROP, INDEX, REFERENCES ON \`${name}\`.* TO '${migration.user}'@'${host}'`,
        ),
      );
      const revoke = all.find((s) => s.startsWith('REVOKE') && s.endsWith(`ON \`${name}\`.* FROM '${runtime.user}'@'${host}'`));
      const revoked = /^REVOKE (.+) ON /.exec(revoke ?? '')?.[1]?.split(', ') ?? [];
      t.true(
        ['CREATE', 'ALTER', 'DROP', 'INDEX', 'LOCK TABLES', 'GRANT OPTION'].every((p) => revoked.includes(p)),
        revoke,
      );
      t.false(
        ['SELECT', 'INSERT', 'UPDATE', 'DELETE'].some((p) => revoked.includes(p)),
        revoke,
      );
    }
    const grants = all.filter((s) => s.startsWith('GRANT') && (s.includes(`'${runtime.user}'`) || s.includes(`'${migration.user}'`)));
    t.true(
      grants.every((s) => s.includes(` ON \`${name}\`.* `)),
      'no grant beyond its own database',
    );
  }
  for (const host of hosts) {
    for (const { name } of settings.databases) t.true(all.includes(`GRANT SELECT ON \`${name}\`.* TO 'auditor'@'${host}'`));
  }
  t.false(all.some((s) => s.includes('ALL PRIVILEGES')));
});
