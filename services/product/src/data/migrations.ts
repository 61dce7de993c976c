import { timestamps, type Migration } from '@cdc-outbox-saga/platform';

export const productMigrations: Migration[] = [
  {
    name: '0100_products',
    async up(db) {
      await db.schema.createTable('products', (t) => {
        t.string('id', 36).primary();
        t.string('name', 200).notNullable();
        t.bigInteger('price').notNullable();
        t.bigInteger('stock').notNullable();
        // All stock ever received: the audit checks stock = stock_received - what reservations hold.
        t.bigInteger('stock_received').notNullable();
        timestamps(db, t);
      });
      // Stock can never go negative, whatever a bug in the code would try (MySQL 8.0.16+, MariaDB 10.2+).
      await db.raw('ALTER TABLE products ADD CONSTRAINT products_stock_not_negative CHECK (stock >= 0)');
      await db.raw('ALTER TABLE products ADD CONSTRAINT products_price_not_negative CHECK (price >= 0)');
    },
    async down(db) {
      await db.schema.dropTable('products');
    },
  },
  {
    name: '0101_reservations',
    async up(db) {
      // What was taken for an order, at which price: compensation C2 puts back exactly this, and the
      // primary key makes a second reservation for the same order impossible.
      await db.schema.createTable('reservations', (t) => {
        t.string('order_id', 36).primary();
        t.string('user_id', 36).notNullable();
        t.bigInteger('amount').notNullable();
        t.enu('status', ['RESERVED', 'RELEASED']).notNullable();
        timestamps(db, t);
      });
      await db.schema.createTable('reservation_lines', (t) => {
        t.string('order_id', 36).notNullable().references('order_id').inTable('reservations').onDelete('CASCADE');
        t.string('product_id', 36).notNullable();
        t.integer('quantity').notNullable();
        t.bigInteger('unit_price').notNullable();
        t.primary(['order_id', 'product_id']);
        t.index(['product_id']);
      });
    },
    async down(db) {
      await db.schema.dropTable('reservation_lines');
      await db.schema.dropTable('reservations');
    },
  },
  {
    name: '0102_reservation_decisions',
    async up(db) {
      // One row per order for every decision, not only for a reservation: REFUSED (nothing taken; the
      // reason and the first product that failed) and CANCELLED (the order ended before any decision).
      // A replayed OrderCreated, however old, finds the row and does nothing. Refusals and cancellations
      // have amount 0 and no lines. New enum values go last, so existing rows keep theirs.
      await db.schema.alterTable('reservations', (t) => {
        t.enu('status', ['RESERVED', 'RELEASED', 'REFUSED', 'CANCELLED']).notNullable().alter();
        t.string('reason', 50).nullable();
        t.string('product_id', 36).nullable();
      });
    },
    async down(db) {
      await db('reservations').whereIn('status', ['REFUSED', 'CANCELLED']).delete();
      await db.schema.alterTable('reservations', (t) => {
        t.dropColumn('product_id');
        t.dropColumn('reason');
        t.enu('status', ['RESERVED', 'RELEASED']).notNullable().alter();
      });
    },
  },
];
