//! How a keyed request starts: its key claimed, or what became of it. The deferred routes'
//! claims are grouped ([`Group`]): claims that arrive while others are being made share the
//! next statement, on connections that commit without waiting for the disk, so under load a
//! keyed upsert's claim costs a share of one round trip and no flush (see
//! [`crate::services::effect_gate`]). Every other route claims on the pool, durably, alone.
//!
//! Answers are kept the same way for every route ([`Answers`]): the answers of requests that
//! finish while others are being kept share the next transaction, so one flush keeps many; a
//! deferred request that ran no effect needs no flush for its answer at all.

use std::sync::Arc;

use crate::db::group::Group;
use crate::db::models::idempotency::{self, Begun, KeyRequest, KeyTimes};
use crate::db::models::idempotency_answers::{self, Answer};
use crate::db::{Db, DbConnection, DbError};
use crate::domain::{ClientKey, Principal};
use crate::services::organizers;

/// Most claims one statement makes.
const GROUP_MAX: usize = 64;
/// Runner threads (each with a connection of the claims' pool).
const RUNNERS: usize = 2;

/// What a claim is committed as on the claims' connections: visible at once, flushed later (or
/// by the request's effect gate).
pub const CLAIMS_SESSION: &str = "SET synchronous_commit = off";

/// What a keyed request does.
pub(super) enum Start {
    Key(Begun),
    /// A kept answer exists, but the caller's organizer is disabled or gone: its handler
    /// refuses the request, and nothing is replayed to it.
    Unkeyed,
}

/// The deferred routes' claims; cheap to clone.
#[derive(Clone)]
pub struct Claims {
    group: Group<(KeyRequest, Principal), Start>,
}

impl Claims {
    /// Starts the runners on `db`, whose connections commit without waiting for the disk.
    pub fn start(db: Db, times: KeyTimes) -> std::io::Result<Self> {
        let work = move |conn: &mut DbConnection, claims: &[(KeyRequest, Principal)]| {
            let requests: Vec<&KeyRequest> = claims.iter().map(|(request, _)| request).collect();
            let begun = idempotency::begin_batch(conn, &requests, times)?;
            claims
                .iter()
                .zip(begun)
                .map(|((_, principal), begun)| screen(conn, principal, begun))
                .collect()
        };
        Ok(Self {
            group: Group::start("key-claims", db, GROUP_MAX, RUNNERS, Arc::new(work))?,
        })
    }

    pub(super) async fn start_request(
        &self,
        key: &ClientKey,
        principal: &Principal,
    ) -> Result<Start, DbError> {
        self.group.run((request(key), principal.clone())).await
    }
}

/// The answers' connections run one statement, a join of the batch with the keys, and keep
/// one plan for it that looks each key up by its primary key: with scans and hash or merge
/// joins off, that is the only plan left, whatever the planner knows of the table when the
/// connection first plans it. (A plan cached while the table was nearly empty scanned every
/// key per batch; planning each batch afresh avoided it at about a third of the statement's
/// time in PostgreSQL.)
pub const ANSWERS_SESSION: &str = "SET plan_cache_mode = force_generic_plan; \
     SET enable_seqscan = off; SET enable_hashjoin = off; SET enable_mergejoin = off";

/// The same for the answers of requests that ran no effect, committed without waiting for the
/// disk (see [`crate::services::effect_gate`]).
pub const QUIET_ANSWERS_SESSION: &str = "SET plan_cache_mode = force_generic_plan; \
     SET enable_seqscan = off; SET enable_hashjoin = off; SET enable_mergejoin = off; \
     SET synchronous_commit = off";

/// How an answer is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Keep {
    /// Flushed before the answer goes out: its request may have run an effect.
    Durable,
    /// Committed without waiting for the disk: its request passed its effect gate never, so
    /// it ran no effect, and a retry after a crash that lost the answer repeats nothing.
    Quiet,
}

/// Keeps answers in shared transactions; cheap to clone.
#[derive(Clone)]
pub struct Answers {
    durable: Group<Answer, bool>,
    quiet: Group<Answer, bool>,
}

impl Answers {
    /// Starts the runners: on `durable`, whose commits wait for the disk
    /// ([`ANSWERS_SESSION`]), and on `quiet`, whose commits do not ([`QUIET_ANSWERS_SESSION`];
    /// on SQLite both are the pool).
    pub fn start(durable: Db, quiet: Db) -> std::io::Result<Self> {
        let work = |conn: &mut DbConnection, answers: &[Answer]| {
            Ok(idempotency_answers::complete_batch(conn, answers)?)
        };
        Ok(Self {
            durable: Group::start("key-answers", durable, GROUP_MAX, RUNNERS, Arc::new(work))?,
            quiet: Group::start("quiet-answers", quiet, GROUP_MAX, RUNNERS, Arc::new(work))?,
        })
    }

    /// Keeps one answer; `false` when its request no longer held the key. A batch run again
    /// after its connection was lost finds the answers its first run kept as not held.
    pub(super) async fn keep(&self, answer: Answer, keep: Keep) -> Result<bool, DbError> {
        match keep {
            Keep::Durable => self.durable.run(answer).await,
            Keep::Quiet => self.quiet.run(answer).await,
        }
    }
}

/// A keyed request's start on one connection of its own.
pub(super) fn start_alone(
    conn: &mut DbConnection,
    key: &ClientKey,
    principal: &Principal,
    times: KeyTimes,
) -> Result<Start, DbError> {
    let begun = idempotency::begin(conn, &key.scope, &key.key, &key.fingerprint, times)?;
    screen(conn, principal, begun)
}

/// A kept answer goes only to a caller who may still act: a disabled organizer's token is
/// refused by its handler instead. (A first request needs no such look: its handler refuses
/// it, and a refusal is not kept.)
fn screen(conn: &mut DbConnection, principal: &Principal, begun: Begun) -> Result<Start, DbError> {
    if matches!(begun, Begun::Replay(_)) && !organizers::may_act(conn, principal)? {
        return Ok(Start::Unkeyed);
    }
    Ok(Start::Key(begun))
}

fn request(key: &ClientKey) -> KeyRequest {
    KeyRequest {
        scope: key.scope.clone(),
        key: key.key.clone(),
        fingerprint: key.fingerprint.clone(),
    }
}
