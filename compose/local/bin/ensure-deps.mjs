#!/usr/bin/env node
// Runs `npm install` when the dependency manifests changed since the last install, so that `npm start`
// and `npm test` work on a fresh clone without a separate install step. Plain JS: it runs before any
// dependency or build exists.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = resolve(import.meta.dirname, '../../..');
const manifests = ['package.json', 'package-lock.json', 'compose/local/package.json'];
for (const dir of readdirSync(join(root, 'services'), { withFileTypes: true })) {
  if (dir.isDirectory()) manifests.push(join('services', dir.name, 'package.json'));
}
const hash = createHash('sha256');
for (const file of manifests) {
  const path = join(root, file);
  if (existsSync(path)) hash.update(file).update(readFileSync(path));
}
const digest = hash.digest('hex');
const stamp = join(root, 'node_modules', '.cdc-outbox-saga-install');
if (existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) process.exit(0);

console.log('▶ npm install (dependency manifests changed or first run)');
const started = Date.now();
const result = spawnSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
if (result.status !== 0) {
  console.error('✗ npm install failed');
  process.exit(result.status ?? 1);
}
writeFileSync(stamp, digest);
console.log(`✓ npm install in ${((Date.now() - started) / 1000).toFixed(1)}s`);
