ALTER TABLE organizers DROP COLUMN refund_application_fee;
ALTER TABLE organizers DROP COLUMN ticket_fees;
