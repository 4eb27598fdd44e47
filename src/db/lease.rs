//! Leases: the right, held by one owner until it expires, to do one piece of work that must not
//! run twice at once on any instance (a customer's Stripe create; next, inbox events and
//! per-account reconciliation).
//!
//! A lease is a row named by (kind, key). Its owner is a random token only the holder knows:
//! once a lease has expired and another request has taken it over, the first holder can
//! neither renew nor release it. Expiry is what frees the work of a holder that died; a live
//! holder renews before long steps and releases when done.

use std::time::Duration;

use chrono::NaiveDateTime;
use diesel::dsl::{Eq, Filter};
use diesel::prelude::*;

use crate::db::schema::leases;
use crate::db::{now, DbConnection};
use crate::on_each_backend;

/// A lease this process holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub kind: &'static str,
    pub key: String,
    owner: String,
    pub expires_at: NaiveDateTime,
}

/// When a lease taken at `now` for `ttl` ends, as stored (to the microsecond).
pub fn expiry(now: NaiveDateTime, ttl: Duration) -> NaiveDateTime {
    use chrono::SubsecRound;
    let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
    now.checked_add_signed(ttl)
        .unwrap_or(NaiveDateTime::MAX)
        .trunc_subsecs(6)
}

/// Whether a lease ending at `expires_at` still binds others at `now`.
pub fn is_live(expires_at: NaiveDateTime, now: NaiveDateTime) -> bool {
    expires_at > now
}

impl Lease {
    /// Takes the lease (kind, key) for `ttl` if nobody holds it, or its holder's time is up.
    /// `None` when someone else holds it.
    pub fn claim(
        conn: &mut DbConnection,
        kind: &'static str,
        key: &str,
        ttl: Duration,
    ) -> QueryResult<Option<Lease>> {
        let now = now();
        let lease = Lease {
            kind,
            key: key.to_string(),
            owner: uuid::Uuid::new_v4().simple().to_string(),
            expires_at: expiry(now, ttl),
        };
        // An expired lease is taken over in place; the row lock (PostgreSQL) or the write lock
        // (SQLite) lets one of several racing claimants through.
        let taken = diesel::update(
            leases::table
                .filter(leases::kind.eq(kind))
                .filter(leases::key.eq(key))
                .filter(leases::expires_at.le(now)),
        )
        .set((
            leases::owner.eq(&lease.owner),
            leases::expires_at.eq(lease.expires_at),
        ))
        .execute(conn)?;
        if taken == 1 {
            return Ok(Some(lease));
        }
        let values = (
            leases::kind.eq(kind),
            leases::key.eq(key),
            leases::owner.eq(&lease.owner),
            leases::expires_at.eq(lease.expires_at),
        );
        let inserted = on_each_backend!(conn, |inner| diesel::insert_into(leases::table)
            .values(values)
            .on_conflict_do_nothing()
            .execute(inner))?;
        Ok((inserted == 1).then_some(lease))
    }

    /// Extends the lease by `ttl` from now, if this process still holds it; `false` when it
    /// expired and was taken over.
    pub fn renew(&mut self, conn: &mut DbConnection, ttl: Duration) -> QueryResult<bool> {
        let expires_at = expiry(now(), ttl);
        let renewed = diesel::update(self.own())
            .set(leases::expires_at.eq(expires_at))
            .execute(conn)?;
        if renewed == 1 {
            self.expires_at = expires_at;
        }
        Ok(renewed == 1)
    }

    /// Gives the lease up; `false` when this process no longer held it.
    pub fn release(&self, conn: &mut DbConnection) -> QueryResult<bool> {
        Ok(diesel::delete(self.own()).execute(conn)? == 1)
    }

    /// When the current holder's lease on (kind, key) ends, if one is live.
    pub fn live_until(
        conn: &mut DbConnection,
        kind: &str,
        key: &str,
    ) -> QueryResult<Option<NaiveDateTime>> {
        let expires_at = leases::table
            .filter(leases::kind.eq(kind))
            .filter(leases::key.eq(key))
            .select(leases::expires_at)
            .first::<NaiveDateTime>(conn)
            .optional()?;
        let now = now();
        Ok(expires_at.filter(|until| is_live(*until, now)))
    }

    /// Removes the lease (kind, key) whoever holds it, with the work it guarded (a deleted row).
    pub fn forget(conn: &mut DbConnection, kind: &str, key: &str) -> QueryResult<()> {
        diesel::delete(
            leases::table
                .filter(leases::kind.eq(kind))
                .filter(leases::key.eq(key)),
        )
        .execute(conn)
        .map(drop)
    }

    /// This lease's row, while this process owns it.
    fn own(&self) -> OwnedLease<'_> {
        leases::table
            .filter(leases::kind.eq(self.kind))
            .filter(leases::key.eq(self.key.as_str()))
            .filter(leases::owner.eq(self.owner.as_str()))
    }
}

/// A lease's row, filtered by its owner token.
type OwnedLease<'a> = Filter<
    Filter<Filter<leases::table, Eq<leases::kind, &'static str>>, Eq<leases::key, &'a str>>,
    Eq<leases::owner, &'a str>,
>;

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64, nanos: u32) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(secs, nanos)
            .unwrap()
            .naive_utc()
    }

    #[test]
    fn expiry_is_ttl_later_to_the_microsecond() {
        let end = expiry(at(1_000, 123_456_789), Duration::from_millis(1_500));
        assert_eq!(end, at(1_001, 623_456_000));
    }

    #[test]
    fn a_huge_ttl_saturates_instead_of_panicking() {
        let end = expiry(at(1_000, 0), Duration::MAX);
        assert!(end > at(4_000_000_000, 0));
    }

    #[test]
    fn a_lease_binds_until_its_end_and_not_at_it() {
        let end = at(2_000, 0);
        assert!(is_live(end, at(1_999, 999_999_000)));
        assert!(!is_live(end, end));
        assert!(!is_live(end, at(2_001, 0)));
    }
}
