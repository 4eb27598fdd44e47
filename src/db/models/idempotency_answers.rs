//! Keeping many answers at once. On PostgreSQL one statement for any batch size, prepared once
//! per connection (a query type with a static id, as the inbox's batch insert): under load the
//! answers' runner spent most of its time sending one `UPDATE` per answer.

use std::collections::HashSet;

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{Array, Bytea, Integer, Nullable, Text, Untyped};

use super::idempotency::{KeyLease, StoredResponse};
use crate::db::DbConnection;

/// An answer to keep: the lease it is kept under, the response, the customer it is about.
pub type Answer = (KeyLease, StoredResponse, Option<String>);

/// Keeps every answer whose request still holds its key, in one transaction; answers in the
/// answers' order whether each was kept (`false`: its request no longer held the key).
pub fn complete_batch(conn: &mut DbConnection, answers: &[Answer]) -> QueryResult<Vec<bool>> {
    match conn {
        DbConnection::Postgresql(pg) => {
            let kept: HashSet<String> = CompleteBatch::new(answers)
                .load::<KeptOwner>(pg)?
                .into_iter()
                .map(|row| row.owner)
                .collect();
            Ok(answers
                .iter()
                .map(|(lease, _, _)| kept.contains(lease.owner()))
                .collect())
        }
        DbConnection::Sqlite(_) => crate::db::write_transaction(conn, |conn| {
            answers
                .iter()
                .map(|(lease, response, about)| lease.complete(conn, response, about.as_deref()))
                .collect()
        }),
    }
}

#[derive(QueryableByName)]
struct KeptOwner {
    #[diesel(sql_type = Text)]
    owner: String,
}

/// The batch as one array per column, `unnest`ed into rows and matched to the keys they are
/// kept under (only while their request holds the key).
struct CompleteBatch<'a> {
    scopes: Vec<&'a str>,
    keys: Vec<&'a str>,
    owners: Vec<&'a str>,
    statuses: Vec<i32>,
    headers: Vec<String>,
    bodies: Vec<&'a [u8]>,
    customers: Vec<Option<&'a str>>,
}

impl<'a> CompleteBatch<'a> {
    fn new(answers: &'a [Answer]) -> Self {
        Self {
            scopes: answers.iter().map(|(l, _, _)| l.scope.as_str()).collect(),
            keys: answers.iter().map(|(l, _, _)| l.key.as_str()).collect(),
            owners: answers.iter().map(|(l, _, _)| l.owner()).collect(),
            statuses: answers
                .iter()
                .map(|(_, r, _)| i32::from(r.status))
                .collect(),
            headers: answers.iter().map(|(_, r, _)| r.headers_json()).collect(),
            bodies: answers.iter().map(|(_, r, _)| r.body.as_slice()).collect(),
            customers: answers.iter().map(|(_, _, c)| c.as_deref()).collect(),
        }
    }
}

// One id for every batch size: the SQL text never changes, only the arrays bound to it.
crate::prepared_once!(CompleteBatch<'_>, CompleteBatch<'static>, Untyped);

impl QueryFragment<Pg> for CompleteBatch<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "UPDATE idempotency_keys AS k \
             SET response_status = v.status, response_headers = v.headers, \
                 response_body = v.body, customer_id = v.customer_id, \
                 lease_owner = NULL, lease_until = NULL \
             FROM unnest(",
        );
        out.push_bind_param::<Array<Text>, _>(&self.scopes)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.keys)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.owners)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Integer>, _>(&self.statuses)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.headers)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Bytea>, _>(&self.bodies)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.customers)?;
        out.push_sql(
            ") AS v(scope, key, owner, status, headers, body, customer_id) \
             WHERE k.scope = v.scope AND k.key = v.key AND k.lease_owner = v.owner \
             RETURNING v.owner",
        );
        Ok(())
    }
}
