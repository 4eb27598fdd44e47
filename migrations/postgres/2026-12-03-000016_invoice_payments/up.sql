-- The mirror of each account's invoice payments: which PaymentIntent paid which invoice.
CREATE TABLE invoice_payments (
    stripe_account_id TEXT NOT NULL,
    id                TEXT NOT NULL,
    invoice_id        TEXT NOT NULL,
    payment_intent_id TEXT,
    -- open | paid | canceled
    status            TEXT NOT NULL,
    amount_paid       BIGINT,
    amount_requested  BIGINT NOT NULL,
    currency          TEXT NOT NULL,
    is_default        BOOLEAN NOT NULL,
    created           TIMESTAMP,
    deleted           BOOLEAN NOT NULL,
    fetched_at        TIMESTAMP NOT NULL,
    PRIMARY KEY (stripe_account_id, id)
);
-- An invoice's payments, and the invoice of a payment.
CREATE INDEX invoice_payments_invoice_idx ON invoice_payments (stripe_account_id, invoice_id);
CREATE INDEX invoice_payments_payment_intent_idx ON invoice_payments (stripe_account_id, payment_intent_id);
