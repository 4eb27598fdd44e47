-- The database's own ceiling for a customer read by email: the two statements the gateway ran
-- per read before reads became one statement (the organizer by id, then the customer by
-- account and email), as one pgbench transaction. benches/customers.sh runs it with pgbench
-- (prepared statements, as many clients as wrk has connections) over the same seeded rows.
\set n random(1, :customers)
SELECT id, name, stripe_account_id, application_fee_bps, status, created_at, updated_at
  FROM organizers WHERE id = :org;
SELECT id, organizer_id, stripe_account_id, email, email_normalized, name, phone, metadata,
       stripe_customer_id, status, create_attempt, last_failure_at, version, created_at,
       updated_at, ever_active
  FROM customers
 WHERE stripe_account_id = :account AND email_normalized = 'user' || :n || '@example.com'
   AND status = 'active'
 ORDER BY id LIMIT 21;
