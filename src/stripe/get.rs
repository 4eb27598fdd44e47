//! A GET of a path the SDK's compiled features have no request type for (invoices, active
//! entitlements, events): built with the SDK's own builder and read with serde into the few
//! fields the gateway keeps, so no feature compiles a whole object model for one read.

use std::collections::BTreeMap;

use stripe_client_core::{RequestBuilder, StripeMethod, StripeRequest};

/// Stripe's largest page.
pub const PAGE_SIZE: i64 = 100;

pub struct Get {
    path: String,
    query: BTreeMap<&'static str, String>,
}

impl Get {
    /// A GET of `path` (after `/v1`).
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            query: BTreeMap::new(),
        }
    }

    pub fn param(mut self, name: &'static str, value: impl ToString) -> Self {
        self.query.insert(name, value.to_string());
        self
    }

    /// A page of Stripe's largest size, after the object `after`.
    pub fn page(self, after: Option<&str>) -> Self {
        let page = self.param("limit", PAGE_SIZE);
        match after {
            Some(after) => page.param("starting_after", after),
            None => page,
        }
    }
}

impl StripeRequest for Get {
    type Output = miniserde::json::Value;

    fn build(&self) -> RequestBuilder {
        let request = RequestBuilder::new(StripeMethod::Get, self.path.as_str());
        // An empty query would still send a `?` with one nameless parameter.
        if self.query.is_empty() {
            request
        } else {
            request.query(&self.query)
        }
    }
}
