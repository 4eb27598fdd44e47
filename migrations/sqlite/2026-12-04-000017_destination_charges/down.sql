DROP INDEX payment_intents_destination_idx;
ALTER TABLE payment_intents DROP COLUMN destination_account;
DROP INDEX customers_account_organizer_email_key;
CREATE UNIQUE INDEX customers_account_email_key ON customers (stripe_account_id, email_normalized);
ALTER TABLE organizers DROP COLUMN charge_type;
