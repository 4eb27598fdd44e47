-- What a payment belongs to: the Checkout Session that created its PaymentIntent (and the
-- subscription a subscription-mode session started). Read by the payments API per page.
ALTER TABLE checkout_sessions ADD COLUMN payment_intent_id TEXT;
ALTER TABLE checkout_sessions ADD COLUMN subscription_id TEXT;
CREATE INDEX checkout_sessions_payment_intent_idx ON checkout_sessions (stripe_account_id, payment_intent_id);
