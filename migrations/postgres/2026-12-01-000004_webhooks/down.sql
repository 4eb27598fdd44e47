ALTER TABLE organizers DROP COLUMN disconnected_at;
DROP TABLE subscriptions;
DROP TABLE prices;
DROP TABLE products;
DROP TABLE webhook_event_attempts;
DROP TABLE webhook_events;
