ALTER TABLE invoices DROP COLUMN attempt_count;
