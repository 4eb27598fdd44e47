-- An organizer may be registered before it has a Stripe account: the gateway then creates one
-- (POST /v1/organizers/{org_id}/stripe-account). The unique index still holds one organizer per
-- account; organizers without one are not compared.
ALTER TABLE organizers ALTER COLUMN stripe_account_id DROP NOT NULL;

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
