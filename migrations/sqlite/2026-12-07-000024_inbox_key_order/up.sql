-- The dead-lettered events, counted for one account (its health) and for all (the metrics'
-- backlog), as on PostgreSQL. The key keeps its order here: SQLite changes a key only by
-- copying the table, and its inbox is a single process's, far from the rates where the
-- inbox's one index more counts (PostgreSQL's migration drops it).
CREATE INDEX webhook_events_dead_idx ON webhook_events (stripe_account_id) WHERE status = 'dead';
