DROP TABLE invoice_payments;
