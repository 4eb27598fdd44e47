-- The workers claim due events account by account in turns (the next account after the last
-- one served, the oldest due event of it), no longer the oldest due event of any account: one
-- account's backlog waits its turns instead of delaying every other account's events. The
-- index the oldest-first claim read is replaced by one in that order.
DROP INDEX webhook_events_due_idx;
CREATE INDEX webhook_events_turns_idx ON webhook_events (stripe_account_id, next_attempt_at)
    WHERE status = 'pending';
