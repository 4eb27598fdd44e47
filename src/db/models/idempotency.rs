//! Client idempotency keys: the first request with a key holds the key's lease while it runs,
//! then leaves its answer for every retry with the same key and request to replay.
//!
//! Every step is one conditional statement, so racing requests on any number of instances need
//! no transaction: one insert wins a new key, one update wins an expired lease or an expired
//! row, and a holder whose lease was taken over can neither complete nor release the key.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::lease::{expiry, is_live};
use crate::db::schema::idempotency_keys;
use crate::db::{now, DbConnection};
use crate::on_each_backend;

/// A response kept for replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    /// The headers a replay repeats, as (name, value).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl StoredResponse {
    /// The kept headers as stored.
    pub(crate) fn headers_json(&self) -> String {
        serde_json::to_string(&self.headers).unwrap_or_else(|_| "[]".into())
    }
}

/// The right to run the request that first came with a key, held until it answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyLease {
    pub scope: String,
    pub key: String,
    owner: String,
}

/// What a request with a key does.
#[derive(Debug, PartialEq, Eq)]
pub enum Begun {
    /// Run it: the key is new (or its earlier holder died), and this request holds its lease.
    Run(KeyLease),
    /// The first request answered this; send it again.
    Replay(StoredResponse),
    /// The first request with the key is still running.
    InFlight,
    /// The key was first used with another request.
    Mismatch,
}

pub use crate::configuration::KeyTimes;

#[derive(Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = idempotency_keys)]
pub(super) struct KeyRow {
    pub(super) scope: String,
    pub(super) key: String,
    fingerprint: String,
    lease_owner: Option<String>,
    lease_until: Option<NaiveDateTime>,
    response_status: Option<i32>,
    response_headers: Option<String>,
    response_body: Option<Vec<u8>>,
    expires_at: NaiveDateTime,
}

/// A request's key, for [`super::idempotency_looks::look_batch`] and
/// [`super::idempotency_answers::keep_unclaimed_batch`].
#[derive(Clone, Debug)]
pub struct KeyRequest {
    pub scope: String,
    pub key: String,
    pub fingerprint: String,
}

/// Looks at a key for a request with `fingerprint`: claims it, or says what became of it.
pub fn begin(
    conn: &mut DbConnection,
    scope: &str,
    key: &str,
    fingerprint: &str,
    times: KeyTimes,
) -> QueryResult<Begun> {
    let owner = new_owner();
    // A row deleted between the insert and the read (a 5xx answer, a purge) is looked at again.
    loop {
        let now = now();
        let inserted = on_each_backend!(conn, |c| diesel::insert_into(idempotency_keys::table)
            .values((
                idempotency_keys::scope.eq(scope),
                idempotency_keys::key.eq(key),
                idempotency_keys::fingerprint.eq(fingerprint),
                idempotency_keys::lease_owner.eq(&owner),
                idempotency_keys::lease_until.eq(expiry(now, times.lease)),
                idempotency_keys::created_at.eq(now),
                // Never before the lease ends: a row in flight is not purged from under its
                // request.
                idempotency_keys::expires_at.eq(expiry(now, times.keep.max(times.lease))),
            ))
            .on_conflict_do_nothing()
            .execute(c))?;
        if inserted == 1 {
            return Ok(Begun::Run(KeyLease {
                scope: scope.to_string(),
                key: key.to_string(),
                owner,
            }));
        }
        let Some(row) = own_key(scope, key)
            .select(KeyRow::as_select())
            .first(conn)
            .optional()?
        else {
            continue;
        };
        if let Some(begun) = settle(conn, scope, key, fingerprint, times, &owner, row)? {
            return Ok(begun);
        }
    }
}

pub(super) fn new_owner() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// What an existing `row` of the key means for a request with `fingerprint`, taking the key
/// over (for `owner`) when its row expired or its holder died; `None` when the row changed
/// under the takeover, to be looked at again.
pub(super) fn settle(
    conn: &mut DbConnection,
    scope: &str,
    key: &str,
    fingerprint: &str,
    times: KeyTimes,
    owner: &str,
    row: KeyRow,
) -> QueryResult<Option<Begun>> {
    let now = now();
    let lease = KeyLease {
        scope: scope.to_string(),
        key: key.to_string(),
        owner: owner.to_string(),
    };
    let lease_until = expiry(now, times.lease);
    let expires_at = expiry(now, times.keep.max(times.lease));
    if row.response_status.is_none() && row.lease_owner.as_deref() == Some(owner) {
        return Ok(Some(Begun::Run(lease)));
    }
    let running =
        row.response_status.is_none() && row.lease_until.is_some_and(|until| is_live(until, now));
    if row.expires_at <= now && !running {
        // Kept past its time and not purged yet: the key is free again.
        let taken = diesel::update(
            own_key(scope, key).filter(idempotency_keys::expires_at.eq(row.expires_at)),
        )
        .set((
            idempotency_keys::fingerprint.eq(fingerprint),
            idempotency_keys::lease_owner.eq(&lease.owner),
            idempotency_keys::lease_until.eq(lease_until),
            idempotency_keys::created_at.eq(now),
            idempotency_keys::expires_at.eq(expires_at),
            idempotency_keys::response_status.eq(None::<i32>),
            idempotency_keys::response_headers.eq(None::<String>),
            idempotency_keys::response_body.eq(None::<Vec<u8>>),
            idempotency_keys::customer_id.eq(None::<String>),
        ))
        .execute(conn)?;
        return Ok((taken == 1).then_some(Begun::Run(lease)));
    }
    if row.fingerprint != fingerprint {
        return Ok(Some(Begun::Mismatch));
    }
    if let Some(status) = row.response_status {
        return Ok(Some(Begun::Replay(StoredResponse {
            status: u16::try_from(status).unwrap_or(500),
            headers: row
                .response_headers
                .as_deref()
                .and_then(|text| serde_json::from_str(text).ok())
                .unwrap_or_default(),
            body: row.response_body.unwrap_or_default(),
        })));
    }
    if running {
        return Ok(Some(Begun::InFlight));
    }
    // Its holder died (or lost its answer to a database failure): take the request over.
    let unanswered = own_key(scope, key).filter(idempotency_keys::response_status.is_null());
    let set = (
        idempotency_keys::lease_owner.eq(&lease.owner),
        idempotency_keys::lease_until.eq(lease_until),
    );
    let taken = match &row.lease_owner {
        Some(owner) => diesel::update(unanswered.filter(idempotency_keys::lease_owner.eq(owner)))
            .set(set)
            .execute(conn)?,
        None => diesel::update(unanswered.filter(idempotency_keys::lease_owner.is_null()))
            .set(set)
            .execute(conn)?,
    };
    Ok((taken == 1).then_some(Begun::Run(lease)))
}

impl KeyLease {
    pub(crate) fn owner(&self) -> &str {
        &self.owner
    }

    /// Keeps `response` for replay; `false` when this request no longer held the key.
    /// `customer_id`: the customer the answer is about, so that erasing the customer also
    /// forgets the answer (it may hold the person's details).
    pub fn complete(
        &self,
        conn: &mut DbConnection,
        response: &StoredResponse,
        customer_id: Option<&str>,
    ) -> QueryResult<bool> {
        let headers = response.headers_json();
        let written = diesel::update(self.held())
            .set((
                idempotency_keys::response_status.eq(i32::from(response.status)),
                idempotency_keys::response_headers.eq(headers),
                idempotency_keys::response_body.eq(&response.body),
                idempotency_keys::customer_id.eq(customer_id),
                idempotency_keys::lease_owner.eq(None::<String>),
                idempotency_keys::lease_until.eq(None::<NaiveDateTime>),
            ))
            .execute(conn)?;
        Ok(written == 1)
    }

    /// Extends the lease by `ttl` from now while the request still runs; `false` when it was
    /// taken over.
    pub fn renew(&self, conn: &mut DbConnection, ttl: Duration) -> QueryResult<bool> {
        let renewed = diesel::update(self.held())
            .set(idempotency_keys::lease_until.eq(expiry(now(), ttl)))
            .execute(conn)?;
        Ok(renewed == 1)
    }

    /// Frees the key without an answer (a 5xx, or a request that stopped), so that a retry
    /// runs the request again.
    pub fn release(&self, conn: &mut DbConnection) -> QueryResult<bool> {
        Ok(diesel::delete(self.held()).execute(conn)? == 1)
    }

    fn held(
        &self,
    ) -> diesel::dsl::Filter<OwnKey<'_>, diesel::dsl::Eq<idempotency_keys::lease_owner, &str>> {
        own_key(&self.scope, &self.key)
            .filter(idempotency_keys::lease_owner.eq(self.owner.as_str()))
    }
}

/// Deletes keys kept past their time, except one whose request still runs; returns how many.
pub fn purge_expired(conn: &mut DbConnection) -> QueryResult<usize> {
    let now = now();
    diesel::delete(
        idempotency_keys::table
            .filter(idempotency_keys::expires_at.le(now))
            .filter(
                idempotency_keys::lease_until
                    .is_null()
                    .or(idempotency_keys::lease_until.le(now)),
            ),
    )
    .execute(conn)
}

/// Forgets every kept answer about an erased customer: it may hold the person's details.
pub fn forget_customer(conn: &mut DbConnection, customer_id: &str) -> QueryResult<usize> {
    diesel::delete(idempotency_keys::table.filter(idempotency_keys::customer_id.eq(customer_id)))
        .execute(conn)
}

type OwnKey<'a> = diesel::dsl::Filter<
    diesel::dsl::Filter<idempotency_keys::table, diesel::dsl::Eq<idempotency_keys::scope, &'a str>>,
    diesel::dsl::Eq<idempotency_keys::key, &'a str>,
>;

fn own_key<'a>(scope: &'a str, key: &'a str) -> OwnKey<'a> {
    idempotency_keys::table
        .filter(idempotency_keys::scope.eq(scope))
        .filter(idempotency_keys::key.eq(key))
}
