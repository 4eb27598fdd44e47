-- Portal sessions were audited with `null` details, which the audit log's reads refuse (details
-- are an object); the gateway now writes `{}`, as for every other action.
UPDATE audit_events SET details = '{}' WHERE details = 'null';
