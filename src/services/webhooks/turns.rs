//! The accounts' turns at a process's workers: which account the next claim starts after, and
//! which accounts already hold their share of the workers.
//!
//! Claims go round the accounts with due events (the one after the account the last claim
//! served). That alone does not keep one account's backlog from delaying the others: the
//! backlog's events, claimed at every other turn, wait for the account's turn at the Stripe
//! rate budget while holding their workers, until too few workers are left for the other
//! accounts' events. So while other accounts have due events, an account holding a quarter of
//! the workers is passed over; with nothing else due it takes every worker (the rate budget
//! serves first the accounts it served least lately, so a worker held by the backlog is soon
//! free for the next account's event).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::db::models::ClaimTurns;

/// The part of the workers one account may hold while others have events due.
const SHARE_WHILE_OTHERS_WAIT: usize = 4;

#[derive(Clone)]
pub(super) struct Turns {
    inner: Arc<Mutex<State>>,
    /// How many events one account may hold while others have events due.
    cap: usize,
}

#[derive(Default)]
struct State {
    /// The account the last claim served.
    last: Option<String>,
    /// Events claimed and not yet handled, by account.
    held: HashMap<String, usize>,
}

impl Turns {
    pub fn new(workers: usize) -> Self {
        Self {
            inner: Arc::default(),
            cap: (workers / SHARE_WHILE_OTHERS_WAIT).max(1),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Nothing was due: the next claim starts from the first account.
    pub fn idle(&self) {
        self.state().last = None;
    }
}

impl ClaimTurns for Turns {
    type Held = Held;

    fn next(&self) -> (Option<String>, Vec<String>) {
        let state = self.state();
        let full = state
            .held
            .iter()
            .filter(|&(_, &held)| held >= self.cap)
            .map(|(account, _)| account.clone())
            .collect();
        (state.last.clone(), full)
    }

    /// The turn moves on to `account`, which holds one more event until the guard is dropped;
    /// refused when `account` reached its share since `full` was read (workers claiming at
    /// once all read the same turn: the first takes it, the others look again).
    fn take(&self, account: &str, full: &[String]) -> Option<Held> {
        let mut state = self.state();
        let held = state.held.get(account).copied().unwrap_or(0);
        if held >= self.cap && !full.iter().any(|known| known == account) {
            return None;
        }
        state.last = Some(account.to_string());
        *state.held.entry(account.to_string()).or_default() += 1;
        Some(Held {
            turns: self.clone(),
            account: account.to_string(),
        })
    }
}

/// One event held by a worker; dropping it gives the account's place back.
pub(super) struct Held {
    turns: Turns,
    account: String,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut state = self.turns.state();
        if let Some(held) = state.held.get_mut(&self.account) {
            *held -= 1;
            if *held == 0 {
                state.held.remove(&self.account);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_at_its_share_is_passed_over_until_it_gives_an_event_back() {
        let turns = Turns::new(8);
        let first = turns.take("acct_a", &[]).unwrap();
        let second = turns.take("acct_a", &[]).unwrap();
        let (after, full) = turns.next();
        assert_eq!(full, ["acct_a"]);
        assert_eq!(after.as_deref(), Some("acct_a"));
        drop(first);
        assert!(turns.next().1.is_empty());
        drop(second);
        assert!(turns.state().held.is_empty());
        turns.idle();
        assert_eq!(turns.next().0, None);
    }

    #[test]
    fn of_claimers_that_read_one_turn_only_the_first_takes_it_from_an_account_at_its_share() {
        let turns = Turns::new(4);
        // Both read the turn before either took it: neither saw the account full.
        let (_, full) = turns.next();
        let first = turns.take("acct_a", &full);
        assert!(first.is_some());
        assert!(
            turns.take("acct_a", &full).is_none(),
            "the second looks again"
        );
        // Looking again, it sees the account full; chosen as such (nothing else due), it is
        // taken.
        let (after, full) = turns.next();
        assert_eq!(
            (after.as_deref(), full.as_slice()),
            (Some("acct_a"), &["acct_a".to_string()][..])
        );
        assert!(turns.take("acct_a", &full).is_some());
    }
}
