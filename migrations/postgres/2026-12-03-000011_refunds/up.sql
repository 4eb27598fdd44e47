-- The mirror of each account's refunds, written from the create's answer and from fetches.
CREATE TABLE refunds (
    stripe_account_id TEXT NOT NULL,
    id                TEXT NOT NULL,
    payment_intent_id TEXT,
    charge_id         TEXT,
    amount            BIGINT NOT NULL,
    currency          TEXT NOT NULL,
    -- pending | requires_action | succeeded | failed | canceled
    status            TEXT NOT NULL,
    reason            TEXT,
    failure_reason    TEXT,
    -- JSON object of strings
    metadata          TEXT NOT NULL,
    created           TIMESTAMP,
    deleted           BOOLEAN NOT NULL,
    fetched_at        TIMESTAMP NOT NULL,
    PRIMARY KEY (stripe_account_id, id)
);
-- A payment's refunds, newest first.
CREATE INDEX refunds_payment_idx ON refunds (stripe_account_id, payment_intent_id, created, id);
