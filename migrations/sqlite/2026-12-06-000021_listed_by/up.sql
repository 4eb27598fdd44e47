-- Which listing last saw each row: the id of the run that began the listing (a run resumed
-- from a cursor goes on with the id of the run that left it). Reconciliation marks the rows
-- of each page it lists, then reads the account's live rows that its listing did not mark,
-- a page at a time: the candidates for "deleted in Stripe". Nothing grows in memory with
-- the account's size. NULL: no listing has seen the row yet.
ALTER TABLE customers ADD COLUMN listed_by TEXT;
ALTER TABLE products ADD COLUMN listed_by TEXT;
ALTER TABLE prices ADD COLUMN listed_by TEXT;
ALTER TABLE subscriptions ADD COLUMN listed_by TEXT;
ALTER TABLE invoices ADD COLUMN listed_by TEXT;
ALTER TABLE invoice_payments ADD COLUMN listed_by TEXT;
ALTER TABLE payment_intents ADD COLUMN listed_by TEXT;
ALTER TABLE refunds ADD COLUMN listed_by TEXT;
ALTER TABLE disputes ADD COLUMN listed_by TEXT;
ALTER TABLE stripe_accounts ADD COLUMN listed_by TEXT;
ALTER TABLE checkout_sessions ADD COLUMN listed_by TEXT;
