-- Client idempotency keys: one row per (caller scope, Idempotency-Key). While the first request
-- runs, the row holds its lease (owner token and end); once it answered, the row holds the
-- answer, replayed to every retry with the same key and request until expires_at, when the
-- gateway purges it. 5xx answers are not kept: the row is deleted so a retry can finish.
CREATE TABLE idempotency_keys (
    -- 'admin' or 'organizer:<id>': keys of different callers never meet.
    scope            TEXT NOT NULL,
    key              TEXT NOT NULL,
    -- SHA-256 of method, path and body: the same key with another request is refused.
    fingerprint      TEXT NOT NULL,
    lease_owner      TEXT,
    lease_until      TIMESTAMP,
    -- NULL while the first request is in flight.
    response_status  INTEGER,
    -- JSON array of [name, value] pairs: the headers a replay repeats.
    response_headers TEXT,
    response_body    BLOB,
    -- The customer the answer is about: erasing the customer forgets the answer.
    customer_id      TEXT,
    created_at       TIMESTAMP NOT NULL,
    expires_at       TIMESTAMP NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
CREATE INDEX idempotency_keys_customer_idx ON idempotency_keys (customer_id);

-- The hosted page a checkout session sends the buyer to (null once the session is over).
ALTER TABLE checkout_sessions ADD COLUMN url TEXT;

-- Checkouts name prices by id alone; one of another account is refused, so it is looked up by id.
CREATE INDEX prices_id_idx ON prices (id);
