-- PostgreSQL compresses inbox bodies with lz4 from this migration on; SQLite stores them as
-- they are. Kept so that both backends list the same migrations.
SELECT 1;
