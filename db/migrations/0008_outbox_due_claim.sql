-- The relay claims only rows that are due (db/outbox/dispatch.ts): rows to run at once in id order,
-- and rows to run later (payment checks) by run_after, each from an index of its own, so the
-- thousands of checks not yet due never lie in the way of the rows due now, and a check completed
-- before it fell due (its order left `new`) is never claimed. outbox_undispatched_idx stays for the
-- old relays that still serve while this release runs; a later release drops it.
CREATE INDEX CONCURRENTLY "outbox_undispatched_now_idx" ON "outbox" USING btree ("id") WHERE "outbox"."dispatched_at" is null and "outbox"."completed_at" is null and "outbox"."failed_at" is null and "outbox"."run_after" is null;--> statement-breakpoint
CREATE INDEX CONCURRENTLY "outbox_undispatched_later_idx" ON "outbox" USING btree ("run_after") WHERE "outbox"."dispatched_at" is null and "outbox"."completed_at" is null and "outbox"."failed_at" is null and "outbox"."run_after" is not null;
