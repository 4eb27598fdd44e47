DROP INDEX webhook_events_dead_idx;
ALTER TABLE webhook_event_attempts DROP CONSTRAINT webhook_event_attempts_event_fkey;
ALTER TABLE webhook_events DROP CONSTRAINT webhook_events_pkey;
ALTER TABLE webhook_events ADD PRIMARY KEY (stripe_account_id, id);
CREATE INDEX webhook_events_id_idx ON webhook_events (id);
ALTER TABLE webhook_event_attempts ADD CONSTRAINT webhook_event_attempts_event_fkey
    FOREIGN KEY (stripe_account_id, event_id) REFERENCES webhook_events (stripe_account_id, id)
    ON DELETE CASCADE;
