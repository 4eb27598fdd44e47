-- Inbox bodies are compressed with lz4 where the server has it. With pglz, compressing each
-- ~2 KB body took about a quarter of PostgreSQL's time per inbox commit; lz4 does the same work
-- several times faster. Bodies already stored keep their compression; without lz4 (a server
-- built without it, or one older than PostgreSQL 14) the column stays as it is.
DO $$
BEGIN
    EXECUTE 'ALTER TABLE webhook_events ALTER COLUMN payload SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR syntax_error THEN
    RAISE NOTICE 'webhook_events.payload keeps the default compression: %', SQLERRM;
END $$;
