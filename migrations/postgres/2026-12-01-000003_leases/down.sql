CREATE INDEX customers_organizer_id_idx ON customers (organizer_id, id);
DROP INDEX customers_account_id_idx;
ALTER TABLE customers DROP COLUMN ever_active;
ALTER TABLE customers ADD COLUMN lease_until TIMESTAMP;
DROP TABLE leases;
