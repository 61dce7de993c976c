import { join } from 'node:path';
import {
  AppError,
  ServiceMetrics,
  createLogger,
  eurekaSettings,
  eurekaClientFor,
  listen,
  loadServiceConfig,
  packagePath,
  packageVersion,
} from '@cdc-outbox-saga/platform';
import express from 'express';
import { z } from 'zod';
import { GitSource } from './git-source.js';
import {
  looksLikeFileRequest,
  parseApplication,
  parseFileRequest,
  parseLabel,
  parseProfiles,
  parseSearchPath,
  LABEL_SLASH,
} from './names.js';
import { fileOrder, mergeSources, namedSources, renderProperties, renderYaml, unflatten, type NamedSource } from './property-sources.js';

/** A setting checked with one of the name parsers of names.ts, its message kept. */
const checkedWith = (parse: (value: string) => string) =>
  z.string().transform((value, ctx) => {
    try {
      return parse(value.trim());
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
  });

export const configServerSettings = z.object({
  service: z.object({ name: z.string().min(1), instanceId: z.string().min(1) }),
  http: z.object({ host: z.string().min(1), port: z.coerce.number().int().min(0).max(65535) }),
  git: z.object({
    /**
     * The repository: a local path (a work tree, its `.git` or a bare repository), a `file://` URL, or an
     * http(s) URL, which is cloned. Empty: this monorepo. A relative path is taken from the current directory.
     */
    uri: z.string().trim(),
    /** Where an http(s) repository is cloned; empty: `.stack/config-server/clone` in this monorepo. */
    cloneDir: z.string().trim(),
    /** The folder of the repository whose files are served; empty for its root. */
    searchPaths: checkedWith(parseSearchPath),
    /** The label of requests that name none; empty for the branch HEAD points to. */
    defaultLabel: checkedWith((value) => (value === '' ? '' : parseLabel(value.replaceAll('/', LABEL_SLASH)))),
    /** A cloned repository is fetched again at most this often (when a request comes). */
    refreshSeconds: z.coerce.number().min(0),
    /** How long a request waits for a clone or a fetch. */
    timeoutSeconds: z.coerce.number().positive(),
  }),
  eureka: eurekaSettings,
});
export type ConfigServerSettings = z.infer<typeof configServerSettings>;

/**
 * The config server's own settings: its `config/` files over the platform's, and the environment. Never
 * from a config service: the one CONFIG_SERVER_URL names would be this server itself or a sibling.
 */
export function loadSettings(): Promise<ConfigServerSettings> {
  process.env.CONFIG_SERVER_URL = '';
  return loadServiceConfig(packagePath(import.meta.url, 'config'), configServerSettings);
}

export interface RunningConfigServer {
  url: string;
  stop(): Promise<void>;
}

function sendError(res: express.Response, status: number, code: string, message: string): void {
  res.status(status).json({ error: { code, message } });
}

/**
 * The config server: Spring Cloud Config Server's HTTP API over a Git repository, so Spring clients
 * (`spring.config.import=configserver:`) use it as they are.
 *
 * - `GET /{application}/{profile}[/{label}]`: the property sources, most specific first, with the commit id
 *   they came from as `version`.
 * - `GET [/{label}]/{application}-{profile}.{yml|yaml|properties|json}`: those sources merged into one document.
 *
 * A label is a branch, a tag or a commit id (`/` in a branch written `(_)`); without one, the default label.
 * Files are read from the commit, never from a work tree: only committed configuration is served. Git is
 * read with isomorphic-git (pure JavaScript, maintained), which reads refs, trees and blobs directly and
 * clones over HTTP, so no git binary is needed at run time.
 */
export async function start(settings: ConfigServerSettings): Promise<RunningConfigServer> {
  const logger = createLogger('config-server').child({ instance: settings.service.instanceId });
  const metrics = new ServiceMetrics('config-server', settings.service.instanceId);
  const repoRoot = packagePath(import.meta.url, '../..');
  const source = new GitSource(
    {
      uri: settings.git.uri || repoRoot,
      cloneDir: settings.git.cloneDir || join(repoRoot, '.stack', 'config-server', 'clone'),
      searchPath: settings.git.searchPaths,
      defaultLabel: settings.git.defaultLabel,
      refreshSeconds: settings.git.refreshSeconds,
      timeoutSeconds: settings.git.timeoutSeconds,
    },
    logger,
  );
  source.prepare();

  /** The property sources answering a request, and the label and commit they were read at. */
  async function environment(application: string, profiles: string[], label: string | undefined) {
    const resolved = await source.resolve(label);
    const files = await source.files(resolved.commit);
    const configFiles = await Promise.all(
      fileOrder(application, profiles, files).map((file) => source.configFile(resolved.commit, file, files.get(file)!)),
    );
    return { ...resolved, sources: namedSources(configFiles, profiles) };
  }

  async function sendEnvironment(res: express.Response, application: string, profile: string, label: string | undefined) {
    const profiles = parseProfiles(profile);
    const env = await environment(parseApplication(application), profiles, label === undefined ? undefined : parseLabel(label));
    res.json({
      name: application,
      profiles,
      label: env.label,
      version: env.commit,
      state: null,
      propertySources: env.sources.map((s: NamedSource) => ({ name: s.name, source: Object.fromEntries(s.source) })),
    });
  }

  async function sendFile(res: express.Response, file: string, label: string | undefined) {
    const request = parseFileRequest(file);
    if (!request) {
      sendError(res, 404, 'NOT_FOUND', `"${file}" is not {application}-{profile}.{yml|yaml|properties|json}`);
      return;
    }
    const env = await environment(request.application, request.profiles, label === undefined ? undefined : parseLabel(label));
    const merged = mergeSources(env.sources.map((s) => s.source));
    if (request.extension === 'properties') res.type('text/plain').send(renderProperties(merged));
    else if (request.extension === 'json') res.json(unflatten(merged));
    else res.type('text/plain').send(renderYaml(unflatten(merged)));
  }

  const app = express();
  app.disable('x-powered-by');
  app.use(metrics.httpMiddleware());
  // Names are checked again where they are used; this refuses, with a 400 rather than a 404, a path that
  // tries to step out of its segment (`..`, an encoded `/` or `\`, a NUL) or has an empty one, whatever route
  // it would reach.
  app.use((req, res, next) => {
    const segments = req.path.split('/').slice(1);
    for (const [index, raw] of segments.entries()) {
      let segment: string;
      try {
        segment = decodeURIComponent(raw);
      } catch {
        sendError(res, 400, 'BAD_REQUEST', 'the path has a malformed percent-encoding');
        return;
      }
      const emptyInside = segment === '' && index < segments.length - 1;
      if (emptyInside || segment === '.' || segment === '..' || /[\\/\0]/.test(segment)) {
        sendError(res, 400, 'BAD_REQUEST', 'the path has an empty, "." or ".." segment, or an encoded "/", "\\" or NUL');
        return;
      }
    }
    next();
  });
  app.get('/health', async (_req, res) => {
    try {
      const { label, commit } = await source.resolve();
      res.json({ status: 'UP', instance: settings.service.instanceId, label, version: commit });
    } catch (error) {
      const known = error instanceof AppError ? error : undefined;
      res.status(503).json({
        status: 'DOWN',
        instance: settings.service.instanceId,
        error: { code: known?.code ?? 'GIT_UNAVAILABLE', message: (error as Error).message },
      });
    }
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
  app.get('/:application/:profile/:label', async (req, res) => {
    await sendEnvironment(res, req.params.application, req.params.profile, req.params.label);
  });
  // Spring's rule: a second segment with a file extension is `{label}/{application}-{profile}.{ext}`, never a profile.
  app.get('/:first/:second', async (req, res) => {
    const { first, second } = req.params;
    if (looksLikeFileRequest(second)) await sendFile(res, second, first);
    else await sendEnvironment(res, first, second, undefined);
  });
  app.get('/:file', async (req, res) => {
    await sendFile(res, req.params.file, undefined);
  });
  app.use((req, res) => {
    sendError(res, 404, 'NOT_FOUND', `no route for ${req.method} ${req.path}`);
  });
  app.use((error: Error & { status?: number }, req: express.Request, res: express.Response, _next: express.NextFunction) => {
    if (error instanceof AppError) {
      if (error.status >= 500) logger.error({ err: error, path: req.path }, 'request failed');
      sendError(res, error.status, error.code, error.message);
    } else if (typeof error.status === 'number' && error.status >= 400 && error.status < 500) {
      // Express's own refusals, such as a path parameter that cannot be percent-decoded.
      sendError(res, error.status, 'BAD_REQUEST', error.message);
    } else {
      logger.error({ err: error, path: req.path }, 'request failed');
      sendError(res, 500, 'INTERNAL', 'the request failed; see the config server log');
    }
  });

  const server = await listen(app, settings.http.host, settings.http.port);
  const port = (server.address() as { port: number }).port;
  const url = `http://${settings.http.host}:${port}`;
  // Registration runs in the background and retries; an absent Eureka never holds up the start.
  const eureka = eurekaClientFor(settings, port, packageVersion(import.meta.url), logger);
  eureka?.start('UP');
  logger.info({ url, repository: source.description, searchPath: settings.git.searchPaths }, 'config server started');
  return {
    url,
    async stop() {
      await eureka?.stop();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      await closed;
    },
  };
}
