-- An organizer may be registered before it has a Stripe account: the gateway then creates one
-- (POST /v1/organizers/{org_id}/stripe-account). SQLite cannot drop a NOT NULL, so the table is
-- rebuilt under its own name: its rows are set aside, the table dropped and created anew, and
-- the rows put back. Customers' references to it are checked at commit, when every organizer
-- they name is back (a table renamed into place would not count as one put back).
PRAGMA defer_foreign_keys = ON;
CREATE TEMP TABLE organizers_aside AS SELECT * FROM organizers;
DROP TABLE organizers;
CREATE TABLE organizers (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    stripe_account_id   TEXT UNIQUE,
    application_fee_bps INTEGER CHECK (application_fee_bps BETWEEN 0 AND 10000),
    status              TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL,
    disconnected_at     TIMESTAMP
);
INSERT INTO organizers (id, name, stripe_account_id, application_fee_bps, status, created_at,
                        updated_at, disconnected_at)
    SELECT id, name, stripe_account_id, application_fee_bps, status, created_at, updated_at,
           disconnected_at
    FROM organizers_aside;
DROP TABLE organizers_aside;

-- The mirror of each organizer's Stripe account: whether it can take charges and pay out, and
-- what Stripe still needs from it. One row per account (`id` is the account's own id), written
-- only from fetches, like every mirrored kind.
CREATE TABLE stripe_accounts (
    stripe_account_id TEXT NOT NULL,
    id                TEXT NOT NULL,
    -- express | standard | custom | none (Stripe's `type`, or what its controller implies)
    account_type      TEXT,
    country           TEXT,
    charges_enabled   BOOLEAN NOT NULL,
    payouts_enabled   BOOLEAN NOT NULL,
    details_submitted BOOLEAN NOT NULL,
    -- JSON arrays of Stripe's requirement names.
    currently_due     TEXT NOT NULL,
    past_due          TEXT NOT NULL,
    disabled_reason   TEXT,
    deleted           BOOLEAN NOT NULL,
    fetched_at        TIMESTAMP NOT NULL,
    PRIMARY KEY (stripe_account_id, id)
);
