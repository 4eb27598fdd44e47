ALTER TABLE organizers DROP COLUMN disconnected_at;
DROP TABLE entitlements;
DROP TABLE checkout_sessions;
DROP TABLE subscriptions;
DROP TABLE prices;
DROP TABLE products;
DROP TABLE webhook_event_attempts;
DROP TABLE webhook_events;
