-- The inbox's key in the order its look-ups need: (id, stripe_account_id) holds the same pairs
-- as (stripe_account_id, id), so it is as unique, serves the same `ON CONFLICT` and the
-- attempts' foreign key, and leads with the column of the admin's look-up by id alone, which
-- `webhook_events_id_idx` served. Every stored event wrote an entry into both; now one.
-- (Under load, each secondary index of the inbox costs its rate: docs/benchmarks.md.)
-- Rebuilding the key locks the inbox while it runs: 1.1 s for a million events on a 2-core
-- machine.
ALTER TABLE webhook_event_attempts DROP CONSTRAINT webhook_event_attempts_event_fkey;
ALTER TABLE webhook_events DROP CONSTRAINT webhook_events_pkey;
ALTER TABLE webhook_events ADD PRIMARY KEY (id, stripe_account_id);
DROP INDEX webhook_events_id_idx;
ALTER TABLE webhook_event_attempts ADD CONSTRAINT webhook_event_attempts_event_fkey
    FOREIGN KEY (stripe_account_id, event_id) REFERENCES webhook_events (stripe_account_id, id)
    ON DELETE CASCADE;

-- The dead-lettered events, counted for one account (its health) and for all (the metrics'
-- backlog): the old key's account prefix served the first and nothing the second, which read
-- the whole inbox at every scrape. Stored events are never dead, so ingestion does not write
-- this index.
CREATE INDEX webhook_events_dead_idx ON webhook_events (stripe_account_id) WHERE status = 'dead';
