DROP TABLE stripe_accounts;
DELETE FROM organizers WHERE stripe_account_id IS NULL;
ALTER TABLE organizers ALTER COLUMN stripe_account_id SET NOT NULL;
