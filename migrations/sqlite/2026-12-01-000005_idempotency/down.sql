DROP INDEX prices_id_idx;
ALTER TABLE checkout_sessions DROP COLUMN url;
DROP TABLE idempotency_keys;
