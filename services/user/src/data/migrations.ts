import { timestamps, type Migration } from '@cdc-outbox-saga/platform';

export const userMigrations: Migration[] = [
  {
    name: '0300_users',
    async up(db) {
      await db.schema.createTable('users', (t) => {
        t.string('id', 36).primary();
        t.string('name', 200).notNullable();
        t.bigInteger('points').notNullable();
        // All points ever granted: the audit checks points = points_granted - deductions.
        t.bigInteger('points_granted').notNullable();
        timestamps(db, t);
      });
      await db.raw('ALTER TABLE users ADD CONSTRAINT users_points_not_negative CHECK (points >= 0)');
    },
    async down(db) {
      await db.schema.dropTable('users');
    },
  },
  {
    name: '0301_point_deductions',
    async up(db) {
      // One row per order whose amount was deducted: the primary key makes a second deduction for the
      // same order impossible, and the audit sums it against completed orders.
      await db.schema.createTable('point_deductions', (t) => {
        t.string('order_id', 36).primary();
        t.string('user_id', 36).notNullable().index();
        t.bigInteger('amount').notNullable();
        t.specificType('created_at', 'DATETIME(6)').notNullable().defaultTo(db.raw('CURRENT_TIMESTAMP(6)'));
      });
    },
    async down(db) {
      await db.schema.dropTable('point_deductions');
    },
  },
  {
    name: '0302_deduction_decisions',
    async up(db) {
      // One row per order for every decision, not only for a deduction: REFUSED (nothing taken, with the
      // reason), REFUNDED (taken, then given back when the order was cancelled) and CANCELLED (the order ended
      // before any decision). A replayed StockReserved, however old, finds the row and does nothing. Every
      // existing row is a deduction.
      await db.schema.alterTable('point_deductions', (t) => {
        t.enu('status', ['DEDUCTED', 'REFUSED', 'REFUNDED', 'CANCELLED']).notNullable().defaultTo('DEDUCTED');
        t.string('reason', 50).nullable();
        t.specificType('updated_at', 'DATETIME(6)').notNullable().defaultTo(db.raw('CURRENT_TIMESTAMP(6)'));
      });
    },
    async down(db) {
      await db('point_deductions').whereNot('status', 'DEDUCTED').delete();
      await db.schema.alterTable('point_deductions', (t) => {
        t.dropColumn('updated_at');
        t.dropColumn('reason');
        t.dropColumn('status');
      });
    },
  },
];
