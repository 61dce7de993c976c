import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { Component } from '../component.js';
import { httpJson } from '../component.js';
import { findJava } from '../java.js';
import { logFile } from '../processes.js';
import { secretsDir, stackSecret } from '../secrets.js';
import { httpUsers, secretFile, settings } from '../settings.js';

/** The Eureka server's sources: a pom and two classes (services/eureka-server). */
const project = join(settings.repoRoot, 'services/eureka-server');
export const eurekaUrl = `http://${settings.host}:${settings.ports.eureka}`;

/** Eureka's REST API (up to `/eureka`) and its HTTP basic user. */
export interface EurekaApi {
  url: string;
  username: string;
  password: string;
}

/**
 * Eureka as the environment names it, the way `npm test` passes it: EUREKA_URL (its first URL),
 * EUREKA_USERNAME and EUREKA_PASSWORD or EUREKA_PASSWORD_FILE; the native stack's for whatever is not set.
 */
export function eurekaApiFromEnv(env: NodeJS.ProcessEnv = process.env): EurekaApi {
  const file = env.EUREKA_PASSWORD_FILE;
  const password = env.EUREKA_PASSWORD || (file ? readFileSync(file, 'utf8').trim() : stackSecret(settings.stateDir, 'eureka'));
  return {
    url: (env.EUREKA_URL || `${eurekaUrl}/eureka`).split(',')[0]!.trim().replace(/\/+$/, ''),
    username: env.EUREKA_USERNAME || httpUsers.eureka,
    password,
  };
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : [path];
  });
}

/** The jar built from the current sources: its name carries their hash, so a change builds a new one. */
function jarPath(): string {
  const hash = createHash('sha256');
  for (const file of [join(project, 'pom.xml'), ...filesUnder(join(project, 'src')).sort()]) {
    hash.update(relative(project, file)).update(readFileSync(file));
  }
  return join(settings.distDir, `eureka-server-${hash.digest('hex').slice(0, 12)}.jar`);
}

/**
 * Builds the Eureka server with Maven once per source version and keeps the jar in the state folder
 * (about 50 s the first time, dependencies from Maven Central into ~/.m2; nothing afterwards).
 */
export async function buildEurekaServer(): Promise<string> {
  const jar = jarPath();
  if (existsSync(jar)) return jar;
  mkdirSync(settings.logDir, { recursive: true });
  const log = createWriteStream(logFile('eureka-build'), { flags: 'a' });
  const code = await new Promise<number>((resolve, reject) => {
    const mvn = spawn('mvn', ['-B', '-ntp', '-f', join(project, 'pom.xml'), 'package', '-DskipTests'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    mvn.stdout.pipe(log, { end: false });
    mvn.stderr.pipe(log, { end: false });
    mvn.once('error', (error) => reject(new Error(`could not run mvn (${error.message}); install Maven`)));
    mvn.once('close', (status) => resolve(status ?? 1));
  });
  log.end();
  if (code !== 0) throw new Error(`building the Eureka server failed (mvn exited with ${code}); see ${logFile('eureka-build')}`);
  mkdirSync(settings.distDir, { recursive: true });
  copyFileSync(join(project, 'target/eureka-server.jar'), jar);
  return jar;
}

export const eureka: Component = {
  name: 'eureka',
  url: `${eurekaUrl}/ (Spring Cloud Netflix Eureka server; REST API under /eureka; HTTP basic as ${httpUsers.eureka}, password in ${join(secretsDir(settings.stateDir), 'eureka')})`,
  startTimeoutMs: 90_000,

  async isReady() {
    try {
      // The one path open without credentials: it says UP or DOWN and nothing else.
      const health = await httpJson<{ status?: string }>(`${eurekaUrl}/actuator/health`);
      // Not /eureka/apps: a server that has just started refuses reads for a while (wait-time-in-ms-when-sync-empty)
      // while it takes registrations, which is all the services need of it.
      return health.status === 'UP';
    } catch {
      return false;
    }
  },

  launchSpec() {
    return {
      command: findJava(17),
      // A registry of a few dozen instances: a small heap, and the serial collector on two cores.
      args: [
        '-Xms64m',
        '-Xmx192m',
        '-XX:+UseSerialGC',
        '-jar',
        jarPath(),
        `--server.port=${settings.ports.eureka}`,
        `--server.address=${settings.host}`,
      ],
      // Its one HTTP basic user (RegistrySecurity.java); the password's file, not the password, in the
      // environment. EUREKA_PASSWORD blanked: one inherited from the shell would make the server refuse to start.
      env: { EUREKA_USERNAME: httpUsers.eureka, EUREKA_PASSWORD_FILE: secretFile('eureka'), EUREKA_PASSWORD: '' },
    };
  },
};
