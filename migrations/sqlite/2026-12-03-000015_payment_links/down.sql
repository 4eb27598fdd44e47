DROP INDEX checkout_sessions_payment_intent_idx;
ALTER TABLE checkout_sessions DROP COLUMN subscription_id;
ALTER TABLE checkout_sessions DROP COLUMN payment_intent_id;
