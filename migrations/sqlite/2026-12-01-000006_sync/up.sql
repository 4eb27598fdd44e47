-- Reconciliation runs: each compares one account's objects in Stripe with the mirror, repairs
-- what differs (unless a dry run) and keeps its drift report.
CREATE TABLE sync_runs (
    id                TEXT PRIMARY KEY,
    organizer_id      TEXT NOT NULL,
    stripe_account_id TEXT NOT NULL,
    -- queued | running | succeeded | failed | interrupted | skipped
    status            TEXT NOT NULL,
    dry_run           BOOLEAN NOT NULL,
    -- JSON array of the kinds compared: customers, products, prices, subscriptions
    kinds             TEXT NOT NULL,
    -- api | cli | schedule | registration
    trigger           TEXT NOT NULL,
    created_at        TIMESTAMP NOT NULL,
    started_at        TIMESTAMP,
    finished_at       TIMESTAMP,
    -- JSON drift report, written as the run goes
    report            TEXT,
    error             TEXT
);
CREATE INDEX sync_runs_account_idx ON sync_runs (stripe_account_id, id);

-- Where an account's listing of one kind stands: a run that stops (a crash, a deploy) is
-- resumed by the next one after the last page it applied, not from the first page.
CREATE TABLE sync_cursors (
    stripe_account_id TEXT NOT NULL,
    kind              TEXT NOT NULL,
    run_id            TEXT NOT NULL,
    -- the id of the last object of the last page applied
    starting_after    TEXT NOT NULL,
    updated_at        TIMESTAMP NOT NULL,
    PRIMARY KEY (stripe_account_id, kind)
);

-- Where an account's catch-up through Stripe's Events API stands: events created at or after
-- `since` (unix seconds) are listed by the next run, and stored in the inbox if it lacks them.
CREATE TABLE event_cursors (
    stripe_account_id TEXT PRIMARY KEY,
    since             BIGINT NOT NULL,
    updated_at        TIMESTAMP NOT NULL
);

-- The instances calling Stripe: each takes an equal share of the rate budget. A row not seen
-- for 15 seconds is an instance that stopped.
CREATE TABLE stripe_instances (
    id      TEXT PRIMARY KEY,
    seen_at TIMESTAMP NOT NULL
);
