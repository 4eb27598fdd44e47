-- The database's own ceiling for an entitlements read: the four statements the gateway ran per
-- read before the organizer and the customer became one statement (the organizer by id, the
-- customer by account and id, its subscriptions, its features), as one pgbench transaction.
-- benches/customers.sh runs it with pgbench (prepared statements, as many clients as wrk has
-- connections) over the same seeded rows.
\set n random(1, :customers)
SELECT id, name, stripe_account_id, application_fee_bps, status, created_at, updated_at
  FROM organizers WHERE id = :org;
SELECT id, organizer_id, stripe_account_id, email, email_normalized, name, phone, metadata,
       stripe_customer_id, status, create_attempt, last_failure_at, version, created_at,
       updated_at, ever_active
  FROM customers
 WHERE stripe_account_id = :account
   AND id = '00000000-0000-7000-8000-' || lpad(:n::text, 12, '0')
 LIMIT 1;
SELECT stripe_account_id, id, stripe_customer_id, status, items, current_period_end,
       cancel_at_period_end, trial_end, metadata, deleted, fetched_at
  FROM subscriptions
 WHERE stripe_account_id = :account AND stripe_customer_id = 'cus_bench' || :n
   AND deleted = FALSE
 ORDER BY id;
SELECT stripe_account_id, stripe_customer_id, features, fetched_at
  FROM entitlements
 WHERE stripe_account_id = :account AND stripe_customer_id = 'cus_bench' || :n
 LIMIT 1;
