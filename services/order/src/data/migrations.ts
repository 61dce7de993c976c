import { timestamps, type Migration } from '@cdc-outbox-saga/platform';

export const orderMigrations: Migration[] = [
  {
    name: '0200_orders',
    async up(db) {
      await db.schema.createTable('orders', (t) => {
        t.string('id', 36).primary();
        t.string('user_id', 36).notNullable();
        t.enu('status', ['PENDING', 'COMPLETED']).notNullable();
        t.bigInteger('amount').nullable();
        timestamps(db, t);
      });
      await db.schema.createTable('order_lines', (t) => {
        t.string('order_id', 36).notNullable().references('id').inTable('orders');
        t.integer('line_no').notNullable();
        t.string('product_id', 36).notNullable();
        t.integer('quantity').notNullable();
        t.primary(['order_id', 'line_no']);
      });
      await db.schema.createTable('payments', (t) => {
        t.string('id', 36).primary();
        t.string('order_id', 36).notNullable().unique().references('id').inTable('orders');
        t.enu('status', ['PENDING', 'COMPLETED']).notNullable();
        t.bigInteger('amount').nullable();
        timestamps(db, t);
      });
    },
    async down(db) {
      await db.schema.dropTable('payments');
      await db.schema.dropTable('order_lines');
      await db.schema.dropTable('orders');
    },
  },
  {
    name: '0201_sagas',
    async up(db) {
      // The outcome of every order, kept after a cancelled order's rows are deleted, and the
      // Idempotency-Key that created it.
      await db.schema.createTable('sagas', (t) => {
        t.string('order_id', 36).primary();
        t.string('user_id', 36).notNullable();
        t.enu('status', ['PENDING', 'COMPLETED', 'CANCELLED']).notNullable();
        t.string('reason', 50).nullable();
        t.bigInteger('amount').nullable();
        t.text('items').notNullable();
        t.string('idempotency_key', 200).nullable().unique();
        t.string('request_hash', 64).nullable();
        timestamps(db, t);
        t.specificType('finished_at', 'DATETIME(6)').nullable();
        t.index(['status', 'created_at']);
      });
    },
    async down(db) {
      await db.schema.dropTable('sagas');
    },
  },
  {
    name: '0202_sagas_placed_by',
    async up(db) {
      // The authenticated subject (the token's `sub`) that placed the order: only it may read the order.
      await db.schema.alterTable('sagas', (t) => {
        t.string('placed_by', 255).nullable();
      });
    },
    async down(db) {
      await db.schema.alterTable('sagas', (t) => {
        t.dropColumn('placed_by');
      });
    },
  },
  {
    name: '0203_sagas_idempotency_key_binary',
    async up(db) {
      // The table's case-insensitive collation made `abc` and `ABC` one Idempotency-Key, both for its unique
      // index and for the look-up of a replay. Byte for byte now. Every key stored so far stays: keys that
      // were distinct case-insensitively are distinct byte for byte, and MODIFY keeps the unique index.
      await db.raw('ALTER TABLE sagas MODIFY idempotency_key VARCHAR(200) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NULL DEFAULT NULL');
    },
    async down(db) {
      // Back to the table's default collation. Fails on the unique index if two keys now differ only in
      // case: going back would merge them.
      await db.raw('ALTER TABLE sagas MODIFY idempotency_key VARCHAR(200) NULL DEFAULT NULL');
    },
  },
];
