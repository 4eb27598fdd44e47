-- The mirror of each account's PaymentIntents, in every status, written only from fetches.
CREATE TABLE payment_intents (
    stripe_account_id      TEXT NOT NULL,
    id                     TEXT NOT NULL,
    stripe_customer_id     TEXT,
    -- requires_payment_method | requires_confirmation | requires_action | processing
    -- | requires_capture | canceled | succeeded
    status                 TEXT NOT NULL,
    currency               TEXT NOT NULL,
    amount                 BIGINT NOT NULL,
    amount_received        BIGINT NOT NULL,
    application_fee_amount BIGINT,
    latest_charge          TEXT,
    -- JSON: null, or Stripe's last_payment_error (code, decline_code, message)
    last_error             TEXT NOT NULL,
    -- JSON object of strings
    metadata               TEXT NOT NULL,
    created                TIMESTAMP,
    deleted                BOOLEAN NOT NULL,
    fetched_at             TIMESTAMP NOT NULL,
    PRIMARY KEY (stripe_account_id, id)
);
-- An account's payments newest first, and a customer's.
CREATE INDEX payment_intents_created_idx ON payment_intents (stripe_account_id, created, id);
CREATE INDEX payment_intents_customer_idx ON payment_intents (stripe_account_id, stripe_customer_id, created, id);
