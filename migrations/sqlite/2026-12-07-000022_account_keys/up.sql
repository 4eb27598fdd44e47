-- Every tenant table's keys lead with the account, as on PostgreSQL (where this is the first
-- step to spreading accounts over several nodes; see the PostgreSQL migration). SQLite cannot
-- change a primary key, so each table is rebuilt under its own name: rows set aside, the table
-- dropped and created anew with its indexes, the rows put back. An event's attempts are set
-- aside before the event (dropping the events would cascade to them).
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
    PRIMARY KEY (stripe_account_id, id)
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
CREATE INDEX customers_id_idx ON customers (id);

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
    PRIMARY KEY (stripe_account_id, id)
);
INSERT INTO sync_runs (id, organizer_id, stripe_account_id, status, dry_run, kinds, trigger,
                       created_at, started_at, finished_at, report, error)
    SELECT id, organizer_id, stripe_account_id, status, dry_run, kinds, trigger, created_at,
           started_at, finished_at, report, error
    FROM sync_runs_aside;
DROP TABLE sync_runs_aside;
CREATE INDEX sync_runs_id_idx ON sync_runs (id);

-- An event without an account, when no platform account is configured, belongs to no tenant:
-- it is kept under the empty account ('') instead of NULL.
CREATE TEMP TABLE webhook_event_attempts_aside AS
    SELECT a.*, COALESCE(e.stripe_account_id, '') AS stripe_account_id
    FROM webhook_event_attempts a JOIN webhook_events e ON e.id = a.event_id;
DROP TABLE webhook_event_attempts;
CREATE TEMP TABLE webhook_events_aside AS SELECT * FROM webhook_events;
DROP TABLE webhook_events;
CREATE TABLE webhook_events (
    id                TEXT NOT NULL,
    stripe_account_id TEXT NOT NULL,
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
    PRIMARY KEY (stripe_account_id, id)
);
INSERT INTO webhook_events (id, stripe_account_id, event_type, object_type, object_id, livemode,
                            created_at, received_at, status, attempts, next_attempt_at,
                            lease_owner, lease_until, processed_at, settled_by, payload)
    SELECT id, COALESCE(stripe_account_id, ''), event_type, object_type, object_id, livemode,
           created_at, received_at, status, attempts, next_attempt_at, lease_owner, lease_until,
           processed_at, settled_by, payload
    FROM webhook_events_aside;
DROP TABLE webhook_events_aside;
CREATE INDEX webhook_events_id_idx ON webhook_events (id);
CREATE INDEX webhook_events_due_idx ON webhook_events (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_events_object_idx ON webhook_events (stripe_account_id, object_id) WHERE status = 'pending';
CREATE INDEX webhook_events_received_idx ON webhook_events (received_at, id);

CREATE TABLE webhook_event_attempts (
    stripe_account_id TEXT NOT NULL,
    id                TEXT NOT NULL,
    event_id          TEXT NOT NULL,
    started_at        TIMESTAMP NOT NULL,
    finished_at       TIMESTAMP NOT NULL,
    -- NULL when the attempt succeeded.
    error             TEXT,
    PRIMARY KEY (stripe_account_id, id),
    FOREIGN KEY (stripe_account_id, event_id) REFERENCES webhook_events (stripe_account_id, id)
        ON DELETE CASCADE
);
INSERT INTO webhook_event_attempts (stripe_account_id, id, event_id, started_at, finished_at, error)
    SELECT stripe_account_id, id, event_id, started_at, finished_at, error
    FROM webhook_event_attempts_aside;
DROP TABLE webhook_event_attempts_aside;
CREATE INDEX webhook_event_attempts_event_idx
    ON webhook_event_attempts (stripe_account_id, event_id, started_at);

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
    PRIMARY KEY (stripe_account_id, erasure_id, customer_id)
);
INSERT INTO erasure_accounts (erasure_id, customer_id, organizer_id, stripe_account_id,
                              stripe_customer_id, outcome, error_code, updated_at)
    SELECT erasure_id, customer_id, organizer_id, stripe_account_id, stripe_customer_id, outcome,
           error_code, updated_at
    FROM erasure_accounts_aside;
DROP TABLE erasure_accounts_aside;
CREATE INDEX erasure_accounts_erasure_idx ON erasure_accounts (erasure_id);
