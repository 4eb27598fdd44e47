-- The mirror of each account's invoices, in every status, written only from fetches.
CREATE TABLE invoices (
    stripe_account_id  TEXT NOT NULL,
    id                 TEXT NOT NULL,
    stripe_customer_id TEXT,
    subscription_id    TEXT,
    number             TEXT,
    -- draft | open | paid | uncollectible | void
    status             TEXT,
    currency           TEXT NOT NULL,
    total              BIGINT NOT NULL,
    amount_due         BIGINT NOT NULL,
    amount_paid        BIGINT NOT NULL,
    hosted_invoice_url TEXT,
    period_start       TIMESTAMP,
    period_end         TIMESTAMP,
    created            TIMESTAMP,
    deleted            BOOLEAN NOT NULL,
    fetched_at         TIMESTAMP NOT NULL,
    PRIMARY KEY (stripe_account_id, id)
);
-- A customer's invoices, newest first.
CREATE INDEX invoices_customer_idx ON invoices (stripe_account_id, stripe_customer_id, created, id);
