//! Black-box tests of the gateway through HTTP, on SQLite and (with `TEST_DATABASE_URL`) PostgreSQL.

#[path = "../support/mod.rs"]
mod support;

mod helpers;

mod admin_routes;
mod audit_events;
mod auth;
mod checkout;
mod checkout_contract;
mod checkout_keys;
mod cli;
mod customer_consistency;
mod customer_input;
mod customer_races;
mod customer_stripe_faults;
mod customer_updates;
mod customer_waits;
mod customers;
mod destination_charges;
mod disputes;
mod erasures;
mod errors;
mod fake_payments;
mod fake_stripe_control;
mod fake_stripe_gates;
mod fees;
mod health;
mod hot_reads;
mod idempotency;
mod input_surface;
mod instances;
mod invoices;
mod leases;
mod metrics;
mod onboarding;
mod openapi;
mod organizer_registration;
mod organizers;
mod payment_intents;
mod payment_reads;
mod platforms;
mod rate_budget;
mod refunds;
mod stored_data;
mod stripe_client;
mod subscription_changes;
mod sync;
mod sync_adoption;
mod sync_contract;
mod webhook_hostile;
mod webhook_inbox;
mod webhook_mirror;
mod webhook_processing;
mod webhook_workers;
mod webhooks;
