import test from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { start, type ConfigServerSettings, type RunningConfigServer } from '../../src/start.js';

// Real Git repositories made with the git CLI in temporary folders, served by a config server on port 0.

const workDir = mkdtempSync(join(tmpdir(), 'config-server-test-'));
test.after.always(() => rmSync(workDir, { recursive: true, force: true }));

function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@t', '-c', 'commit.gpgsign=false', ...args], {
    cwd,
    encoding: 'utf8',
  }).trim();
}

function write(repo: string, path: string, text: string): void {
  const file = join(repo, path);
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
}

function commit(repo: string, message: string): string {
  git(repo, 'add', '-A');
  git(repo, 'commit', '-q', '-m', message);
  return git(repo, 'rev-parse', 'HEAD');
}

let repoCount = 0;

/**
 * A repository with commit A on main (tagged v1, annotated), branch feature/x one commit past A, and main
 * one commit past A: `order-test.yml`'s `feature.flag` is `a`, `x` and `b` on them.
 */
function makeRepo(): { repo: string; a: string; x: string; b: string } {
  const repo = join(workDir, `repo-${++repoCount}`);
  mkdirSync(repo);
  git(repo, 'init', '-q', '-b', 'main');
  write(repo, 'config-repo/application.yml', 'shared:\n  greeting: hello\n  timeoutMs: 1000\norder:\n  retries: 1\n');
  write(repo, 'config-repo/application-test.yml', 'shared:\n  greeting: hello-test\n');
  write(
    repo,
    'config-repo/order.yml',
    'order:\n  retries: 3\n  enabled: true\n  tags: [a, b, c]\n  routes:\n    - id: one\n      weight: 1.5\n    - id: two\n      note: null\n',
  );
  write(repo, 'config-repo/order-test.yml', 'order:\n  retries: 5\n  tags: [t]\nfeature:\n  flag: a\n');
  write(repo, 'config-repo/broken.yml', 'broken: [1, 2\n');
  write(repo, 'README.md', 'not config\n');
  const a = commit(repo, 'A');
  git(repo, 'tag', '-a', 'v1', '-m', 'v1');
  git(repo, 'checkout', '-q', '-b', 'feature/x');
  write(repo, 'config-repo/order-test.yml', 'order:\n  retries: 5\n  tags: [t]\nfeature:\n  flag: x\n');
  const x = commit(repo, 'X');
  git(repo, 'checkout', '-q', 'main');
  write(repo, 'config-repo/order-test.yml', 'order:\n  retries: 5\n  tags: [t]\nfeature:\n  flag: b\n');
  const b = commit(repo, 'B');
  return { repo, a, x, b };
}

function settingsFor(uri: string, git: Partial<ConfigServerSettings['git']> = {}): ConfigServerSettings {
  return {
    service: { name: 'config-server', instanceId: 'config-server-test' },
    http: { host: '127.0.0.1', port: 0 },
    git: { uri, cloneDir: '', searchPaths: 'config-repo', defaultLabel: '', refreshSeconds: 0, timeoutSeconds: 10, ...git },
    eureka: { serviceUrl: [], renewalIntervalSeconds: 5, leaseDurationSeconds: 15 },
  };
}

const servers: RunningConfigServer[] = [];
test.after.always(async () => {
  await Promise.all(servers.map((server) => server.stop()));
});

async function serve(uri: string, git: Partial<ConfigServerSettings['git']> = {}): Promise<RunningConfigServer> {
  const server = await start(settingsFor(uri, git));
  servers.push(server);
  return server;
}

/** A GET with the path sent exactly as written (fetch would normalise `..` and `%2e%2e` away). */
function get(base: string, path: string): Promise<{ status: number; type: string; text: string; json: any }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method: 'GET' }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'] ?? '', text, json });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const shared = makeRepo();
let sharedServer: RunningConfigServer;
test.before(async () => {
  sharedServer = await serve(shared.repo);
});
const prefix = `file:${shared.repo}/config-repo`;

test('GET /order/test: Spring Cloud Config JSON, most specific source first, version is the HEAD commit', async (t) => {
  const res = await get(sharedServer.url, '/order/test');
  t.is(res.status, 200);
  t.regex(res.type, /^application\/json/);
  t.is(res.json.version, git(shared.repo, 'rev-parse', 'HEAD'));
  t.deepEqual(res.json, {
    name: 'order',
    profiles: ['test'],
    label: 'main',
    version: shared.b,
    state: null,
    propertySources: [
      { name: `${prefix}/order-test.yml`, source: { 'order.retries': 5, 'order.tags[0]': 't', 'feature.flag': 'b' } },
      {
        name: `${prefix}/order.yml`,
        source: {
          'order.retries': 3,
          'order.enabled': true,
          'order.tags[0]': 'a',
          'order.tags[1]': 'b',
          'order.tags[2]': 'c',
          'order.routes[0].id': 'one',
          'order.routes[0].weight': 1.5,
          'order.routes[1].id': 'two',
          'order.routes[1].note': null,
        },
      },
      { name: `${prefix}/application-test.yml`, source: { 'shared.greeting': 'hello-test' } },
      { name: `${prefix}/application.yml`, source: { 'shared.greeting': 'hello', 'shared.timeoutMs': 1000, 'order.retries': 1 } },
    ],
  });
});

test('several profiles: the last one is the most specific', async (t) => {
  const res = await get(sharedServer.url, '/order/test,default');
  t.deepEqual(res.json.profiles, ['test', 'default']);
  t.deepEqual(
    res.json.propertySources.map((s: { name: string }) => s.name),
    [`${prefix}/order-test.yml`, `${prefix}/order.yml`, `${prefix}/application-test.yml`, `${prefix}/application.yml`],
  );
});

test('application "application" lists each file once; an unknown application gets the shared files', async (t) => {
  const own = await get(sharedServer.url, '/application/test');
  t.deepEqual(
    own.json.propertySources.map((s: { name: string }) => s.name),
    [`${prefix}/application-test.yml`, `${prefix}/application.yml`],
  );
  const unknown = await get(sharedServer.url, '/nobody/default');
  t.is(unknown.status, 200);
  t.deepEqual(
    unknown.json.propertySources.map((s: { name: string }) => s.name),
    [`${prefix}/application.yml`],
  );
});

test('labels: branch, feature(_)x, annotated tag, full and short commit ids', async (t) => {
  const flag = async (label: string) => {
    const res = await get(sharedServer.url, `/order/test/${label}`);
    t.is(res.status, 200, label);
    return { flag: res.json.propertySources[0].source['feature.flag'], version: res.json.version, label: res.json.label };
  };
  t.deepEqual(await flag('main'), { flag: 'b', version: shared.b, label: 'main' });
  t.deepEqual(await flag('feature(_)x'), { flag: 'x', version: shared.x, label: 'feature/x' });
  t.deepEqual(await flag('v1'), { flag: 'a', version: shared.a, label: 'v1' });
  t.deepEqual(await flag(shared.a), { flag: 'a', version: shared.a, label: shared.a });
  t.deepEqual(await flag(shared.x.slice(0, 7)), { flag: 'x', version: shared.x, label: shared.x.slice(0, 7) });
  t.deepEqual(await flag(shared.a.slice(0, 12).toUpperCase()), {
    flag: 'a',
    version: shared.a,
    label: shared.a.slice(0, 12).toUpperCase(),
  });
});

test('an unknown label, or an id that is no commit, is a 404 LABEL_NOT_FOUND', async (t) => {
  const blob = git(shared.repo, 'rev-parse', 'main:config-repo/order.yml');
  for (const label of ['nope', 'feature(_)y', 'deadbeefdeadbeef', 'f'.repeat(40), blob, blob.slice(0, 10)]) {
    const res = await get(sharedServer.url, `/order/test/${label}`);
    t.is(res.status, 404, label);
    t.is(res.json.error.code, 'LABEL_NOT_FOUND', label);
  }
});

test('bad names, traversal attempts and encoded separators are 400s', async (t) => {
  const paths = [
    '/order/test/..',
    '/order/test/%2e%2e',
    '/order/../../etc/passwd',
    '/order/test/..%2f..%2fetc',
    '/..%2f..%2fetc%2fpasswd/default',
    '/%2Fetc%2Fpasswd/default',
    '//etc/passwd',
    '/order/test/feature%2Fx',
    '/order/test/a%5Cb',
    '/order/test/a\\b',
    '/order/test/a%00',
    '/order%00/test',
    '/order/te%2e%2est',
    '/order/test/.hidden',
    '/order/test/main.lock',
    '/order/test/a%20b',
    '/order/test/%zz',
    `/order/test/${'a'.repeat(201)}`,
    '/.git/config',
    '/%2e%2e-test.yml',
    '/main/..-test.properties',
  ];
  for (const path of paths) {
    const res = await get(sharedServer.url, path);
    t.is(res.status, 400, path);
    t.true(['BAD_REQUEST', 'INVALID_NAME'].includes(res.json?.error?.code), `${path}: ${res.text}`);
  }
});

test('file endpoints: merged .yml, .properties and .json, with and without a label', async (t) => {
  const yml = await get(sharedServer.url, '/order-test.yml');
  t.is(yml.status, 200);
  t.regex(yml.type, /^text\/plain/);
  const expected = {
    shared: { greeting: 'hello-test', timeoutMs: 1000 },
    // Lists are replaced whole by the more specific file: order-test.yml's [t], not [t, b, c].
    order: {
      retries: 5,
      tags: ['t'],
      enabled: true,
      routes: [
        { id: 'one', weight: 1.5 },
        { id: 'two', note: null },
      ],
    },
    feature: { flag: 'b' },
  };
  t.deepEqual(parseYaml(yml.text), expected);
  const yaml = await get(sharedServer.url, '/order-test.yaml');
  t.deepEqual(parseYaml(yaml.text), expected);

  const json = await get(sharedServer.url, '/feature(_)x/order-test.json');
  t.regex(json.type, /^application\/json/);
  t.deepEqual(json.json, { ...expected, feature: { flag: 'x' } });

  const properties = await get(sharedServer.url, '/v1/order-test.properties');
  t.regex(properties.type, /^text\/plain/);
  t.is(
    properties.text,
    [
      'feature.flag=a',
      'order.enabled=true',
      'order.retries=5',
      'order.routes[0].id=one',
      'order.routes[0].weight=1.5',
      'order.routes[1].id=two',
      'order.routes[1].note=',
      'order.tags[0]=t',
      'shared.greeting=hello-test',
      'shared.timeoutMs=1000',
      '',
    ].join('\n'),
  );
  const plain = await get(sharedServer.url, '/order-default.properties');
  t.regex(plain.text, /^order\.retries=3$/m);
  t.is((await get(sharedServer.url, '/nolabel/order-test.yml')).status, 404);
  t.is((await get(sharedServer.url, '/order.yml')).status, 404);
  t.is((await get(sharedServer.url, '/order/test.yml')).status, 404);
});

test('a file that is not valid YAML is a 500 CONFIG_FILE_INVALID naming the file and commit', async (t) => {
  const res = await get(sharedServer.url, '/broken/default');
  t.is(res.status, 500);
  t.is(res.json.error.code, 'CONFIG_FILE_INVALID');
  t.regex(res.json.error.message, new RegExp(`config-repo/broken\\.yml at commit ${shared.b}`));
  t.is((await get(sharedServer.url, '/broken-default.yml')).status, 500);
  // Other applications do not read it, and the server goes on.
  t.is((await get(sharedServer.url, '/order/default')).status, 200);
});

test("health names the default label's commit; unknown routes are JSON 404s", async (t) => {
  const health = await get(sharedServer.url, '/health');
  t.is(health.status, 200);
  t.like(health.json, { status: 'UP', label: 'main', version: shared.b });
  const metrics = await get(sharedServer.url, '/metrics');
  t.regex(metrics.text, /http_request_duration_seconds/);
  const missing = await get(sharedServer.url, '/a/b/c/d');
  t.is(missing.status, 404);
  t.is(missing.json.error.code, 'NOT_FOUND');
});

test('only committed configuration is served, and a new commit at once', async (t) => {
  const { repo, b } = makeRepo();
  const server = await serve(repo);
  const flag = async () => {
    const res = await get(server.url, '/order/test');
    return [res.json.propertySources[0].source['feature.flag'], res.json.version];
  };
  t.deepEqual(await flag(), ['b', b]);
  write(repo, 'config-repo/order-test.yml', 'feature:\n  flag: uncommitted\n');
  write(repo, 'config-repo/order-dev.yml', 'new: file\n');
  t.deepEqual(await flag(), ['b', b]);
  t.is((await get(server.url, '/order/dev')).json.propertySources.length, 2);
  const c = commit(repo, 'C');
  t.deepEqual(await flag(), ['uncommitted', c]);
  t.is((await get(server.url, '/order/dev')).json.propertySources[0].name, `file:${repo}/config-repo/order-dev.yml`);
  // A branch moved back (reset) is served as it is now too.
  git(repo, 'reset', '-q', '--hard', b);
  t.deepEqual(await flag(), ['b', b]);
  // Objects moved into a new pack (and the old pack deleted) while the server runs are still found.
  git(repo, 'gc', '-q', '--prune=now');
  t.deepEqual(await flag(), ['b', b]);
  write(repo, 'config-repo/order-test.yml', 'feature:\n  flag: packed\n');
  const d = commit(repo, 'D');
  git(repo, 'gc', '-q', '--prune=now');
  t.deepEqual(await flag(), ['packed', d]);
});

test('any Git repository: a bare one, a .git directory, a file:// URL; another search path and default label', async (t) => {
  const bare = join(workDir, 'bare.git');
  git(workDir, 'clone', '-q', '--bare', shared.repo, bare);
  const fromBare = await serve(bare);
  const res = await get(fromBare.url, '/order/test/feature(_)x');
  t.is(res.json.version, shared.x);
  t.is(res.json.propertySources[0].name, `file:${bare}/config-repo/order-test.yml`);

  const fromDotGit = await serve(join(shared.repo, '.git'));
  t.is((await get(fromDotGit.url, '/order/test')).json.version, shared.b);

  const url = pathToFileURL(shared.repo).href;
  const fromUrl = await serve(url, { defaultLabel: 'feature/x', searchPaths: '' });
  const root = await get(fromUrl.url, '/README/default');
  t.is(root.json.label, 'feature/x');
  t.is(root.json.version, shared.x);
  // The search path is the root: config-repo's files are not there, and README.md is no config file.
  t.deepEqual(root.json.propertySources, []);
});

test('with no git.uri, this repository is served, from its config-repo folder', async (t) => {
  // This file runs from services/config-server/dist/test/integration/.
  const repoRoot = fileURLToPath(new URL('../../../../../', import.meta.url));
  const server = await serve('');
  const health = await get(server.url, '/health');
  t.is(health.status, 200);
  t.is(health.json.version, git(repoRoot, 'rev-parse', health.json.label));
  const res = await get(server.url, '/order/default');
  t.is(res.status, 200);
  for (const source of res.json.propertySources) t.true(source.name.startsWith(`file:${repoRoot}config-repo/`));
});

test('a repository on a non-existent path fails the start', async (t) => {
  await t.throwsAsync(start(settingsFor(join(workDir, 'missing'))), { message: /not a Git repository/ });
});

/**
 * Git's smart HTTP protocol on 127.0.0.1, through `git http-backend` as CGI, so the clone-and-fetch path
 * runs without a network.
 */
async function gitHttpServer(projectRoot: string): Promise<{ url: string; server: Server }> {
  const backend = execFileSync('git', ['--exec-path'], { encoding: 'utf8' }).trim() + '/git-http-backend';
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const cgi = spawn(backend, [], {
      env: {
        PATH: process.env.PATH ?? '',
        GIT_PROJECT_ROOT: projectRoot,
        GIT_HTTP_EXPORT_ALL: '1',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        REQUEST_METHOD: req.method ?? 'GET',
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        HTTP_CONTENT_ENCODING: req.headers['content-encoding'] ?? '',
        GIT_PROTOCOL: String(req.headers['git-protocol'] ?? ''),
        REMOTE_ADDR: '127.0.0.1',
      },
    });
    req.pipe(cgi.stdin);
    const chunks: Buffer[] = [];
    cgi.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    cgi.on('close', () => {
      const out = Buffer.concat(chunks);
      const split = out.indexOf('\r\n\r\n');
      const headerText = out.subarray(0, split).toString('latin1');
      let status = 200;
      for (const line of headerText.split('\r\n')) {
        const colon = line.indexOf(':');
        const name = line.slice(0, colon).trim();
        const value = line.slice(colon + 1).trim();
        if (name.toLowerCase() === 'status') status = Number.parseInt(value, 10);
        else if (name) res.setHeader(name, value);
      }
      res.statusCode = status;
      res.end(out.subarray(split + 4));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

test('an http(s) repository is cloned, and fetched again when a request comes', async (t) => {
  const { repo, x, b } = makeRepo();
  const projectRoot = join(workDir, 'http');
  mkdirSync(projectRoot);
  git(workDir, 'clone', '-q', '--bare', repo, join(projectRoot, 'config.git'));
  const origin = await gitHttpServer(projectRoot);
  t.teardown(() => {
    if (origin.server.listening) origin.server.close();
  });
  const cloneDir = join(workDir, 'clone');
  const server = await serve(`${origin.url}/config.git`, { cloneDir, refreshSeconds: 0 });

  const first = await get(server.url, '/order/test');
  t.is(first.status, 200, first.text);
  t.is(first.json.version, b);
  t.is(first.json.propertySources[0].name, `${origin.url}/config.git/config-repo/order-test.yml`);
  t.is((await get(server.url, '/order/test/feature(_)x')).json.version, x);
  t.is((await get(server.url, '/order/test/v1')).json.propertySources[0].source['feature.flag'], 'a');

  // A new commit on the remote's main is fetched by the next request.
  write(repo, 'config-repo/order-test.yml', 'feature:\n  flag: pushed\n');
  const c = commit(repo, 'C');
  git(repo, 'push', '-q', join(projectRoot, 'config.git'), 'main');
  const after = await get(server.url, '/order/test');
  t.is(after.json.version, c);
  t.is(after.json.propertySources[0].source['feature.flag'], 'pushed');

  // A later run reuses the clone.
  const again = await serve(`${origin.url}/config.git`, { cloneDir, refreshSeconds: 60 });
  t.is((await get(again.url, '/order/test')).json.version, c);

  // With the remote gone, the clone is served as it is.
  await new Promise((resolve) => origin.server.close(resolve));
  const offline = await get(server.url, '/order/test');
  t.is(offline.status, 200);
  t.is(offline.json.version, c);
});

test('a clone directory holding something else is left alone: 503 GIT_UNAVAILABLE', async (t) => {
  const cloneDir = join(workDir, 'occupied');
  write(cloneDir, 'precious.txt', 'mine');
  const server = await serve('http://127.0.0.1:9/nothing.git', { cloneDir, timeoutSeconds: 5 });
  const res = await get(server.url, '/order/default');
  t.is(res.status, 503);
  t.is(res.json.error.code, 'GIT_UNAVAILABLE');
  t.is((await get(server.url, '/health')).status, 503);
});
