-- The fee model of a ticketing platform: beside `application_fee_bps`, a fixed fee per ticket
-- (per unit of quantity) in each currency, as a JSON object {"eur": 50}; and whether refunds
-- give the platform's fee back unless the request says otherwise.
ALTER TABLE organizers ADD COLUMN ticket_fees TEXT;
ALTER TABLE organizers ADD COLUMN refund_application_fee BOOLEAN NOT NULL DEFAULT FALSE;
