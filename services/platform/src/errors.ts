/**
 * The one error type of the project. `code` is a stable machine-readable reason, `status` the HTTP
 * status it maps to at an HTTP edge, `retriable` whether doing the same again later can succeed.
 */
export class AppError extends Error {
  readonly code: string;
  readonly status: number;
  readonly retriable: boolean;
  readonly details: unknown;

  constructor(code: string, message: string, options: { status?: number; retriable?: boolean; cause?: unknown; details?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = options.status ?? 500;
    this.retriable = options.retriable ?? false;
    this.details = options.details;
  }
}

const ER_DUP_ENTRY = 1062;

/**
 * Whether a database error is a duplicate key (ER_DUP_ENTRY): the row a unique or primary key guards is
 * there already. Every "insert first, and a duplicate means it was done before" check asks this.
 */
export function isDuplicateKey(error: unknown): boolean {
  return (error as { errno?: unknown } | null)?.errno === ER_DUP_ENTRY;
}

/**
 * MySQL/MariaDB error numbers that say the data itself is wrong for the table: running the same statement
 * again gives the same answer. Everything else the database says (deadlocks, lock waits, a read-only
 * server during a failover 1290/1836, a killed connection 1927, 4031 and 1317, lost connections) may pass.
 */
const permanentDbErrnos = new Set([
  1048, // ER_BAD_NULL_ERROR: a NOT NULL column given null
  ER_DUP_ENTRY,
  1264, // ER_WARN_DATA_OUT_OF_RANGE
  1292, // ER_TRUNCATED_WRONG_VALUE
  1366, // ER_TRUNCATED_WRONG_VALUE_FOR_FIELD
  1406, // ER_DATA_TOO_LONG
  1451, // ER_ROW_IS_REFERENCED_2
  1452, // ER_NO_REFERENCED_ROW_2
  3819, // ER_CHECK_CONSTRAINT_VIOLATED (MySQL)
  4025, // ER_CONSTRAINT_FAILED (MariaDB)
]);

/** HTTP answers of a dependency that the same request will get again; 404, 408, 429 and 5xx may pass. */
function permanentStatus(status: number): boolean {
  return status >= 400 && status < 500 && ![404, 408, 425, 429].includes(status);
}

/**
 * Whether an error is worth retrying. Classified the way kafkajs does: retriable unless known to be
 * permanent. An AppError says which it is itself (a message that is not Confluent Avro, an event that
 * does not decode with its schema or fails its own validation: permanent); a database error about the
 * data (constraint, type, length) and a 4xx of a dependency (other than 404, 408, 425, 429) are permanent.
 * Anything else (a deadlock, a read-only server in a failover, a killed connection, a registry answering
 * 404 while it replays its journal, an error never seen before) is retried: a passing fault must not send
 * a saga step to the DLQ and leave its order PENDING.
 */
export function isRetriable(error: unknown): boolean {
  if (error instanceof AppError) return error.retriable;
  if (typeof error !== 'object' || error === null) return true;
  const e = error as { errno?: unknown; status?: unknown; cause?: unknown };
  if (typeof e.errno === 'number' && permanentDbErrnos.has(e.errno)) return false;
  if (typeof e.status === 'number' && permanentStatus(e.status)) return false;
  if (e.cause !== undefined && e.cause !== error) return isRetriable(e.cause);
  return true;
}

/** A short, single-line description of any thrown value, for logs and DLQ headers. */
export function describeError(error: unknown): { code: string; message: string } {
  if (error instanceof AppError) return { code: error.code, message: error.message };
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    // A database error: the server's own words. knex prefixes them with the statement it sent, which for a
    // step's statements sent together (inOneTrip) is long, and carries the rows' values.
    const sqlMessage = (error as { sqlMessage?: unknown }).sqlMessage;
    if (typeof sqlMessage === 'string' && sqlMessage) return { code: typeof code === 'string' ? code : error.name, message: sqlMessage };
    return { code: typeof code === 'string' ? code : error.name, message: error.message };
  }
  return { code: 'UNKNOWN', message: String(error) };
}
