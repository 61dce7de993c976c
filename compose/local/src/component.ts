import { connect } from 'node:net';
import type { LaunchSpec } from './processes.js';

/** One process of the native stack. */
export interface Component {
  name: string;
  /** What to print once it is up. */
  url: string;
  /**
   * Components with the same group are launched together and then waited for: the nodes of a Kafka
   * cluster, none of which answers before a majority of its controller quorum runs.
   */
  startGroup?: string;
  /** Upper bound for a start; a cold start of the JVM components includes class loading and topic creation. */
  startTimeoutMs: number;
  /** True when an instance answers already, started by an earlier `npm start` or by hand: it is reused. */
  isReady(): Promise<boolean>;
  /** One-time preparation before the first launch (data directories, config files). */
  prepare?(): Promise<void>;
  launchSpec(): LaunchSpec;
  /** Idempotent provisioning once it is ready (databases, grants, connectors, registry rules). */
  provision?(): Promise<void>;
}

/** Resolves true when something accepts TCP connections on host:port. */
export function portOpen(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (open: boolean) => {
      socket.destroy();
      resolve(open);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** GETs a URL and reports whether it answered 2xx; network errors count as "not yet". */
export async function httpOk(url: string, timeoutMs = 2000): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}

/** fetch that throws a readable error for non-2xx answers. */
export async function httpJson<T>(url: string, init: RequestInit = {}): Promise<T> {
  const response = await fetch(url, {
    ...init,
    headers: { 'content-type': 'application/json', accept: 'application/json', ...init.headers },
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  if (!response.ok) {
    throw new Error(`${init.method ?? 'GET'} ${url} answered ${response.status}: ${text.slice(0, 500)}`);
  }
  return (text ? JSON.parse(text) : undefined) as T;
}
