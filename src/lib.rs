//! Multi-tenant billing gateway for Stripe Connect.
//!
//! Layers and the error type each one uses:
//! - `routes`: thin actix handlers; they return [`error::ApiError`], the only type that becomes a response.
//! - `services`: use cases with no actix types; they return [`error::ApiError`] too, built from the layers below.
//! - `db`: diesel queries over SQLite or PostgreSQL; they return `diesel::QueryResult` / [`db::DbError`].
//! - `stripe`: the Stripe transport and per-account requests; they return [`stripe::StripeError`].

pub mod auth;
pub mod configuration;
pub mod db;
pub mod domain;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod routes;
pub mod services;
pub mod startup;
pub mod stripe;
pub mod telemetry;
