-- What the gateway tells the platform's apps: one row per change of the mirror that an app
-- hears of, written in the transaction that makes the change (an outbox: no change without its
-- event, no event without its change). `seq` numbers an organizer's events in commit order (it
-- is taken while the organizer's row is locked), and is the feed's cursor; `object_seq` numbers
-- the events of one object. `data` is the object as the gateway serves it, as JSON.
CREATE TABLE gateway_events (
    organizer_id TEXT NOT NULL,
    seq          BIGINT NOT NULL,
    id           TEXT NOT NULL UNIQUE,
    type         TEXT NOT NULL,
    object_id    TEXT NOT NULL,
    object_seq   BIGINT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    data         TEXT NOT NULL,
    PRIMARY KEY (organizer_id, seq)
);
-- The last event of an object, for the next one's `object_seq`.
CREATE INDEX gateway_events_object_idx ON gateway_events (organizer_id, object_id, object_seq);
-- Events past the retention, oldest first.
CREATE INDEX gateway_events_created_idx ON gateway_events (created_at);
