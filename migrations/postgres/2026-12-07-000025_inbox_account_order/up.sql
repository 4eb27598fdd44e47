-- One account's events newest first (the admin's list filtered by account) without reading
-- the rest of the inbox: since the key leads with the event id (000024), that list walked
-- `webhook_events_received_idx` past every other account's newer events, 316 ms for a quiet
-- account's first page on a million-event inbox and growing with it; 0.3 ms along this index.
-- Ingestion pays one more entry per event, within the runs' noise (docs/benchmarks.md).
-- Building it locks the inbox's writes while it runs, about a second per million events.
CREATE INDEX webhook_events_account_received_idx
    ON webhook_events (stripe_account_id, received_at, id);
