-- The mirror of each account's disputes, read-only, written only from fetches.
CREATE TABLE disputes (
    stripe_account_id TEXT NOT NULL,
    id                TEXT NOT NULL,
    payment_intent_id TEXT,
    charge_id         TEXT,
    amount            BIGINT NOT NULL,
    currency          TEXT NOT NULL,
    -- warning_needs_response | warning_under_review | warning_closed | needs_response
    -- | under_review | won | lost
    status            TEXT NOT NULL,
    reason            TEXT,
    evidence_due_by   TIMESTAMP,
    created           TIMESTAMP,
    deleted           BOOLEAN NOT NULL,
    fetched_at        TIMESTAMP NOT NULL,
    PRIMARY KEY (stripe_account_id, id)
);
-- An account's disputes, newest first.
CREATE INDEX disputes_created_idx ON disputes (stripe_account_id, created, id);
