-- Every tenant table's keys lead with the account: the first step to spreading the accounts
-- over several PostgreSQL nodes (Citus, distributed by `stripe_account_id`), which needs
-- each primary key and unique index of a distributed table to hold that column. On one node
-- they cost nothing: every query of these tables already names its account.

-- Customers and reconciliation runs: their ids stay unique (UUIDs), the key only gains the
-- account in front; the (account, id) indexes these replace become the keys themselves, and
-- a plain index on the id keeps the look-ups by organizer and id (the organizer names the
-- tenant) and by id alone (the admin's) probes. Neither table gains an index.
ALTER TABLE customers DROP CONSTRAINT customers_pkey;
ALTER TABLE customers ADD PRIMARY KEY (stripe_account_id, id);
DROP INDEX customers_account_id_idx;
CREATE INDEX customers_id_idx ON customers (id);

ALTER TABLE sync_runs DROP CONSTRAINT sync_runs_pkey;
ALTER TABLE sync_runs ADD PRIMARY KEY (stripe_account_id, id);
DROP INDEX sync_runs_account_idx;
CREATE INDEX sync_runs_id_idx ON sync_runs (id);

-- The inbox: an event without an account, when no platform account is configured, belongs
-- to no tenant; it is kept under the empty account ('') instead of NULL, so that every row
-- has the column its key leads with. Its attempts carry the event's account.
UPDATE webhook_events SET stripe_account_id = '' WHERE stripe_account_id IS NULL;
ALTER TABLE webhook_events ALTER COLUMN stripe_account_id SET NOT NULL;

ALTER TABLE webhook_event_attempts ADD COLUMN stripe_account_id TEXT;
UPDATE webhook_event_attempts a SET stripe_account_id = e.stripe_account_id
    FROM webhook_events e WHERE e.id = a.event_id;
ALTER TABLE webhook_event_attempts ALTER COLUMN stripe_account_id SET NOT NULL;
ALTER TABLE webhook_event_attempts DROP CONSTRAINT webhook_event_attempts_event_id_fkey;

ALTER TABLE webhook_events DROP CONSTRAINT webhook_events_pkey;
ALTER TABLE webhook_events ADD PRIMARY KEY (stripe_account_id, id);
-- The admin's look-up of one event by its id alone (Stripe's event ids are unique) and the
-- workers' claim of events of any account: the inbox's one index more.
CREATE INDEX webhook_events_id_idx ON webhook_events (id);

ALTER TABLE webhook_event_attempts DROP CONSTRAINT webhook_event_attempts_pkey;
ALTER TABLE webhook_event_attempts ADD PRIMARY KEY (stripe_account_id, id);
ALTER TABLE webhook_event_attempts ADD CONSTRAINT webhook_event_attempts_event_fkey
    FOREIGN KEY (stripe_account_id, event_id) REFERENCES webhook_events (stripe_account_id, id)
    ON DELETE CASCADE;
DROP INDEX webhook_event_attempts_event_idx;
CREATE INDEX webhook_event_attempts_event_idx
    ON webhook_event_attempts (stripe_account_id, event_id, started_at);

-- An erasure's outcome in each account it reached.
ALTER TABLE erasure_accounts DROP CONSTRAINT erasure_accounts_pkey;
ALTER TABLE erasure_accounts ADD PRIMARY KEY (stripe_account_id, erasure_id, customer_id);
-- An erasure's outcomes, read together (the erasure crosses accounts on purpose).
CREATE INDEX erasure_accounts_erasure_idx ON erasure_accounts (erasure_id);
