ALTER TABLE "orders" ADD COLUMN "payment_accepted_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "requested_payment_id" text;--> statement-breakpoint
ALTER TABLE "outbox" ADD COLUMN "run_after" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "orders_paid_updated_idx" ON "orders" USING btree ("updated_at") WHERE "orders"."status" = 'paid';