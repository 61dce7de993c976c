import fs from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AppError, type Logger } from '@cdc-outbox-saga/platform';
import git from 'isomorphic-git';
import http from 'isomorphic-git/http/node';
import { LruCache } from './lru.js';
import { ConfigFileError, parseConfigFile, type ParsedFile } from './property-sources.js';

export interface GitSourceOptions {
  /** A local path (work tree, its `.git` dir or a bare repository), a `file://` URL, or an http(s) URL to clone. */
  uri: string;
  /** Where an http(s) repository is cloned to. */
  cloneDir: string;
  /** The folder inside the repository whose files are served; empty for the root. */
  searchPath: string;
  /** The label of requests that name none; empty for the branch HEAD points to. */
  defaultLabel: string;
  /** A cloned repository is fetched again when a request comes and its last fetch is older than this. */
  refreshSeconds: number;
  /** How long a request waits for a clone or fetch before it is answered from what is there. */
  timeoutSeconds: number;
}

/** A label and the commit it names now. */
export interface Resolved {
  label: string;
  commit: string;
}

/** A config file found in the search path at a commit. */
export interface ConfigFile {
  file: string;
  /** The property source name Spring would give it: `<uri>/<search path>/<file>`. */
  name: string;
  parsed: ParsedFile;
}

type GitError = Error & { code?: string };
const isGitError = (error: unknown, ...codes: string[]) => codes.includes((error as GitError | undefined)?.code ?? '');

const FULL_OID = /^[0-9a-f]{40}$/i;
const SHORT_OID = /^[0-9a-f]{7,39}$/i;

/**
 * One Git repository, read only through its objects with isomorphic-git: labels are resolved to commits
 * and files are blobs of the commit's tree under the search path, so the work tree (and anything not
 * committed) is never read. Branches and tags are looked up on every call, so a new commit is served at
 * once; what is read at a commit is cached, since a commit never changes.
 */
export class GitSource {
  private readonly gitdir: string;
  private readonly remoteUrl: string | undefined;
  /** Where the property source names start: the repository's URI and the search path. */
  private readonly namePrefix: string;
  /** Shared with isomorphic-git so packfile indexes are read once, not on every object lookup. */
  private readonly gitCache = {};
  /** Object id (a commit or an annotated tag) → the commit it is or points to. */
  private readonly commits = new LruCache<string, string>(1024);
  /** Commit → config file name → blob id, for the search path. */
  private readonly listings = new LruCache<string, Promise<Map<string, string>>>(256);
  /** `<blob id>:<extension>` → what the file parsed to (or why it did not). */
  private readonly parsed = new LruCache<string, Promise<ParsedFile>>(2048);
  private cloning: Promise<void> | undefined;
  private cloned = false;
  private fetching: Promise<void> | undefined;
  private lastFetch = 0;

  constructor(
    private readonly options: GitSourceOptions,
    private readonly logger: Logger,
  ) {
    const searchSuffix = options.searchPath === '' ? '' : `/${options.searchPath}`;
    if (/^https?:\/\//i.test(options.uri)) {
      this.remoteUrl = options.uri;
      this.gitdir = resolve(options.cloneDir);
      this.namePrefix = `${withoutCredentials(options.uri).replace(/\/+$/, '')}${searchSuffix}`;
    } else {
      const isFileUrl = options.uri.startsWith('file:');
      const path = isFileUrl ? fileURLToPath(options.uri) : resolve(options.uri);
      this.gitdir = findGitDir(path);
      // Spring names the sources of a file: repository by its URI; a plain path is written as one.
      this.namePrefix = `${isFileUrl ? options.uri.replace(/\/+$/, '') : `file:${path}`}${searchSuffix}`;
    }
  }

  /** Where the repository is read from, without credentials, for logs. */
  get description(): string {
    return this.remoteUrl ? `${withoutCredentials(this.remoteUrl)} (cloned to ${this.gitdir})` : this.gitdir;
  }

  /**
   * Starts the clone of a remote repository without waiting for it (a request waits, or retries it after a
   * failure); nothing to do for a local one.
   */
  prepare(): void {
    if (this.remoteUrl) void this.ensureCloned().catch(() => undefined);
  }

  /** The commit a label names (the default label when none is given); a 404 AppError when none. */
  async resolve(requested?: string): Promise<Resolved> {
    await this.refresh();
    const label = requested ?? (this.options.defaultLabel || (await this.headLabel()));
    const commit = await this.read(() => this.commitOf(label));
    if (!commit) throw new AppError('LABEL_NOT_FOUND', `no branch, tag or commit "${label}" in the repository`, { status: 404 });
    return { label, commit };
  }

  /** The config files of the search path at a commit, by name. */
  async files(commit: string): Promise<Map<string, string>> {
    let listing = this.listings.get(commit);
    if (!listing) {
      listing = this.read(() => this.listFiles(commit));
      this.listings.set(commit, listing);
      // A failed read (the repository unreadable for a moment) is not remembered.
      listing.catch(() => this.listings.delete(commit));
    }
    return listing;
  }

  /** A file of `files(commit)` read and parsed; a 500 AppError `CONFIG_FILE_INVALID` naming file and commit. */
  async configFile(commit: string, file: string, blob: string): Promise<ConfigFile> {
    const key = `${blob}:${file.slice(file.lastIndexOf('.') + 1)}`;
    let parsed = this.parsed.get(key);
    if (!parsed) {
      parsed = this.read(async () => {
        const { blob: bytes } = await git.readBlob({ fs, gitdir: this.gitdir, oid: blob, cache: this.gitCache });
        return parseConfigFile(file, Buffer.from(bytes).toString('utf8'));
      });
      this.parsed.set(key, parsed);
      // A parse error stays cached (the blob will not change); a read error does not.
      parsed.catch((error: unknown) => {
        if (!(error instanceof ConfigFileError)) this.parsed.delete(key);
      });
    }
    const path = this.options.searchPath === '' ? file : `${this.options.searchPath}/${file}`;
    try {
      return { file, name: `${this.namePrefix}/${file}`, parsed: await parsed };
    } catch (error) {
      if (!(error instanceof ConfigFileError)) throw error;
      throw new AppError('CONFIG_FILE_INVALID', `${path} at commit ${commit} cannot be read: ${error.message}`, { cause: error });
    }
  }

  /** The branch HEAD points to; the commit id when HEAD is detached. */
  private async headLabel(): Promise<string> {
    const target = await this.read(() => git.resolveRef({ fs, gitdir: this.gitdir, ref: 'HEAD', depth: 2 }));
    return target.startsWith('refs/heads/') ? target.slice('refs/heads/'.length) : target;
  }

  /**
   * The commit a label names, or undefined. A 40-hex label is an object id first (as in Git); otherwise a
   * branch, then a tag, then an unambiguous abbreviated id of at least 7 hex digits. A clone's branches are
   * its remote-tracking ones (`refs/remotes/origin/*`), which every fetch moves; its local branch is not.
   */
  private async commitOf(label: string): Promise<string | undefined> {
    if (FULL_OID.test(label)) {
      const commit = await this.peel(label.toLowerCase());
      if (commit) return commit;
    }
    const branches = this.remoteUrl ? 'refs/remotes/origin/' : 'refs/heads/';
    for (const ref of [`${branches}${label}`, `refs/tags/${label}`]) {
      let oid: string;
      try {
        oid = await git.resolveRef({ fs, gitdir: this.gitdir, ref });
      } catch (error) {
        if (isGitError(error, 'NotFoundError')) continue;
        throw error;
      }
      const commit = await this.peel(oid);
      if (commit) return commit;
    }
    if (SHORT_OID.test(label)) {
      let oid: string;
      try {
        oid = await git.expandOid({ fs, gitdir: this.gitdir, oid: label.toLowerCase(), cache: this.gitCache });
      } catch (error) {
        if (isGitError(error, 'NotFoundError')) return undefined;
        if (isGitError(error, 'AmbiguousError')) {
          throw new AppError('LABEL_NOT_FOUND', `"${label}" is the start of more than one object id: give more digits`, { status: 404 });
        }
        throw error;
      }
      return this.peel(oid);
    }
    return undefined;
  }

  /** The commit an object id is (or an annotated tag points to); undefined for a tree, a blob or no object. */
  private async peel(oid: string): Promise<string | undefined> {
    const known = this.commits.get(oid);
    if (known) return known;
    try {
      const { oid: commit } = await git.readCommit({ fs, gitdir: this.gitdir, oid, cache: this.gitCache });
      this.commits.set(oid, commit);
      return commit;
    } catch (error) {
      if (isGitError(error, 'NotFoundError', 'ObjectTypeError')) return undefined;
      throw error;
    }
  }

  private async listFiles(commit: string): Promise<Map<string, string>> {
    const files = new Map<string, string>();
    let entries: Array<{ mode: string; path: string; oid: string; type: string }>;
    try {
      const tree = await git.readTree({
        fs,
        gitdir: this.gitdir,
        oid: commit,
        ...(this.options.searchPath === '' ? {} : { filepath: this.options.searchPath }),
        cache: this.gitCache,
      });
      entries = tree.tree;
    } catch (error) {
      // No search path folder at this commit: nothing to serve, as in Spring.
      if (isGitError(error, 'NotFoundError', 'ObjectTypeError')) return files;
      throw error;
    }
    // Regular files only: a symbolic link's blob is a path, and a submodule is another repository.
    for (const entry of entries) if (entry.type === 'blob' && entry.mode !== '120000') files.set(entry.path, entry.oid);
    return files;
  }

  /** Runs a read of the repository; a failure other than a 4xx answer is a 503 `GIT_UNAVAILABLE`. */
  private async read<T>(work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (error) {
      if (error instanceof AppError || error instanceof ConfigFileError) throw error;
      throw new AppError('GIT_UNAVAILABLE', `the repository ${this.description} cannot be read: ${(error as Error).message}`, {
        status: 503,
        retriable: true,
        cause: error,
      });
    }
  }

  /**
   * For a remote repository: clones it when there is no clone yet, and fetches when the last fetch is
   * older than `refreshSeconds`. A request waits at most `timeoutSeconds`; a fetch that fails or takes
   * longer leaves the clone as it was, and the request is answered from it (as Spring does).
   */
  private async refresh(): Promise<void> {
    if (!this.remoteUrl) return;
    if (!this.cloned) await this.withinTimeout(this.ensureCloned(), 'clone');
    if (Date.now() - this.lastFetch < this.options.refreshSeconds * 1000) return;
    this.fetching ??= this.fetchOnce().finally(() => {
      this.fetching = undefined;
    });
    await this.withinTimeout(this.fetching, 'fetch').catch((error: unknown) => {
      this.logger.warn({ err: error, repository: this.description }, 'fetch failed; serving the clone as it is');
    });
  }

  private async fetchOnce(): Promise<void> {
    // Counted from the start, so a failing remote is tried at most once per refresh period.
    this.lastFetch = Date.now();
    // The URL from the settings, not the clone's config: it carries the credentials, if any.
    await git.fetch({
      fs,
      http,
      gitdir: this.gitdir,
      url: this.remoteUrl!,
      remote: 'origin',
      singleBranch: false,
      tags: true,
      prune: true,
      pruneTags: true,
      cache: this.gitCache,
    });
  }

  private ensureCloned(): Promise<void> {
    this.cloning ??= this.cloneOnce().then(
      () => {
        this.cloned = true;
      },
      (error: unknown) => {
        this.cloning = undefined;
        this.logger.error({ err: error, repository: this.description }, 'clone failed');
        throw new AppError(
          'GIT_UNAVAILABLE',
          `the repository ${withoutCredentials(this.remoteUrl!)} cannot be cloned: ${(error as Error).message}`,
          {
            status: 503,
            retriable: true,
            cause: error,
          },
        );
      },
    );
    return this.cloning;
  }

  /**
   * Reuses a clone of the same URL left by an earlier run (the request then fetches), or clones into an
   * empty or missing directory. A directory holding anything else is left alone and the clone fails: it may be
   * someone's files.
   */
  private async cloneOnce(): Promise<void> {
    const dir = this.gitdir;
    const url = this.remoteUrl!;
    const existing = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw error;
    });
    if (existing.length > 0) {
      const origin = (await git.getConfig({ fs, gitdir: dir, path: 'remote.origin.url' }).catch(() => undefined)) as unknown;
      if (typeof origin !== 'string' || withoutCredentials(origin) !== withoutCredentials(url)) {
        throw new Error(`${dir} is not empty and is not a clone of ${withoutCredentials(url)}: empty it or choose another clone directory`);
      }
      // Usable as it is; the first request fetches (and is answered from it if the fetch fails).
      this.logger.info({ repository: this.description }, 'reusing the clone of an earlier run');
      return;
    }
    this.logger.info({ repository: this.description }, 'cloning');
    try {
      // A bare layout: objects and refs only, no files checked out (they are read from the objects).
      await git.clone({ fs, http, dir, gitdir: dir, url, noCheckout: true, singleBranch: false, cache: this.gitCache });
    } catch (error) {
      // A half-made clone would be taken for a good one next time.
      await rm(dir, { recursive: true, force: true });
      throw error;
    }
    this.lastFetch = Date.now();
  }

  private async withinTimeout(work: Promise<void>, what: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the ${what} took longer than ${this.options.timeoutSeconds} s`)),
        this.options.timeoutSeconds * 1000,
      );
    });
    try {
      await Promise.race([work, timeout]);
    } catch (error) {
      // Only a clone must be there before anything can be read.
      if (what === 'clone') {
        if (error instanceof AppError) throw error;
        throw new AppError('GIT_UNAVAILABLE', `the repository is not cloned yet: ${(error as Error).message}`, {
          status: 503,
          retriable: true,
        });
      }
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A URL without its user and password (they may be a token). */
export function withoutCredentials(uri: string): string {
  try {
    const url = new URL(uri);
    url.username = '';
    url.password = '';
    return url.toString();
  } catch {
    return uri;
  }
}

/**
 * The Git directory of a local repository: `<path>/.git` of a work tree, or `path` itself when it is a
 * `.git` directory or a bare repository. A linked work tree (its `.git` a file naming a directory with a
 * `commondir`) is refused: isomorphic-git does not read the common directory such a tree relies on.
 */
export function findGitDir(path: string): string {
  const dotGit = join(path, '.git');
  const kind = statSync(dotGit);
  if (kind === 'dir') return dotGit;
  if (kind === 'file') {
    const pointer = /^gitdir:\s*(.+)$/m.exec(fs.readFileSync(dotGit, 'utf8'))?.[1]?.trim();
    if (!pointer) throw new AppError('INVALID_CONFIG', `${dotGit} names no Git directory`);
    const target = isAbsolute(pointer) ? pointer : resolve(path, pointer);
    if (statSync(join(target, 'commondir')) === 'file') {
      throw new AppError('INVALID_CONFIG', `${path} is a linked work tree; point git.uri at the main repository instead`);
    }
    return target;
  }
  if (statSync(join(path, 'HEAD')) === 'file' && statSync(join(path, 'objects')) === 'dir') return path;
  throw new AppError('INVALID_CONFIG', `${path} is not a Git repository (no .git, and not a bare repository)`);
}

function statSync(path: string): 'dir' | 'file' | undefined {
  try {
    const info = fs.statSync(path);
    return info.isDirectory() ? 'dir' : info.isFile() ? 'file' : undefined;
  } catch {
    return undefined;
  }
}
