-- Destination charges: an organizer may take payments on the platform's account, with
-- `on_behalf_of` and `transfer_data[destination]` its own. Its buyers are then customers of the
-- platform's account, kept apart per organizer: the key of a customer becomes (account,
-- organizer, email), which for a direct-charges organizer (one account, one organizer) is the
-- key it had. A payment says which account its money is sent on to.
ALTER TABLE organizers ADD COLUMN charge_type TEXT NOT NULL DEFAULT 'direct'
    CHECK (charge_type IN ('direct', 'destination'));
DROP INDEX customers_account_email_key;
CREATE UNIQUE INDEX customers_account_organizer_email_key
    ON customers (stripe_account_id, organizer_id, email_normalized);
ALTER TABLE payment_intents ADD COLUMN destination_account TEXT;
CREATE INDEX payment_intents_destination_idx
    ON payment_intents (stripe_account_id, destination_account, created, id);
