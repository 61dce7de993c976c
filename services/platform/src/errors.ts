/**
 * The one error type of the project. `code` is a stable machine-readable reason, `status` the HTTP
 * status it maps to at an HTTP edge, `retriable` whether doing the same again later can succeed.
 */
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly retriable: boolean;
  readonly details: unknown;

  constructor(
    code: string,
    message: string,
    options: { status?: number; retriable?: boolean; cause?: unknown; details?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = options.status ?? 500;
    this.retriable = options.retriable ?? false;
    this.details = options.details;
  }
}

/** MySQL/MariaDB error numbers after which the same transaction can succeed if run again. */
const transientDbErrnos = new Set([
  1205, // ER_LOCK_WAIT_TIMEOUT
  1213, // ER_LOCK_DEADLOCK
  1040, // ER_CON_COUNT_ERROR
  1053, // ER_SERVER_SHUTDOWN
  2002, // CR_CONNECTION_ERROR
  2003, // CR_CONN_HOST_ERROR
  2006, // CR_SERVER_GONE_ERROR
  2013, // CR_SERVER_LOST
]);

const transientNetworkCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
]);

/**
 * Whether an error is worth retrying: an AppError says so itself; database deadlocks, lock timeouts and
 * lost connections, knex pool timeouts, network failures and HTTP 5xx/429 from a dependency are
 * transient; anything else (bad data, a bug) is not, and retrying it would only block the partition.
 */
export function isRetriable(error: unknown): boolean {
  if (error instanceof AppError) return error.retriable;
  if (typeof error !== 'object' || error === null) return false;
  const e = error as { errno?: unknown; code?: unknown; status?: unknown; name?: unknown; cause?: unknown };
  if (typeof e.errno === 'number' && transientDbErrnos.has(e.errno)) return true;
  if (typeof e.code === 'string' && transientNetworkCodes.has(e.code)) return true;
  if (e.name === 'KnexTimeoutError') return true;
  if (typeof e.status === 'number' && (e.status >= 500 || e.status === 429)) return true;
  if (e.cause !== undefined && e.cause !== error) return isRetriable(e.cause);
  return false;
}

/** A short, single-line description of any thrown value, for logs and DLQ headers. */
export function describeError(error: unknown): { code: string; message: string } {
  if (error instanceof AppError) return { code: error.code, message: error.message };
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { code: typeof code === 'string' ? code : error.name, message: error.message };
  }
  return { code: 'UNKNOWN', message: String(error) };
}
