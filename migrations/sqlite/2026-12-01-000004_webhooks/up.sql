-- The webhook inbox: one row per Stripe event id, stored before the delivery is acknowledged.
-- It keeps what re-fetching needs (account, type, the object named) and the raw body for audit
-- and replay. `stripe_account_id` is the event's `account`, or the platform's own account when
-- the event has none; NULL when it has none and no platform account is configured.
CREATE TABLE webhook_events (
    id                TEXT PRIMARY KEY,
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
    payload           TEXT NOT NULL
);

-- What workers claim, oldest due first.
CREATE INDEX webhook_events_due_idx ON webhook_events (next_attempt_at) WHERE status = 'pending';
-- The pending events about one object, settled together by one fetch.
CREATE INDEX webhook_events_object_idx ON webhook_events (stripe_account_id, object_id) WHERE status = 'pending';
-- The admin list, newest first.
CREATE INDEX webhook_events_received_idx ON webhook_events (received_at, id);

-- Every processing attempt of an event, with its error (the API shows the last one with the event).
CREATE TABLE webhook_event_attempts (
    id          TEXT PRIMARY KEY,
    event_id    TEXT NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    started_at  TIMESTAMP NOT NULL,
    finished_at TIMESTAMP NOT NULL,
    -- NULL when the attempt succeeded.
    error       TEXT
);
CREATE INDEX webhook_event_attempts_event_idx ON webhook_event_attempts (event_id, started_at);

-- The mirror of each account's catalog and billing state, written only from what Stripe
-- answered to a fetch. `fetched_at` is when that fetch began: a write whose fetch began
-- earlier than the stored one's is dropped, so racing workers cannot leave an older state.
CREATE TABLE products (
    stripe_account_id TEXT NOT NULL,
    id                TEXT NOT NULL,
    name              TEXT NOT NULL,
    description       TEXT,
    active            BOOLEAN NOT NULL,
    metadata          TEXT NOT NULL,
    deleted           BOOLEAN NOT NULL,
    fetched_at        TIMESTAMP NOT NULL,
    PRIMARY KEY (stripe_account_id, id)
);

CREATE TABLE prices (
    stripe_account_id        TEXT NOT NULL,
    id                       TEXT NOT NULL,
    product_id               TEXT NOT NULL,
    active                   BOOLEAN NOT NULL,
    currency                 TEXT NOT NULL,
    unit_amount              BIGINT,
    recurring_interval       TEXT,
    recurring_interval_count INTEGER,
    lookup_key               TEXT,
    nickname                 TEXT,
    metadata                 TEXT NOT NULL,
    deleted                  BOOLEAN NOT NULL,
    fetched_at               TIMESTAMP NOT NULL,
    PRIMARY KEY (stripe_account_id, id)
);
CREATE INDEX prices_product_idx ON prices (stripe_account_id, product_id);

CREATE TABLE subscriptions (
    stripe_account_id    TEXT NOT NULL,
    id                   TEXT NOT NULL,
    stripe_customer_id   TEXT NOT NULL,
    status               TEXT NOT NULL,
    -- [{"id": "si_...", "price": "price_...", "quantity": 1}]
    items                TEXT NOT NULL,
    current_period_end   TIMESTAMP,
    cancel_at_period_end BOOLEAN NOT NULL,
    trial_end            TIMESTAMP,
    metadata             TEXT NOT NULL,
    deleted              BOOLEAN NOT NULL,
    fetched_at           TIMESTAMP NOT NULL,
    PRIMARY KEY (stripe_account_id, id)
);
CREATE INDEX subscriptions_customer_idx ON subscriptions (stripe_account_id, stripe_customer_id);

CREATE TABLE checkout_sessions (
    stripe_account_id  TEXT NOT NULL,
    id                 TEXT NOT NULL,
    stripe_customer_id TEXT,
    mode               TEXT NOT NULL,
    -- open | complete | expired
    status             TEXT,
    -- paid | unpaid | no_payment_required
    payment_status     TEXT NOT NULL,
    amount_total       BIGINT,
    currency           TEXT,
    expires_at         TIMESTAMP,
    metadata           TEXT NOT NULL,
    deleted            BOOLEAN NOT NULL,
    fetched_at         TIMESTAMP NOT NULL,
    PRIMARY KEY (stripe_account_id, id)
);

-- A customer's active entitlements: the lookup keys of the features Stripe says they have now.
CREATE TABLE entitlements (
    stripe_account_id  TEXT NOT NULL,
    stripe_customer_id TEXT NOT NULL,
    -- JSON array of lookup keys
    features           TEXT NOT NULL,
    fetched_at         TIMESTAMP NOT NULL,
    PRIMARY KEY (stripe_account_id, stripe_customer_id)
);

-- When an organizer's account revoked the platform's access (account.application.deauthorized,
-- confirmed with Stripe): reads go on, writes to Stripe stop.
ALTER TABLE organizers ADD COLUMN disconnected_at TIMESTAMP;
