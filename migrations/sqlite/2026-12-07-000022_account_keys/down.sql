-- The keys as they were before the account led them (see up.sql).
PRAGMA defer_foreign_keys = ON;

CREATE TEMP TABLE customers_aside AS SELECT * FROM customers;
DROP TABLE customers;
CREATE TABLE customers (
    id                 TEXT NOT NULL,
    organizer_id       TEXT NOT NULL REFERENCES organizers (id),
    stripe_account_id  TEXT NOT NULL,
    email              TEXT NOT NULL,
    email_normalized   TEXT NOT NULL,
    name               TEXT,
    phone              TEXT,
    metadata           TEXT NOT NULL,
    stripe_customer_id TEXT,
    status             TEXT NOT NULL CHECK (status IN ('pending', 'active', 'stripe_deleted')),
    create_attempt     INTEGER NOT NULL,
    last_failure_at    TIMESTAMP,
    version            INTEGER NOT NULL,
    created_at         TIMESTAMP NOT NULL,
    updated_at         TIMESTAMP NOT NULL,
    ever_active        BOOLEAN NOT NULL DEFAULT 0,
    listed_by          TEXT,
    PRIMARY KEY (id)
);
INSERT INTO customers (id, organizer_id, stripe_account_id, email, email_normalized, name, phone,
                       metadata, stripe_customer_id, status, create_attempt, last_failure_at,
                       version, created_at, updated_at, ever_active, listed_by)
    SELECT id, organizer_id, stripe_account_id, email, email_normalized, name, phone, metadata,
           stripe_customer_id, status, create_attempt, last_failure_at, version, created_at,
           updated_at, ever_active, listed_by
    FROM customers_aside;
DROP TABLE customers_aside;
CREATE UNIQUE INDEX customers_account_stripe_customer_key ON customers (stripe_account_id, stripe_customer_id);
CREATE UNIQUE INDEX customers_account_organizer_email_key
    ON customers (stripe_account_id, organizer_id, email_normalized);
CREATE INDEX customers_email_normalized_idx ON customers (email_normalized);
CREATE INDEX customers_account_id_idx ON customers (stripe_account_id, id);

CREATE TEMP TABLE sync_runs_aside AS SELECT * FROM sync_runs;
DROP TABLE sync_runs;
CREATE TABLE sync_runs (
    id                TEXT NOT NULL,
    organizer_id      TEXT NOT NULL,
    stripe_account_id TEXT NOT NULL,
    -- queued | running | succeeded | failed | interrupted | skipped
    status            TEXT NOT NULL,
    dry_run           BOOLEAN NOT NULL,
    -- JSON array of the kinds compared
    kinds             TEXT NOT NULL,
    -- api | cli | schedule | registration
    trigger           TEXT NOT NULL,
    created_at        TIMESTAMP NOT NULL,
    started_at        TIMESTAMP,
    finished_at       TIMESTAMP,
    -- JSON drift report, written as the run goes
    report            TEXT,
    error             TEXT,
    PRIMARY KEY (id)
);
INSERT INTO sync_runs (id, organizer_id, stripe_account_id, status, dry_run, kinds, trigger,
                       created_at, started_at, finished_at, report, error)
    SELECT id, organizer_id, stripe_account_id, status, dry_run, kinds, trigger, created_at,
           started_at, finished_at, report, error
    FROM sync_runs_aside;
DROP TABLE sync_runs_aside;
CREATE INDEX sync_runs_account_idx ON sync_runs (stripe_account_id, id);

CREATE TEMP TABLE webhook_event_attempts_aside AS SELECT * FROM webhook_event_attempts;
DROP TABLE webhook_event_attempts;
CREATE TEMP TABLE webhook_events_aside AS SELECT * FROM webhook_events;
DROP TABLE webhook_events;
CREATE TABLE webhook_events (
    id                TEXT NOT NULL,
    stripe_account_id TEXT,
    event_type        TEXT NOT NULL,
    object_type       TEXT NOT NULL,
    object_id         TEXT,
    livemode          BOOLEAN NOT NULL,
    created_at        TIMESTAMP NOT NULL,
    received_at       TIMESTAMP NOT NULL,
    -- pending | processed | dead | ignored | unknown_account
    status            TEXT NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   TIMESTAMP NOT NULL,
    -- A worker's claim: its random token and until when it holds the event.
    lease_owner       TEXT,
    lease_until       TIMESTAMP,
    processed_at      TIMESTAMP,
    -- The event whose fetch settled this one (itself, or another about the same object).
    settled_by        TEXT,
    payload           TEXT NOT NULL,
    PRIMARY KEY (id)
);
INSERT INTO webhook_events (id, stripe_account_id, event_type, object_type, object_id, livemode,
                            created_at, received_at, status, attempts, next_attempt_at,
                            lease_owner, lease_until, processed_at, settled_by, payload)
    SELECT id, NULLIF(stripe_account_id, ''), event_type, object_type, object_id, livemode,
           created_at, received_at, status, attempts, next_attempt_at, lease_owner, lease_until,
           processed_at, settled_by, payload
    FROM webhook_events_aside;
DROP TABLE webhook_events_aside;
CREATE INDEX webhook_events_due_idx ON webhook_events (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_events_object_idx ON webhook_events (stripe_account_id, object_id) WHERE status = 'pending';
CREATE INDEX webhook_events_received_idx ON webhook_events (received_at, id);

CREATE TABLE webhook_event_attempts (
    id          TEXT PRIMARY KEY,
    event_id    TEXT NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    started_at  TIMESTAMP NOT NULL,
    finished_at TIMESTAMP NOT NULL,
    -- NULL when the attempt succeeded.
    error       TEXT
);
INSERT INTO webhook_event_attempts (id, event_id, started_at, finished_at, error)
    SELECT id, event_id, started_at, finished_at, error
    FROM webhook_event_attempts_aside;
DROP TABLE webhook_event_attempts_aside;
CREATE INDEX webhook_event_attempts_event_idx ON webhook_event_attempts (event_id, started_at);

CREATE TEMP TABLE erasure_accounts_aside AS SELECT * FROM erasure_accounts;
DROP TABLE erasure_accounts;
CREATE TABLE erasure_accounts (
    erasure_id         TEXT NOT NULL REFERENCES erasures (id),
    customer_id        TEXT NOT NULL,
    organizer_id       TEXT NOT NULL,
    stripe_account_id  TEXT NOT NULL,
    stripe_customer_id TEXT,
    outcome            TEXT NOT NULL CHECK (outcome IN ('erased', 'failed')),
    error_code         TEXT,
    updated_at         TIMESTAMP NOT NULL,
    PRIMARY KEY (erasure_id, customer_id)
);
INSERT INTO erasure_accounts (erasure_id, customer_id, organizer_id, stripe_account_id,
                              stripe_customer_id, outcome, error_code, updated_at)
    SELECT erasure_id, customer_id, organizer_id, stripe_account_id, stripe_customer_id, outcome,
           error_code, updated_at
    FROM erasure_accounts_aside;
DROP TABLE erasure_accounts_aside;
