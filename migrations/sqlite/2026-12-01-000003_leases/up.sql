-- Leases: the right, held by one owner until it expires, to do one piece of work that must
-- not run twice at once (a customer's Stripe create today; inbox events and per-account
-- reconciliation next). (kind, key) names the work; owner is a random token that only the
-- holder knows, so a holder whose lease expired and was taken over can neither renew nor
-- release its successor's.
CREATE TABLE leases (
    kind       TEXT NOT NULL,
    key        TEXT NOT NULL,
    owner      TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    PRIMARY KEY (kind, key)
);

-- A customer's create in flight is now a lease of kind 'customer.create' keyed by the row id.
-- Creates in flight while this runs lose their lease: the next upsert resumes them with the
-- same idempotency key, which gives the same Stripe customer.
ALTER TABLE customers DROP COLUMN lease_until;

-- Whether the row ever had a Stripe customer: a create after it is a re-creation. It used to
-- be read from version > 0, which is also the optimistic lock.
ALTER TABLE customers ADD COLUMN ever_active BOOLEAN NOT NULL DEFAULT 0;
UPDATE customers SET ever_active = (version > 0);

-- Customer queries are keyed by the tenant's Stripe account.
CREATE INDEX customers_account_id_idx ON customers (stripe_account_id, id);
DROP INDEX customers_organizer_id_idx;
