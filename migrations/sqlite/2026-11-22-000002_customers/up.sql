-- A customer of one organizer, keyed by (stripe_account_id, email_normalized): the same person
-- buying from two organizers is two customers, each with its own Stripe customer in its own account.
-- `stripe_account_id` is the organizer's, copied here because it is the key (organizers cannot
-- change account).
--
-- status:
--   pending        reserved by an upsert; the Stripe customer is being created (or its creation
--                  failed and will be resumed by the next upsert). stripe_customer_id is NULL.
--                  Never shown by reads.
--   active         mirrors a Stripe customer.
--   stripe_deleted the Stripe customer was found deleted; the next upsert creates a new one.
-- create_attempt is part of the idempotency key of the Stripe create: the same attempt replays,
-- a new one (after a deletion in Stripe) creates anew. lease_until marks a create in flight, so
-- that concurrent upserts, on any instance, wait for it instead of calling Stripe too.
CREATE TABLE customers (
    id                 TEXT PRIMARY KEY,
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
    lease_until        TIMESTAMP,
    last_failure_at    TIMESTAMP,
    version            INTEGER NOT NULL,
    created_at         TIMESTAMP NOT NULL,
    updated_at         TIMESTAMP NOT NULL
);

CREATE UNIQUE INDEX customers_account_email_key ON customers (stripe_account_id, email_normalized);
CREATE UNIQUE INDEX customers_account_stripe_customer_key ON customers (stripe_account_id, stripe_customer_id);
CREATE INDEX customers_organizer_id_idx ON customers (organizer_id, id);
-- Erasure finds a person across every organizer.
CREATE INDEX customers_email_normalized_idx ON customers (email_normalized);

-- Audit rows name their targets and outcome, and carry a keyed hash (HMAC-SHA256) of the person's
-- normalized email instead of the email itself, so that an erasure can be proven without keeping
-- what was erased.
ALTER TABLE audit_events ADD COLUMN target_ids TEXT NOT NULL DEFAULT '{}';
ALTER TABLE audit_events ADD COLUMN outcome TEXT NOT NULL DEFAULT 'succeeded';
ALTER TABLE audit_events ADD COLUMN subject_hash TEXT;
CREATE INDEX audit_events_action_idx ON audit_events (action, id);
CREATE INDEX audit_events_subject_hash_idx ON audit_events (subject_hash, id);

-- GDPR erasure requests and, per customer found, what happened in its account. A request that
-- failed somewhere stays `partial`; the same request again resumes it.
CREATE TABLE erasures (
    id           TEXT PRIMARY KEY,
    subject_hash TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('partial', 'completed')),
    created_at   TIMESTAMP NOT NULL,
    updated_at   TIMESTAMP NOT NULL
);

CREATE INDEX erasures_subject_hash_idx ON erasures (subject_hash, id);

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
