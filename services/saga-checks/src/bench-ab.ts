// npm run bench:ab -- --base REV [--runs 2] [--keep-data] [-- bench options]
//
// Runs the same bench against the stack of a base commit (A) and of this working tree (B), alternately
// (A B A B ...), on this machine, and prints every figure side by side with each side's spread: a change
// proves its gain only when the difference is larger than the spread between runs of the same code.
// The base is cloned once under the system's temp folder, on a branch of its own, and built there (a full
// clone, not a worktree or a --shared clone: the config service reads config-repo with isomorphic-git, which
// follows neither a worktree's common directory nor alternates); both
// sides share the state folder (fetched artifacts, secrets), and each run starts from empty data unless
// --keep-data. The load generator is this tree's bench for both sides, so the instrument does not change.
// Exit 0; 1 when a run failed or its audit found anything; 2 for a command line it does not understand.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { recordedNames, recordedPid, settings } from '@cdc-outbox-saga/local-stack';
import { abTableLines, compareRuns, figuresOf, type AbRun } from './bench/ab-report.js';
import type { BenchReport } from './bench/report.js';
import { parseCommandLine, UsageError } from './command-line.js';

const usage = `usage: npm run bench:ab -- --base REV [--runs 2] [--keep-data] [-- bench options]

  A is the stack built from REV (a commit, branch or tag), B this working tree as it is (uncommitted changes
  included). Runs the bench A B A B ... (--runs per side), each run against a stack started for it and
  stopped after it, then prints each figure's runs, means, B - A and whether the difference is larger than
  the spread between runs of the same side. Bench options after -- go to every run (npm run bench -- --help),
  for example: npm run bench:ab -- --base HEAD~1 -- --phases throughput,idle
  --keep-data   keep the data folder between runs (by default each run starts from empty databases and
                topics; keeping it is faster but each run sees the rows of the ones before it, and the two
                commits must have the same migrations and the same connectors/)

  B's config-repo/ must be committed: the config service serves it from Git, so an uncommitted change would
  run on neither side. A run whose bench fails (its audit included) is reported and left out of the table.`;

const repoRoot = resolve(import.meta.dirname, '../../../..');

function git(args: string[], cwd = repoRoot): string {
  const result = spawnSync('git', args, { cwd, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`git ${args.join(' ')}: ${(result.stderr || result.stdout).trim()}`);
  return result.stdout.trim();
}

function run(command: string, args: string[], cwd: string): number {
  console.log(`$ (cd ${cwd} && ${command} ${args.join(' ')})`);
  const result = spawnSync(command, args, { cwd, stdio: 'inherit', env: { ...process.env, STACK_DIR: settings.stateDir } });
  return result.status ?? 1;
}

/** The components whose recorded process still runs (recordedPid checks that): a run must start its own stack. */
function stackRunning(): string[] {
  return recordedNames().filter((name) => recordedPid(name) !== undefined);
}

/** The base commit checked out and built in a clone of its own (once per commit). */
function prepareBase(sha: string): string {
  const dir = join(tmpdir(), 'cdc-outbox-saga-bench-ab', sha);
  if (!existsSync(join(dir, 'package.json'))) {
    rmSync(dir, { recursive: true, force: true });
    git(['clone', '--quiet', '--no-checkout', repoRoot, dir]);
    git(['checkout', '--quiet', '-B', 'bench-ab-base', sha], dir);
  }
  if (run('node', ['compose/local/bin/ensure-deps.mjs'], dir) !== 0 || run('npm', ['run', '-s', 'build'], dir) !== 0) {
    throw new Error(`could not install or build the base in ${dir}`);
  }
  return dir;
}

function main(): number {
  const { values, positionals } = parseCommandLine({
    args: process.argv.slice(2),
    options: {
      base: { type: 'string' },
      runs: { type: 'string', default: '2' },
      'keep-data': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    allowPositionals: true,
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  if (!values.base) throw new UsageError('--base REV is required');
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new UsageError(`--runs ${values.runs}: not a whole number, 1 or more`);
  const benchArgs = positionals;
  if (benchArgs.includes('--out')) throw new UsageError('--out is chosen by bench:ab (one folder per run)');

  const refuseRunningStack = () => {
    const running = stackRunning();
    if (running.length > 0) {
      throw new UsageError(`a stack is running (${running.join(', ')}): stop it first (npm run stop); each run starts its own`);
    }
  };
  refuseRunningStack();
  if (git(['status', '--porcelain', '--', 'config-repo']) !== '') {
    throw new UsageError(
      'config-repo/ has uncommitted changes: the config service serves it from Git, so B would not run them; commit first',
    );
  }
  const baseSha = git(['rev-parse', '--verify', `${values.base}^{commit}`]);
  const headSha = git(['rev-parse', 'HEAD']);
  const dirty = git(['status', '--porcelain', '--untracked-files=no']) !== '';
  const subject = (sha: string) => {
    const text = git(['log', '-1', '--format=%s', sha]);
    return text.length > 80 ? `${text.slice(0, 79)}…` : text;
  };
  const labels = {
    a: `${values.base} (${baseSha.slice(0, 10)}): ${subject(baseSha)}`,
    b: `this tree, HEAD ${headSha.slice(0, 10)}${dirty ? ' with uncommitted changes' : ''}: ${subject(headSha)}`,
  };

  console.log(`▶ bench:ab: A = ${labels.a}`);
  console.log(`            B = ${labels.b}`);
  console.log(`            ${runs} run(s) each, alternated; bench options: ${benchArgs.join(' ') || '(defaults)'}`);
  // This tree is installed and built by `npm run bench:ab` itself, before this runs.
  const baseDir = prepareBase(baseSha);

  const resultsDir = join(repoRoot, 'bench-results', `ab-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  const bench = join(repoRoot, 'services/saga-checks/dist/src/bench.js');
  const results: AbRun[] = [];
  let failed = false;
  for (let i = 1; i <= runs; i++) {
    for (const side of ['A', 'B'] as const) {
      const tree = side === 'A' ? baseDir : repoRoot;
      console.log(`\n▶ run ${i} of ${runs}, side ${side} (${side === 'A' ? labels.a : labels.b})`);
      // run-tests would reuse a component that answers; each run must start its own.
      refuseRunningStack();
      if (!values['keep-data']) rmSync(join(settings.stateDir, 'data'), { recursive: true, force: true });
      const out = join(resultsDir, `${side}-${i}`);
      // The side's own stack (its run-tests starts it and stops it afterwards), measured by this tree's bench.
      const status = run('node', ['compose/local/dist/src/cli.js', 'run-tests', '--', 'node', bench, ...benchArgs, '--out', out], tree);
      const file = existsSync(out) ? readdirSync(out).find((f) => f.endsWith('.json')) : undefined;
      if (status !== 0 || !file) {
        console.log(`✗ run ${i}, side ${side}: exit status ${status}${file ? '' : ', no report'}; left out of the table`);
        failed = true;
        continue;
      }
      results.push({ side, run: i, figures: figuresOf(JSON.parse(readFileSync(join(out, file), 'utf8')) as BenchReport) });
    }
  }

  const rows = compareRuns(results);
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(join(resultsDir, 'ab.json'), JSON.stringify({ labels, runs: results, rows }, null, 2));
  console.log('\nsummary (CPU in ms per completed order, idle in % of one core)');
  for (const line of abTableLines(rows, labels)) console.log(line);
  console.log(`written to ${join(resultsDir, 'ab.json')}`);
  return failed ? 1 : 0;
}

try {
  process.exit(main());
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  process.stderr.write(`bench:ab: ${error.message}\n\n${usage}\n`);
  process.exit(2);
}
