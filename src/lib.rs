//! Multi-tenant billing gateway for Stripe Connect.
//!
//! Layers, top to bottom; a module imports only from its own layer or below (the rule, and
//! the command that checks it, are in `docs/design.md`). The error type each one returns:
//! - `startup`: builds the process (state, background duties, servers).
//! - HTTP (`routes`, `auth`, `extract`, `error`, `idempotency`, `openapi`): thin actix handlers;
//!   they return [`error::ApiError`], the only type that becomes a response, converted with one
//!   `From` from each service's error.
//! - `services`: use cases with no actix types; each returns its own error enum
//!   ([`services::customers::CustomerError`], [`services::organizers::OrganizerError`],
//!   [`services::erasures::ErasureError`]) that says what happened in domain terms and whether
//!   retrying can help, so a background worker can decide between "retry later" and giving up.
//!   The audit log's reads and best-effort writes can only fail in the database: [`db::DbError`].
//! - `jobs`: the one runner of background duties; a unit's error is logged and backed off.
//! - `notify`: the pieces of telling apps over HTTP (Standard Webhooks signatures, where a
//!   delivery may go); [`notify::target::Refused`] says why an address is not delivered to.
//! - `mirror`: one module per mirrored Stripe object, and the registry of them
//!   ([`mirror::KINDS`]); they return [`mirror::MirrorError`].
//! - `telemetry`: logs and the metrics' descriptions.
//! - `db`: diesel queries over SQLite or PostgreSQL; they return `diesel::QueryResult` / [`db::DbError`].
//! - `stripe`: the Stripe transport and per-object requests; they return [`stripe::StripeError`],
//!   whose [`stripe::StripeError::failure`] is the one reading of what a failure means.
//! - `configuration`: plain settings, from flags and the environment.
//! - `domain`: parsed values and who is calling; nothing of ours below it.

pub mod auth;
pub mod configuration;
pub mod db;
pub mod domain;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod jobs;
pub mod mirror;
pub mod notify;
pub mod openapi;
pub mod routes;
pub mod services;
pub mod startup;
pub mod stripe;
pub mod telemetry;
