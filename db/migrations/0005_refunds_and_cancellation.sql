ALTER TABLE "order_status_history" ADD COLUMN "refund_status" text;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "payment_id" text;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "cancel_requested_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "refund_status" text;--> statement-breakpoint
ALTER TABLE "orders" ADD COLUMN "refund_idempotency_key" uuid;--> statement-breakpoint
CREATE INDEX "orders_refund_open_idx" ON "orders" USING btree ("refund_status") WHERE "orders"."refund_status" in ('requested', 'failed');--> statement-breakpoint
ALTER TABLE "orders" ADD CONSTRAINT "orders_refund_status_ck" CHECK ("orders"."refund_status" in ('requested', 'refunded', 'failed'));--> statement-breakpoint
-- Written by hand: orders paid before payment_id existed get it from the applied payment callback
-- the inbox still holds, so that a refund owed later (shipping fails) can name the payment. Only
-- `paid` orders can still be cancelled. One whose callback retention already deleted keeps null;
-- its refund row then fails visibly (outbox failed_at, last_error) for ops to settle.
UPDATE "orders" AS o SET "payment_id" = i."payload"->>'id'
FROM "inbox" AS i
WHERE o."status" = 'paid' AND o."payment_id" IS NULL
  AND i."order_id" = o."id" AND i."source" = 'payments'
  AND i."event_type" = 'payment.succeeded' AND i."result" = 'applied';
