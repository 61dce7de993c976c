import { connect, type Socket } from 'node:net';
import { gateway } from '../../helpers/api.js';

/** Where a raw connection goes. */
export interface Target {
  host: string;
  port: number;
}

/** host and port of a base URL such as GATEWAY_URL. */
export function targetOf(base: string): Target {
  const url = new URL(base);
  return { host: url.hostname, port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)) };
}

/** The gateway, from GATEWAY_URL. */
export const gatewayTarget = targetOf(gateway);

/** One HTTP/1.1 answer as it came over the wire. */
export interface RawResponse {
  statusLine: string;
  status: number;
  /** Header lines in the order received, names lower-cased. */
  headers: Array<[string, string]>;
  /** The body, de-chunked, as UTF-8. */
  body: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: any;
  /** A header's values joined with ", " (undefined when absent). */
  header(name: string): string | undefined;
}

function parseHead(head: string): Omit<RawResponse, 'body' | 'json'> {
  const [statusLine = '', ...lines] = head.split('\r\n');
  const match = /^HTTP\/\d\.\d (\d{3})/.exec(statusLine);
  const headers: Array<[string, string]> = lines
    .filter((line) => line.includes(':'))
    .map((line) => [line.slice(0, line.indexOf(':')).trim().toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]);
  return {
    statusLine,
    status: match ? Number(match[1]) : 0,
    headers,
    header(name: string) {
      const values = headers.filter(([key]) => key === name.toLowerCase()).map(([, value]) => value);
      return values.length === 0 ? undefined : values.join(', ');
    },
  };
}

function withBody(head: Omit<RawResponse, 'body' | 'json'>, body: Buffer): RawResponse {
  const text = body.toString('utf8');
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { ...head, body: text, json };
}

/** De-chunks `data` (a chunked body and whatever follows); undefined until the last chunk has arrived. */
function dechunk(data: Buffer): { body: Buffer; used: number } | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = data.indexOf('\r\n', at);
    if (lineEnd < 0) return undefined;
    const size = Number.parseInt(data.subarray(at, lineEnd).toString('latin1').split(';')[0]!.trim(), 16);
    if (Number.isNaN(size)) throw new Error(`bad chunk size line: ${JSON.stringify(data.subarray(at, lineEnd).toString('latin1'))}`);
    const start = lineEnd + 2;
    if (size === 0) {
      // No trailers are expected: the last chunk is followed by an empty line.
      const end = data.indexOf('\r\n\r\n', lineEnd);
      const used = end >= 0 ? end + 4 : data.length >= start + 2 ? start + 2 : -1;
      if (used < 0) return undefined;
      return { body: Buffer.concat(parts), used };
    }
    if (data.length < start + size + 2) return undefined;
    parts.push(data.subarray(start, start + size));
    at = start + size + 2;
  }
}

/**
 * A client connection that writes exactly the bytes it is given (no normalisation, no header checks, as
 * fetch and node:http would do) and reads answers off the wire: interim 1xx answers, then final ones,
 * framed by Content-Length, chunked encoding or the close of the connection.
 */
export class RawConnection {
  private pending = Buffer.alloc(0);
  private all = Buffer.alloc(0);
  private closedAt: number | undefined;
  private wake: (() => void) | undefined;
  /** When the connection was made (Date.now()). */
  readonly openedAt = Date.now();

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.pending = Buffer.concat([this.pending, chunk]);
      this.all = Buffer.concat([this.all, chunk]);
      this.wake?.();
    });
    // A reset after the server's answer is still an end of the conversation; the bytes read are kept.
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closedAt = Date.now();
      this.wake?.();
    });
  }

  static open(target: Target = gatewayTarget, timeoutMs = 5000): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect(target.port, target.host);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`no connection to ${target.host}:${target.port} within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.setNoDelay(true);
        resolve(new RawConnection(socket));
      });
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
  }

  write(data: string | Buffer): void {
    if (!this.socket.destroyed) this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Everything received so far, as latin-1 text (one character per byte). */
  get received(): string {
    return this.all.toString('latin1');
  }

  get isClosed(): boolean {
    return this.closedAt !== undefined;
  }

  /** Milliseconds from opening to the close, or undefined while open. */
  get closedAfterMs(): number | undefined {
    return this.closedAt === undefined ? undefined : this.closedAt - this.openedAt;
  }

  /** Waits until something arrives or the connection closes, at most until `deadline`. */
  private waitForEvent(deadline: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, deadline - Date.now()));
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }

  /** Takes one whole answer off the buffer, if one is there. */
  private takeResponse(): RawResponse | undefined {
    const headEnd = this.pending.indexOf('\r\n\r\n');
    if (headEnd < 0) {
      if (this.isClosed && this.pending.length > 0) {
        // A head cut off by the close: return what there is, so the test can show it.
        const head = parseHead(this.pending.toString('latin1'));
        this.pending = Buffer.alloc(0);
        return withBody(head, Buffer.alloc(0));
      }
      return undefined;
    }
    const head = parseHead(this.pending.subarray(0, headEnd).toString('latin1'));
    const rest = this.pending.subarray(headEnd + 4);
    const noBody = (head.status >= 100 && head.status < 200) || head.status === 204 || head.status === 304;
    if (noBody) {
      this.pending = rest;
      return withBody(head, Buffer.alloc(0));
    }
    if (/\bchunked\b/i.test(head.header('transfer-encoding') ?? '')) {
      const chunked = dechunk(rest);
      if (!chunked) return undefined;
      this.pending = rest.subarray(chunked.used);
      return withBody(head, chunked.body);
    }
    const length = head.header('content-length');
    if (length !== undefined) {
      const size = Number(length);
      if (rest.length < size) return this.isClosed ? this.takeAll(head, rest) : undefined;
      this.pending = rest.subarray(size);
      return withBody(head, rest.subarray(0, size));
    }
    // No framing: the body runs to the close of the connection.
    return this.isClosed ? this.takeAll(head, rest) : undefined;
  }

  private takeAll(head: Omit<RawResponse, 'body' | 'json'>, rest: Buffer): RawResponse {
    this.pending = Buffer.alloc(0);
    return withBody(head, rest);
  }

  /**
   * The next answer (an interim `100 Continue` counts as one), or undefined when none came within
   * `timeoutMs` or the connection closed without one.
   */
  async response(timeoutMs = 10_000): Promise<RawResponse | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const response = this.takeResponse();
      if (response) return response;
      if (this.isClosed || Date.now() >= deadline) return undefined;
      await this.waitForEvent(deadline);
    }
  }

  /** Whether the server closed the connection within `timeoutMs`. */
  async closed(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.isClosed && Date.now() < deadline) await this.waitForEvent(deadline);
    return this.isClosed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** What one raw request got back. */
export interface RawExchange {
  /** Every answer, interim ones included, in order. */
  responses: RawResponse[];
  /** The last answer that is not a 1xx (undefined when there was none). */
  final: RawResponse | undefined;
  /** Whether the server closed the connection within the time given. */
  closed: boolean;
  /** Everything received, as latin-1 text, for failure messages. */
  raw: string;
}

/**
 * Sends `request` as it is on a new connection and reads every answer until the server closes the
 * connection or `timeoutMs` passes (send `Connection: close` for a well-formed request to end sooner).
 */
export async function rawExchange(request: string | Buffer, options: { target?: Target; timeoutMs?: number } = {}): Promise<RawExchange> {
  const connection = await RawConnection.open(options.target ?? gatewayTarget);
  try {
    connection.write(request);
    const closed = await connection.closed(options.timeoutMs ?? 10_000);
    const responses: RawResponse[] = [];
    for (let next = await connection.response(0); next; next = await connection.response(0)) responses.push(next);
    return { responses, final: responses.filter((r) => r.status >= 200).at(-1), closed, raw: connection.received };
  } finally {
    connection.destroy();
  }
}

/**
 * The text of an HTTP/1.1 request: the request line, `Host`, the given header lines in order, then
 * `Content-Length` for a body and `Connection: close` unless `headers` has its own Connection line. Header
 * values are written as given (NUL, CR and LF included), which is the point.
 */
export function httpRequest(
  method: string,
  target: string,
  options: { headers?: Array<[string, string]>; body?: string | Buffer; host?: string; version?: string; contentLength?: boolean } = {},
): Buffer {
  const headers = options.headers ?? [];
  const lines = [
    `${method} ${target} HTTP/${options.version ?? '1.1'}`,
    `Host: ${options.host ?? `${gatewayTarget.host}:${gatewayTarget.port}`}`,
  ];
  for (const [name, value] of headers) lines.push(`${name}: ${value}`);
  const body = options.body === undefined ? undefined : Buffer.isBuffer(options.body) ? options.body : Buffer.from(options.body, 'utf8');
  if (body !== undefined && options.contentLength !== false) lines.push(`Content-Length: ${body.length}`);
  if (!headers.some(([name]) => name.toLowerCase() === 'connection')) lines.push('Connection: close');
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'), body ?? Buffer.alloc(0)]);
}
