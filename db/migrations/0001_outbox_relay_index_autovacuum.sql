-- The relay skips rows marked failed (not enqueueable); keep them out of its partial index too.
-- (drizzle-kit does not diff an index's WHERE clause, so this is written by hand.)
DROP INDEX IF EXISTS "outbox_undispatched_idx";--> statement-breakpoint
CREATE INDEX "outbox_undispatched_idx" ON "outbox" USING btree ("id") WHERE "outbox"."dispatched_at" is null and "outbox"."failed_at" is null;--> statement-breakpoint
-- Every row is inserted, updated two or three times and later deleted: vacuum the queue-like
-- table early so dead tuples do not pile up at the front of the relay's index.
ALTER TABLE "outbox" SET (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_insert_scale_factor = 0.01, autovacuum_analyze_scale_factor = 0.02);
