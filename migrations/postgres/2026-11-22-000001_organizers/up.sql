-- Organizers are the tenants: one Stripe account each (a connected account or the platform's own).
-- Ids are UUIDv7 stored as text: the same schema then serves SQLite and PostgreSQL through diesel's
-- MultiConnection, and text order equals creation order for keyset pagination.
CREATE TABLE organizers (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    stripe_account_id   TEXT NOT NULL UNIQUE,
    application_fee_bps INTEGER CHECK (application_fee_bps BETWEEN 0 AND 10000),
    status              TEXT NOT NULL CHECK (status IN ('active', 'disabled')),
    created_at          TIMESTAMP NOT NULL,
    updated_at          TIMESTAMP NOT NULL
);

-- Who changed what, when, through which request. Rows are only ever inserted.
CREATE TABLE audit_events (
    id           TEXT PRIMARY KEY,
    occurred_at  TIMESTAMP NOT NULL,
    actor        TEXT NOT NULL,
    actor_role   TEXT NOT NULL,
    action       TEXT NOT NULL,
    organizer_id TEXT,
    request_id   TEXT NOT NULL,
    details      TEXT NOT NULL
);

CREATE INDEX audit_events_organizer_id_idx ON audit_events (organizer_id, id);
