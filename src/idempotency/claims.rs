//! How a keyed request starts: its key claimed, or what became of it. Every route but the
//! deferred ones claims on the pool, durably, alone, before its handler runs.
//!
//! The deferred routes' handlers look at their keys with their first read (see
//! [`crate::services::effect_gate::KeyLook`]): a key without a row is not claimed then, the
//! request runs, and claims it durably at its effect gate, before its first effect. One that
//! runs no effect (an upsert of a customer that exists and is unchanged) never claims: its
//! answer is inserted where the key is still free, without waiting for the disk, so it costs a
//! share of a read and of an insert, and no flush.
//!
//! Answers are kept the same way for every route ([`Answers`]): the answers of requests that
//! finish while others are being kept share the next transaction, so one flush keeps many.

use std::sync::Arc;

use crate::db::group::Group;
use crate::db::models::idempotency::{self, Begun, KeyRequest, KeyTimes};
use crate::db::models::idempotency_answers::{self, Answer, Unclaimed};
use crate::db::{Db, DbConnection, DbError};
use crate::domain::{ClientKey, Principal};
use crate::services::organizers;

/// Most answers one statement serves.
const GROUP_MAX: usize = 64;
/// Runner threads of the durable answers (each with a connection of the group's pool): one
/// gathers the next batch while another waits for its flush.
const RUNNERS: usize = 2;
/// Runner threads of the answers kept without a flush: one, busy under load, so answers that
/// arrive meanwhile gather into its next batch rather than each waking an idle runner.
pub const UNCLAIMED_RUNNERS: usize = 1;

/// What a keyed request does.
pub(super) enum Start {
    Key(Begun),
    /// A kept answer exists, but the caller's organizer is disabled or gone: its handler
    /// refuses the request, and nothing is replayed to it.
    Unkeyed,
}

/// The answers' connections plan each batch for the table as it is now: the batch's join
/// with the keys would otherwise keep a plan made while the table was nearly empty (before it
/// was first analyzed), a scan of every key per batch.
pub const ANSWERS_SESSION: &str = "SET plan_cache_mode = force_custom_plan";

/// The answers of requests that ran unclaimed (no effect) are committed without waiting for the
/// disk (see [`crate::services::effect_gate`]); their insert joins nothing, so any plan serves.
pub const UNCLAIMED_ANSWERS_SESSION: &str = "SET synchronous_commit = off";

/// Keeps answers in shared transactions; cheap to clone.
#[derive(Clone)]
pub struct Answers {
    claimed: Group<Answer, bool>,
    unclaimed: Group<Unclaimed, bool>,
}

impl Answers {
    /// Starts the runners: on `claimed`, whose commits wait for the disk
    /// ([`ANSWERS_SESSION`]), and on `unclaimed`, whose commits do not
    /// ([`UNCLAIMED_ANSWERS_SESSION`]; on SQLite both are the pool).
    pub fn start(claimed: Db, unclaimed: Db, times: KeyTimes) -> std::io::Result<Self> {
        let complete = |conn: &mut DbConnection, answers: &[Answer]| {
            Ok(idempotency_answers::complete_batch(conn, answers)?)
        };
        let insert = move |conn: &mut DbConnection, answers: &[Unclaimed]| {
            Ok(idempotency_answers::keep_unclaimed_batch(
                conn, answers, times,
            )?)
        };
        Ok(Self {
            claimed: Group::start(
                "key-answers",
                claimed,
                GROUP_MAX,
                RUNNERS,
                Arc::new(complete),
            )?,
            unclaimed: Group::start(
                "unclaimed-answers",
                unclaimed,
                GROUP_MAX,
                UNCLAIMED_RUNNERS,
                Arc::new(insert),
            )?,
        })
    }

    /// Keeps the answer of a request that held its key; `false` when it no longer did. A batch
    /// run again after its connection was lost finds the answers its first run kept as not
    /// held.
    pub(super) async fn keep(&self, answer: Answer) -> Result<bool, DbError> {
        self.claimed.run(answer).await
    }

    /// Keeps the answer of a request that ran unclaimed; `false` when another request claimed
    /// or answered the key meanwhile.
    pub(super) async fn keep_unclaimed(&self, answer: Unclaimed) -> Result<bool, DbError> {
        self.unclaimed.run(answer).await
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

pub(super) fn request(key: &ClientKey) -> KeyRequest {
    KeyRequest {
        scope: key.scope.clone(),
        key: key.key.clone(),
        fingerprint: key.fingerprint.clone(),
    }
}
