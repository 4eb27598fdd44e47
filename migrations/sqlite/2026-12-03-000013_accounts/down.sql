-- Back to an account per organizer: refused (NOT NULL) while an organizer has none.
DROP TABLE stripe_accounts;
PRAGMA defer_foreign_keys = ON;
CREATE TEMP TABLE organizers_aside AS SELECT * FROM organizers;
DROP TABLE organizers;
CREATE TABLE organizers (
    id                  TEXT PRIMARY KEY,
    name                TEXT NOT NULL,
    stripe_account_id   TEXT NOT NULL UNIQUE,
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
