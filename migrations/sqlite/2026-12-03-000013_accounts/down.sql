DROP TABLE stripe_accounts;
