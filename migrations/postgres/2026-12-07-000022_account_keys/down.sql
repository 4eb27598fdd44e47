DROP INDEX erasure_accounts_erasure_idx;
ALTER TABLE erasure_accounts DROP CONSTRAINT erasure_accounts_pkey;
ALTER TABLE erasure_accounts ADD PRIMARY KEY (erasure_id, customer_id);

DROP INDEX webhook_event_attempts_event_idx;
CREATE INDEX webhook_event_attempts_event_idx ON webhook_event_attempts (event_id, started_at);
ALTER TABLE webhook_event_attempts DROP CONSTRAINT webhook_event_attempts_event_fkey;
ALTER TABLE webhook_event_attempts DROP CONSTRAINT webhook_event_attempts_pkey;
ALTER TABLE webhook_event_attempts ADD PRIMARY KEY (id);
DROP INDEX webhook_events_id_idx;
ALTER TABLE webhook_events DROP CONSTRAINT webhook_events_pkey;
ALTER TABLE webhook_events ADD PRIMARY KEY (id);
ALTER TABLE webhook_event_attempts ADD CONSTRAINT webhook_event_attempts_event_id_fkey
    FOREIGN KEY (event_id) REFERENCES webhook_events (id) ON DELETE CASCADE;
ALTER TABLE webhook_event_attempts DROP COLUMN stripe_account_id;
ALTER TABLE webhook_events ALTER COLUMN stripe_account_id DROP NOT NULL;
UPDATE webhook_events SET stripe_account_id = NULL WHERE stripe_account_id = '';

DROP INDEX sync_runs_id_idx;
ALTER TABLE sync_runs DROP CONSTRAINT sync_runs_pkey;
ALTER TABLE sync_runs ADD PRIMARY KEY (id);
CREATE INDEX sync_runs_account_idx ON sync_runs (stripe_account_id, id);

DROP INDEX customers_id_idx;
ALTER TABLE customers DROP CONSTRAINT customers_pkey;
ALTER TABLE customers ADD PRIMARY KEY (id);
CREATE INDEX customers_account_id_idx ON customers (stripe_account_id, id);
