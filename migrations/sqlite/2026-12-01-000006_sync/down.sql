DROP TABLE stripe_instances;
DROP TABLE event_cursors;
DROP TABLE sync_cursors;
DROP TABLE sync_runs;
