-- Each row's job identity (its BullMQ job id derives from it, not from the serial id). The volatile
-- default gives every existing row its own uuid; the table is rewritten once, under its lock.
ALTER TABLE "outbox" ADD COLUMN "job_id" uuid DEFAULT gen_random_uuid() NOT NULL;