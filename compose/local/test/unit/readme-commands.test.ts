import test from 'ava';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

// The README and docs/ are read by people who type what they show. These checks keep two promises that drift
// quietly when code moves: every `npm run <script>` they show names a script that exists, and every relative
// link lands on a file (and a heading) that exists.

/** The repository's root: the nearest folder above this file whose package.json declares workspaces. */
function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && 'workspaces' in JSON.parse(readFileSync(manifest, 'utf8'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('no package.json with workspaces above this test');
    dir = parent;
  }
}

const root = repositoryRoot();

/** README.md and every markdown file under docs/, as paths relative to the root. */
function markdownFiles(): string[] {
  const found = ['README.md'];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.md')) found.push(path);
    }
  };
  walk('docs');
  return found.sort();
}

interface Fence {
  lang: string;
  body: string;
}

/** Splits a markdown text into its fenced code blocks and the prose around them (fences blanked out). */
function splitFences(markdown: string): { fences: Fence[]; prose: string } {
  const fences: Fence[] = [];
  const prose: string[] = [];
  let open: { marker: string; lang: string; lines: string[] } | undefined;
  for (const line of markdown.split('\n')) {
    const fence = /^ {0,3}(`{3,}|~{3,})\s*([\w+-]*)/.exec(line);
    if (open) {
      if (fence && fence[1]!.startsWith(open.marker) && line.trim() === fence[1]) {
        fences.push({ lang: open.lang, body: open.lines.join('\n') });
        open = undefined;
      } else open.lines.push(line);
      prose.push('');
    } else if (fence) {
      open = { marker: fence[1]!, lang: fence[2]!.toLowerCase(), lines: [] };
      prose.push('');
    } else prose.push(line);
  }
  return { fences, prose: prose.join('\n') };
}

/** Prose with inline code spans removed, so that a `[x](y)` shown as code is not taken for a link. */
function withoutInlineCode(prose: string): string {
  return prose.replace(/(`+)[\s\S]*?\1/g, '');
}

/** The inline code spans of a prose text. */
function inlineCode(prose: string): string[] {
  return [...prose.matchAll(/(`+)([\s\S]*?)\1/g)].map((m) => m[2]!);
}

interface ScriptUse {
  script: string;
  workspace?: string;
  command: string;
}

/**
 * The package scripts a shell text runs: `npm run [-s|--silent] <script>` (with `-w <workspace>` checked against
 * that workspace) and the lifecycle shorthands `npm start|stop|test|restart`.
 */
function scriptsRun(shell: string): ScriptUse[] {
  const uses: ScriptUse[] = [];
  // A backslash-newline continues the command on the next line.
  for (const line of shell.replace(/\\\n/g, ' ').split('\n')) {
    for (const m of line.matchAll(/\bnpm\s+((?:run|run-script)\b[^|;&)#]*|start\b|stop\b|test\b|restart\b)/g)) {
      const words = m[1]!.trim().split(/\s+/);
      if (words[0] !== 'run' && words[0] !== 'run-script') {
        uses.push({ script: words[0]!, command: m[0].trim() });
        continue;
      }
      let script: string | undefined;
      let workspace: string | undefined;
      for (let i = 1; i < words.length; i++) {
        const word = words[i]!;
        if (word === '--') break;
        if (word === '-w' || word === '--workspace') workspace = words[++i];
        else if (word.startsWith('--workspace=')) workspace = word.slice('--workspace='.length);
        else if (word.startsWith('-')) continue;
        else if (script === undefined) script = word;
      }
      if (script !== undefined) uses.push({ script, workspace, command: m[0].trim() });
    }
  }
  return uses;
}

function scriptsOf(packageDir: string): Record<string, string> {
  const manifest = JSON.parse(readFileSync(join(root, packageDir, 'package.json'), 'utf8')) as {
    scripts?: Record<string, string>;
  };
  return manifest.scripts ?? {};
}

/** Every script use that names no script, as `file: command` lines. */
function missingScripts(pick: (markdown: string) => string[]): string[] {
  const rootScripts = scriptsOf('.');
  const missing: string[] = [];
  for (const file of markdownFiles()) {
    for (const shell of pick(readFileSync(join(root, file), 'utf8'))) {
      for (const use of scriptsRun(shell)) {
        const scripts = use.workspace === undefined ? rootScripts : scriptsOf(use.workspace);
        if (!(use.script in scripts)) missing.push(`${file}: ${use.command}`);
      }
    }
  }
  return missing;
}

/**
 * GitHub's anchor for a heading: the text without markup, lower-cased, everything but letters, digits, `_`,
 * `-` and spaces dropped, spaces made hyphens (what github-slugger does).
 */
function slug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .replace(/[`*]/g, '')
    .replace(/(^|\s)_+|_+(\s|$)/g, '$1$2');
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** The anchors of a markdown file's headings, with GitHub's `-1`, `-2` … for repeated ones. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const line of splitFences(markdown).prose.split('\n')) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!heading) continue;
    const base = slug(heading[1]!);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** The targets of a markdown file's inline links and images, outside code. */
function linkTargets(markdown: string): string[] {
  const prose = withoutInlineCode(splitFences(markdown).prose);
  return [...prose.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!);
}

test('every npm script named in a bash block of README.md or docs/ exists in package.json', (t) => {
  const bashBlocks = (markdown: string) =>
    splitFences(markdown)
      .fences.filter((f) => f.lang === 'bash' || f.lang === 'sh' || f.lang === 'shell')
      .map((f) => f.body);
  const used = markdownFiles().flatMap((file) => bashBlocks(readFileSync(join(root, file), 'utf8')).flatMap(scriptsRun));
  t.true(used.length > 10, `the docs show npm scripts (found ${used.length})`);
  t.deepEqual(missingScripts(bashBlocks), []);
});

test('every npm script named in inline code of README.md or docs/ exists in package.json', (t) => {
  t.deepEqual(
    missingScripts((markdown) => inlineCode(splitFences(markdown).prose)),
    [],
  );
});

test('the script reader finds what a command line runs', (t) => {
  t.deepEqual(
    scriptsRun(
      'npm run -s dlq -- list --json\nTOKEN=$(npm run -s token)\nnpm start   # comment\nnpm run -s test:unit -w services/order',
    ).map((u) => [u.script, u.workspace]),
    [
      ['dlq', undefined],
      ['token', undefined],
      ['start', undefined],
      ['test:unit', 'services/order'],
    ],
  );
});

test('every relative link in README.md and docs/ points at a file in the repository, and at a heading there', (t) => {
  const broken: string[] = [];
  let checked = 0;
  for (const file of markdownFiles()) {
    for (const target of linkTargets(readFileSync(join(root, file), 'utf8'))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
      checked++;
      const [pathPart, anchor] = target.split('#', 2) as [string, string | undefined];
      const resolved = pathPart === '' ? join(root, file) : resolve(root, dirname(file), decodeURI(pathPart));
      const inside = relative(root, resolved);
      if (inside.startsWith('..') || inside.startsWith(sep)) {
        broken.push(`${file}: ${target} leaves the repository`);
        continue;
      }
      if (!existsSync(resolved)) {
        broken.push(`${file}: ${target} (no such file)`);
        continue;
      }
      if (anchor === undefined) continue;
      if (!resolved.endsWith('.md') || statSync(resolved).isDirectory()) {
        broken.push(`${file}: ${target} (an anchor into a file that is not markdown)`);
        continue;
      }
      if (!anchorsOf(readFileSync(resolved, 'utf8')).has(anchor)) {
        broken.push(`${file}: ${target} (no heading with that anchor)`);
      }
    }
  }
  t.true(checked > 20, `the docs link to files (checked ${checked})`);
  t.deepEqual(broken, []);
});

test('anchors are made as GitHub makes them', (t) => {
  t.deepEqual(
    [
      ...anchorsOf(
        '# The supervisor: dead components come back\n```\n# not a heading\n```\n## `npm run dlq`, re-driving\n## Notes\n## Notes',
      ),
    ],
    ['the-supervisor-dead-components-come-back', 'npm-run-dlq-re-driving', 'notes', 'notes-1'],
  );
  t.is(slug('What the throughput work bought'), 'what-the-throughput-work-bought');
  t.is(slug('Deadline, late events and replays'), 'deadline-late-events-and-replays');
  t.is(slug('0011: Deduplication window (192 h)'), '0011-deduplication-window-192-h');
});
