//! Keeping many answers at once. On PostgreSQL one statement for any batch size, prepared once
//! per connection (a query type with a static id, as the inbox's batch insert): under load the
//! answers' runner spent most of its time sending one `UPDATE` per answer. The answers of
//! requests that held a claim complete their rows ([`complete_batch`]); those of requests that
//! ran unclaimed (no effect) are inserted, where the key is still free ([`keep_unclaimed_batch`]).

use std::collections::HashSet;

use chrono::NaiveDateTime;

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{Array, Bytea, Integer, Nullable, Text, Timestamp, Untyped};

use super::idempotency::{KeyLease, KeyRequest, KeyTimes, StoredResponse};
use crate::db::lease::expiry;
use crate::db::schema::idempotency_keys;
use crate::db::{now, DbConnection};
use crate::on_each_backend;

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

/// The columns every kept answer has, one array each, bound in this order: status, headers,
/// body, customer.
struct AnswerColumns<'a> {
    statuses: Vec<i32>,
    headers: Vec<String>,
    bodies: Vec<&'a [u8]>,
    customers: Vec<Option<&'a str>>,
}

impl<'a> AnswerColumns<'a> {
    fn new(
        answers: impl Iterator<Item = (&'a StoredResponse, &'a Option<String>)> + Clone,
    ) -> Self {
        Self {
            statuses: answers.clone().map(|(r, _)| i32::from(r.status)).collect(),
            headers: answers.clone().map(|(r, _)| r.headers_json()).collect(),
            bodies: answers.clone().map(|(r, _)| r.body.as_slice()).collect(),
            customers: answers.map(|(_, c)| c.as_deref()).collect(),
        }
    }

    /// Binds the four arrays, each after a comma.
    fn push<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(", ");
        out.push_bind_param::<Array<Integer>, _>(&self.statuses)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.headers)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Bytea>, _>(&self.bodies)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Nullable<Text>>, _>(&self.customers)
    }
}

/// The batch as one array per column, `unnest`ed into rows and matched to the keys they are
/// kept under (only while their request holds the key).
struct CompleteBatch<'a> {
    scopes: Vec<&'a str>,
    keys: Vec<&'a str>,
    owners: Vec<&'a str>,
    answers: AnswerColumns<'a>,
}

impl<'a> CompleteBatch<'a> {
    fn new(answers: &'a [Answer]) -> Self {
        Self {
            scopes: answers.iter().map(|(l, _, _)| l.scope.as_str()).collect(),
            keys: answers.iter().map(|(l, _, _)| l.key.as_str()).collect(),
            owners: answers.iter().map(|(l, _, _)| l.owner()).collect(),
            answers: AnswerColumns::new(answers.iter().map(|(_, r, c)| (r, c))),
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
        self.answers.push(&mut out)?;
        out.push_sql(
            ") AS v(scope, key, owner, status, headers, body, customer_id) \
             WHERE k.scope = v.scope AND k.key = v.key AND k.lease_owner = v.owner \
             RETURNING v.owner",
        );
        Ok(())
    }
}

/// The answer of a request that ran without a claim: its key, the response, the customer it is
/// about.
pub type Unclaimed = (KeyRequest, StoredResponse, Option<String>);

/// Keeps each answer whose key is still free (no other request claimed or answered it since the
/// look), in one statement; answers in the answers' order whether each was kept.
pub fn keep_unclaimed_batch(
    conn: &mut DbConnection,
    answers: &[Unclaimed],
    times: KeyTimes,
) -> QueryResult<Vec<bool>> {
    let now = now();
    let expires_at = expiry(now, times.keep.max(times.lease));
    match conn {
        DbConnection::Postgresql(pg) => {
            let kept: HashSet<(String, String)> = InsertUnclaimed::new(answers, now, expires_at)
                .load::<KeptKey>(pg)?
                .into_iter()
                .map(|row| (row.scope, row.key))
                .collect();
            Ok(answers
                .iter()
                .map(|(request, _, _)| kept.contains(&(request.scope.clone(), request.key.clone())))
                .collect())
        }
        DbConnection::Sqlite(_) => crate::db::write_transaction(conn, |conn| {
            answers
                .iter()
                .map(|(request, response, about)| {
                    let inserted =
                        on_each_backend!(conn, |c| diesel::insert_into(idempotency_keys::table)
                            .values((
                                idempotency_keys::scope.eq(&request.scope),
                                idempotency_keys::key.eq(&request.key),
                                idempotency_keys::fingerprint.eq(&request.fingerprint),
                                idempotency_keys::response_status.eq(i32::from(response.status)),
                                idempotency_keys::response_headers.eq(response.headers_json()),
                                idempotency_keys::response_body.eq(&response.body),
                                idempotency_keys::customer_id.eq(about.as_deref()),
                                idempotency_keys::created_at.eq(now),
                                idempotency_keys::expires_at.eq(expires_at),
                            ))
                            .on_conflict_do_nothing()
                            .execute(c))?;
                    Ok(inserted == 1)
                })
                .collect()
        }),
    }
}

#[derive(QueryableByName)]
struct KeptKey {
    #[diesel(sql_type = Text)]
    scope: String,
    #[diesel(sql_type = Text)]
    key: String,
}

/// The unclaimed answers as one array per column, inserted where their keys have no row.
struct InsertUnclaimed<'a> {
    scopes: Vec<&'a str>,
    keys: Vec<&'a str>,
    fingerprints: Vec<&'a str>,
    answers: AnswerColumns<'a>,
    created_at: NaiveDateTime,
    expires_at: NaiveDateTime,
}

impl<'a> InsertUnclaimed<'a> {
    fn new(answers: &'a [Unclaimed], created_at: NaiveDateTime, expires_at: NaiveDateTime) -> Self {
        Self {
            scopes: answers.iter().map(|(k, _, _)| k.scope.as_str()).collect(),
            keys: answers.iter().map(|(k, _, _)| k.key.as_str()).collect(),
            fingerprints: answers
                .iter()
                .map(|(k, _, _)| k.fingerprint.as_str())
                .collect(),
            answers: AnswerColumns::new(answers.iter().map(|(_, r, c)| (r, c))),
            created_at,
            expires_at,
        }
    }
}

crate::prepared_once!(InsertUnclaimed<'_>, InsertUnclaimed<'static>, Untyped);

impl QueryFragment<Pg> for InsertUnclaimed<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "INSERT INTO idempotency_keys (scope, key, fingerprint, response_status, \
             response_headers, response_body, customer_id, created_at, expires_at) \
             SELECT v.scope, v.key, v.fingerprint, v.status, v.headers, v.body, v.customer_id, ",
        );
        out.push_bind_param::<Timestamp, _>(&self.created_at)?;
        out.push_sql(", ");
        out.push_bind_param::<Timestamp, _>(&self.expires_at)?;
        out.push_sql(" FROM unnest(");
        out.push_bind_param::<Array<Text>, _>(&self.scopes)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.keys)?;
        out.push_sql(", ");
        out.push_bind_param::<Array<Text>, _>(&self.fingerprints)?;
        self.answers.push(&mut out)?;
        out.push_sql(
            ") AS v(scope, key, fingerprint, status, headers, body, customer_id) \
             ON CONFLICT (scope, key) DO NOTHING RETURNING scope, key",
        );
        Ok(())
    }
}
