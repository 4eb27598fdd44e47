//! A look at many keys as their requests start ([`look_batch`]); on PostgreSQL one
//! statement, prepared once per connection (a query type with a static id, as the inbox's batch
//! insert) and planned once.
//!
//! Each key is looked up by a subquery of its own (`LATERAL … LIMIT 1`), which the planner cannot
//! turn into a join: a plan kept for `scope = ANY(…) AND key = ANY(…)`, or for a join of the keys
//! with the table, when made while the table was empty or small, matched the keys against every
//! key of the table (0.7 ms and 200 buffers a look once 50,000 keys were kept; the connection
//! kept that plan). A subquery per key with scans off leaves one plan: a look-up of both columns
//! of the primary key, however empty the table was when the plan was made.

use std::collections::HashMap;

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{Array, Text, Untyped};

use super::idempotency::{begin, new_owner, settle, Begun, KeyRequest, KeyRow, KeyTimes};
use crate::db::models::customer_reads::distinct;
use crate::db::schema::idempotency_keys;
use crate::db::DbConnection;

/// What a look at a key found, for a request that claims its key only before its first
/// effect.
#[derive(Debug, PartialEq, Eq)]
pub enum Looked {
    /// No row: the request runs unclaimed. It claims the key with [`begin`] before its first
    /// effect; one that runs none leaves its answer with
    /// [`super::idempotency_answers::keep_unclaimed_batch`].
    Free,
    /// The key has a row, settled as [`begin`] settles it.
    Begun(Begun),
}

/// Looks at many keys (each with its times) in one statement, in the requests' order. A key
/// with a row is settled as [`begin`] would settle it (an expired row, or a holder that died,
/// is taken over: the request then holds the key). Nothing is written for a key without a row.
pub fn look_batch(
    conn: &mut DbConnection,
    looks: &[(&KeyRequest, KeyTimes)],
) -> QueryResult<Vec<Looked>> {
    let rows = match conn {
        DbConnection::Postgresql(pg) => look_rows(pg, looks)?,
        DbConnection::Sqlite(_) => {
            let scopes = distinct(looks.iter().map(|(r, _)| r.scope.as_str()));
            let keys = distinct(looks.iter().map(|(r, _)| r.key.as_str()));
            idempotency_keys::table
                .filter(idempotency_keys::scope.eq_any(&scopes))
                .filter(idempotency_keys::key.eq_any(&keys))
                .select(KeyRow::as_select())
                .load(conn)?
        }
    };
    let found: HashMap<(String, String), KeyRow> = rows
        .into_iter()
        .map(|row| ((row.scope.clone(), row.key.clone()), row))
        .collect();
    looks
        .iter()
        .map(|&(request, times)| {
            // A key twice in the batch (a retry racing its first request) finds the same row.
            let Some(row) = found
                .get(&(request.scope.clone(), request.key.clone()))
                .cloned()
            else {
                return Ok(Looked::Free);
            };
            let (scope, key, fingerprint) = (&request.scope, &request.key, &request.fingerprint);
            let begun = match settle(conn, scope, key, fingerprint, times, &new_owner(), row)? {
                Some(begun) => begun,
                // The row changed under a takeover: look at it again, alone.
                None => begin(conn, scope, key, fingerprint, times)?,
            };
            Ok(Looked::Begun(begun))
        })
        .collect()
}

struct LookBatch<'a> {
    scopes: Vec<&'a str>,
    keys: Vec<&'a str>,
}

crate::prepared_once!(LookBatch<'_>, LookBatch<'static>, Untyped);

impl QueryFragment<Pg> for LookBatch<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "SELECT k.scope, k.key, k.fingerprint, k.lease_owner, k.lease_until, \
                    k.response_status, k.response_headers, k.response_body, k.expires_at \
             FROM unnest(",
        );
        out.push_bind_param::<Array<Text>, _>(&self.scopes)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.keys)?;
        out.push_sql(
            ") AS v(scope, key) \
             CROSS JOIN LATERAL (SELECT * FROM idempotency_keys i \
                                 WHERE i.scope = v.scope AND i.key = v.key LIMIT 1) k",
        );
        Ok(())
    }
}

/// The rows of the requests' keys (one per key, whichever requests share it).
fn look_rows(pg: &mut PgConnection, looks: &[(&KeyRequest, KeyTimes)]) -> QueryResult<Vec<KeyRow>> {
    let mut pairs: Vec<(&str, &str)> = looks
        .iter()
        .map(|(r, _)| (r.scope.as_str(), r.key.as_str()))
        .collect();
    pairs.sort_unstable();
    pairs.dedup();
    let (scopes, keys) = pairs.into_iter().unzip();
    LookBatch { scopes, keys }.load(pg)
}
