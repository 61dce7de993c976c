import type { Knex } from 'knex';

/** A statement to send: a query builder or a raw statement, not yet run. */
export type Statement = Knex.QueryBuilder | Knex.Raw;

/**
 * Sends the statements to the server in one round trip, in order, and returns once all have run. The
 * server runs them one after the other and stops at the first that fails, whose error is thrown: the
 * ones before it took effect (the caller's transaction decides whether they stay), the ones after did
 * not run. A statement per round trip costs a socket write and read on both sides; on a machine where
 * system calls are dear that is most of a short statement's cost.
 *
 * Needs a connection opened with `multipleStatements` (see createDatabase). Every value travels as a
 * binding and is escaped by the driver, as in a single statement; nothing is spliced into the SQL.
 */
export async function inOneTrip(trx: Knex.Transaction, statements: Statement[]): Promise<void> {
  if (statements.length === 0) return;
  if (statements.length === 1) {
    await statements[0]!;
    return;
  }
  const parts = statements.map((statement) => statement.toSQL().toNative());
  await trx.raw(
    parts.map((part) => part.sql).join(';\n'),
    parts.flatMap((part) => part.bindings as Knex.Value[]),
  );
}
