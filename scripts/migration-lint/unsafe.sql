-- What the linter must refuse (`npm run db:lint` checks that it does, or it checks nothing):
-- a volatile default (rewrites the table under its ACCESS EXCLUSIVE lock),
ALTER TABLE "outbox" ADD COLUMN "trace_id" uuid DEFAULT gen_random_uuid() NOT NULL;--> statement-breakpoint
-- an index built without CONCURRENTLY (blocks writes for the whole build),
CREATE INDEX "orders_channel_idx" ON "orders" USING btree ("channel");--> statement-breakpoint
-- a CHECK added without NOT VALID (scans the table while it blocks writes).
ALTER TABLE "orders" ADD CONSTRAINT "orders_channel_ck" CHECK ("orders"."channel" in ('web', 'api'));
