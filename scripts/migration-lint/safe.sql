-- The forms a migration takes so that the release never stops intake (docs/scaling.md, Releases).
-- `npm run db:lint` checks that squawk passes them, and test/integration/migrate.test.ts that the
-- release applies them to the real schema.
--
-- A column with a constant default: Postgres 11 and later store the default once, no rewrite.
ALTER TABLE "orders" ADD COLUMN "channel" text DEFAULT 'web' NOT NULL;--> statement-breakpoint
-- An index, built CONCURRENTLY (outside a transaction: the release does that) and named.
CREATE INDEX CONCURRENTLY "orders_channel_idx" ON "orders" USING btree ("channel");--> statement-breakpoint
-- A CHECK: added NOT VALID (a short lock, no scan), then validated (a scan that blocks no writes).
ALTER TABLE "orders" ADD CONSTRAINT "orders_channel_ck" CHECK ("orders"."channel" in ('web', 'api')) NOT VALID;--> statement-breakpoint
ALTER TABLE "orders" VALIDATE CONSTRAINT "orders_channel_ck";--> statement-breakpoint
-- A value every row needs but no constant gives (a uuid each): the column nullable with the
-- volatile default set apart, which new rows get and existing rows do not (no rewrite). Once the
-- old rows are filled in short batches (a one-off task between two releases, never one UPDATE of
-- the whole table, which would hold every row's lock), NOT NULL comes through a validated CHECK,
-- which spares SET NOT NULL its scan under ACCESS EXCLUSIVE. Shown in one file for brevity.
ALTER TABLE "outbox" ADD COLUMN "trace_id" uuid;--> statement-breakpoint
ALTER TABLE "outbox" ALTER COLUMN "trace_id" SET DEFAULT gen_random_uuid();--> statement-breakpoint
ALTER TABLE "outbox" ADD CONSTRAINT "outbox_trace_id_nn" CHECK ("trace_id" IS NOT NULL) NOT VALID;--> statement-breakpoint
ALTER TABLE "outbox" VALIDATE CONSTRAINT "outbox_trace_id_nn";--> statement-breakpoint
ALTER TABLE "outbox" ALTER COLUMN "trace_id" SET NOT NULL;--> statement-breakpoint
-- squawk-ignore ban-drop-constraint
ALTER TABLE "outbox" DROP CONSTRAINT "outbox_trace_id_nn";--> statement-breakpoint
-- A foreign key: NOT VALID, then validated, as a CHECK.
CREATE TABLE "order_notes" ("id" bigserial PRIMARY KEY NOT NULL, "order_id" uuid NOT NULL, "note" text NOT NULL);--> statement-breakpoint
ALTER TABLE "order_notes" ADD CONSTRAINT "order_notes_order_id_orders_id_fk" FOREIGN KEY ("order_id") REFERENCES "public"."orders"("id") NOT VALID;--> statement-breakpoint
ALTER TABLE "order_notes" VALIDATE CONSTRAINT "order_notes_order_id_orders_id_fk";--> statement-breakpoint
CREATE INDEX CONCURRENTLY "order_notes_order_id_idx" ON "order_notes" USING btree ("order_id");--> statement-breakpoint
-- Dropping an index: CONCURRENTLY too.
DROP INDEX CONCURRENTLY IF EXISTS "orders_channel_idx";
