DROP TABLE erasure_accounts;
DROP TABLE erasures;
DROP INDEX audit_events_subject_hash_idx;
DROP INDEX audit_events_action_idx;
ALTER TABLE audit_events DROP COLUMN subject_hash;
ALTER TABLE audit_events DROP COLUMN outcome;
ALTER TABLE audit_events DROP COLUMN target_ids;
DROP TABLE customers;
