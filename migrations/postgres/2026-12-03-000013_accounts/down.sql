-- Back to an account per organizer: refused (NOT NULL) while an organizer has none.
DROP TABLE stripe_accounts;
ALTER TABLE organizers ALTER COLUMN stripe_account_id SET NOT NULL;
