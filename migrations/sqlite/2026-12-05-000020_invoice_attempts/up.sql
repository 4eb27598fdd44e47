-- How many times Stripe has tried to collect each invoice (its retry schedule's count): a
-- count that goes up on an invoice still open is a payment attempt that failed, which the
-- gateway tells as invoice.payment_failed. Rows mirrored before hold -1 (not known) until their
-- next read from Stripe, which tells nothing of attempts made before it.
ALTER TABLE invoices ADD COLUMN attempt_count INTEGER NOT NULL DEFAULT -1;
