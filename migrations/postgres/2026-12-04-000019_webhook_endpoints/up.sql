-- Where the gateway delivers its events over HTTP (Standard Webhooks). An endpoint belongs to
-- an organizer (`organizer_id`: that organizer's events only) or to the platform (NULL: every
-- organizer's, or those in `organizer_ids`, comma-separated). `event_types` (comma-separated)
-- filters by type, NULL for every type. The gateway disables an endpoint that keeps failing
-- (`disabled_reason` 'failing'); `failing_since` is its first failure after its last success.
-- `lease_until` is held by the instance delivering to it, so one endpoint has one sender.
CREATE TABLE webhook_endpoints (
    id              TEXT PRIMARY KEY,
    organizer_id    TEXT REFERENCES organizers (id),
    organizer_ids   TEXT,
    url             TEXT NOT NULL,
    description     TEXT NOT NULL,
    event_types     TEXT,
    enabled         BOOLEAN NOT NULL,
    disabled_reason TEXT,
    failing_since   TIMESTAMP,
    lease_until     TIMESTAMP,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
CREATE INDEX webhook_endpoints_organizer_idx ON webhook_endpoints (organizer_id);

-- An endpoint's signing secrets: every one not expired signs each delivery, so a receiver
-- keeps verifying while a secret is rotated.
CREATE TABLE webhook_secrets (
    endpoint_id TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    id          TEXT NOT NULL,
    secret      TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    expires_at  TIMESTAMP,
    PRIMARY KEY (endpoint_id, id)
);

-- One event to deliver to one endpoint, written in the event's transaction (or by a replay).
-- `state`: pending, delivered, failed (its attempts ran out). Deliveries of one object to one
-- endpoint go in `event_seq` order: one waits while an earlier one of its object is pending.
CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    organizer_id    TEXT NOT NULL,
    event_seq       BIGINT NOT NULL,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    object_id       TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL,
    created_at      TIMESTAMP NOT NULL,
    finished_at     TIMESTAMP
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (endpoint_id, next_attempt_at)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_object_idx
    ON webhook_deliveries (endpoint_id, organizer_id, object_id, event_seq)
    WHERE state = 'pending';
CREATE INDEX webhook_deliveries_log_idx ON webhook_deliveries (endpoint_id, created_at);
CREATE INDEX webhook_deliveries_created_idx ON webhook_deliveries (created_at);
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id);

-- Each attempt of a delivery: the answer's status (NULL when there was none), or why it
-- failed, how long it took, and the start of the answer's body.
CREATE TABLE webhook_attempts (
    delivery_id TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt     INTEGER NOT NULL,
    started_at  TIMESTAMP NOT NULL,
    latency_ms  INTEGER NOT NULL,
    status_code INTEGER,
    error       TEXT,
    response    TEXT,
    PRIMARY KEY (delivery_id, attempt)
);
