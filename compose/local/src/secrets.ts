import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Every password of the native stack, by name. Each is made on first use as 32 random bytes
 * (base64url, so it needs no quoting in SQL, a properties file or a URL's user-info) into
 * `<state folder>/secrets/<name>`, mode 0600, and read from there afterwards; `npm run stack:reset`
 * deletes them with the data they protect. None is written in the repository.
 */
export const secretNames = [
  'db-debezium',
  'db-exporter',
  'db-order-runtime',
  'db-order-migrate',
  'db-product-runtime',
  'db-product-migrate',
  'db-user-runtime',
  'db-user-migrate',
  'db-auditor',
  'eureka',
  'connect-rest',
] as const;
export type SecretName = (typeof secretNames)[number];

/** The folder of the secrets; `stateDir` is the stack's state folder (settings.stateDir). */
export function secretsDir(stateDir: string): string {
  return join(stateDir, 'secrets');
}

/**
 * The secret `name`, made now if it is not there yet. Two processes that make the same secret at once
 * agree on one: the file is written aside and linked into place, and a link that finds the file already
 * there reads the winner's.
 */
export function stackSecret(stateDir: string, name: SecretName): string {
  const dir = secretsDir(stateDir);
  const file = join(dir, name);
  if (!existsSync(file)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
    try {
      linkSync(temporary, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    } finally {
      rmSync(temporary, { force: true });
    }
  }
  // One restored from a backup may have lost its mode; it is a secret either way.
  chmodSync(file, 0o600);
  const value = readFileSync(file, 'utf8').trim();
  if (!/^[A-Za-z0-9_-]{16,}$/.test(value)) {
    throw new Error(`${file} does not hold a usable secret (16 or more base64url characters); delete it and a new one is made`);
  }
  return value;
}
