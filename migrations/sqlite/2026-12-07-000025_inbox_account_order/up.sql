-- One account's events newest first, as on PostgreSQL: along this index, without a sort of
-- the account's events.
CREATE INDEX webhook_events_account_received_idx
    ON webhook_events (stripe_account_id, received_at, id);
