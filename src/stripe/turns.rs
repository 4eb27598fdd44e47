//! Round-robin turns between Stripe accounts for background work: when several accounts wait
//! for the background share, each gets the next permit in turn, whatever the number of calls
//! it has waiting. One account's backlog of ten thousand webhook refetches therefore takes at
//! most half the background share while another account has calls waiting, not all of it.
//!
//! A waiter takes a ticket in its account's queue and waits until it is at the head of the
//! account at the head of the rotation; it then waits for the rate permit, and hands the turn
//! on (its account goes to the back of the rotation if it still has waiters). A waiter dropped
//! at any point (a cancelled request) gives its ticket back.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Mutex;

use tokio::sync::Notify;

#[derive(Default)]
struct Queues {
    next_ticket: u64,
    /// Accounts with waiters, in the order of their turns.
    rotation: VecDeque<String>,
    /// Each waiting account's tickets, oldest first.
    waiting: HashMap<String, VecDeque<u64>>,
}

impl Queues {
    fn is_next(&self, account: &str, ticket: u64) -> bool {
        self.rotation.front().is_some_and(|head| head == account)
            && self
                .waiting
                .get(account)
                .and_then(VecDeque::front)
                .is_some_and(|&head| head == ticket)
    }

    /// Removes the ticket; when it held the turn, the account goes to the back of the
    /// rotation. An account with no waiters left leaves it.
    fn remove(&mut self, account: &str, ticket: u64) {
        let Some(queue) = self.waiting.get_mut(account) else {
            return;
        };
        // Only the head ticket of the account at the head of the rotation holds the turn: a
        // waiter behind it that gives up leaves the rotation as it is.
        let had_turn = queue.front() == Some(&ticket)
            && self.rotation.front().is_some_and(|head| head == account);
        queue.retain(|&t| t != ticket);
        if queue.is_empty() {
            self.waiting.remove(account);
            self.rotation.retain(|a| a != account);
        } else if had_turn {
            self.rotation.rotate_left(1);
        }
    }
}

#[derive(Default)]
pub struct FairTurns {
    queues: Mutex<Queues>,
    changed: Notify,
}

/// A place in an account's queue; given back when dropped.
struct Ticket<'a> {
    turns: &'a FairTurns,
    account: &'a str,
    id: u64,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.turns.lock().remove(self.account, self.id);
        self.turns.changed.notify_waiters();
    }
}

impl FairTurns {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for `account`'s turn, then for `permit`, then hands the turn on.
    pub async fn take_turn<F: Future<Output = ()>>(&self, account: &str, permit: F) {
        let ticket = {
            let mut queues = self.lock();
            let id = queues.next_ticket;
            queues.next_ticket += 1;
            if !queues.waiting.contains_key(account) {
                queues.rotation.push_back(account.to_string());
            }
            queues
                .waiting
                .entry(account.to_string())
                .or_default()
                .push_back(id);
            Ticket {
                turns: self,
                account,
                id,
            }
        };
        loop {
            // Created before the check: a hand-over between the two still wakes it.
            let changed = self.changed.notified();
            if self.lock().is_next(account, ticket.id) {
                break;
            }
            changed.await;
        }
        permit.await;
        drop(ticket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(flavor = "current_thread")]
    async fn a_busy_account_does_not_hold_back_another() {
        let turns = Arc::new(FairTurns::default());
        // One permit per 2 ms, as a rate limiter would hand them out.
        let limiter = Arc::new(governor::RateLimiter::direct(
            governor::Quota::with_period(std::time::Duration::from_millis(2)).unwrap(),
        ));
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // Twenty calls of a busy account queue before two calls of a quiet one.
        for (account, calls) in [("acct_busy", 20), ("acct_quiet", 2)] {
            for _ in 0..calls {
                let (turns, limiter, order) = (turns.clone(), limiter.clone(), order.clone());
                tasks.push(tokio::spawn(async move {
                    turns.take_turn(account, limiter.until_ready()).await;
                    order.lock().unwrap().push(account);
                }));
            }
        }
        for task in tasks {
            task.await.unwrap();
        }
        let order = order.lock().unwrap();
        let quiet: Vec<usize> = (0..order.len())
            .filter(|&i| order[i] == "acct_quiet")
            .collect();
        // Turns alternate: busy, busy (queued alone), quiet, busy, quiet, then the rest.
        assert_eq!(quiet, vec![2, 4], "{order:?}");
        assert_eq!(order.len(), 22);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_dropped_waiter_gives_its_turn_back() {
        let turns = FairTurns::default();
        {
            // Never ready: the waiter holds the turn until it is dropped.
            let stuck = turns.take_turn("acct_a", std::future::pending::<()>());
            tokio::pin!(stuck);
            let polled = poll_once(stuck.as_mut()).await;
            assert!(!polled);
        }
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            turns.take_turn("acct_b", async {}),
        )
        .await
        .expect("the dropped waiter's turn was handed on");
        assert!(turns.lock().rotation.is_empty());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_waiter_giving_up_behind_the_turn_leaves_the_rotation_alone() {
        let turns = FairTurns::default();
        // acct_a holds the turn (its permit never comes), a second acct_a waiter queues
        // behind it, then acct_b.
        let mut holder = Box::pin(turns.take_turn("acct_a", std::future::pending::<()>()));
        let mut behind = Box::pin(turns.take_turn("acct_a", async {}));
        let mut other = Box::pin(turns.take_turn("acct_b", async {}));
        assert!(!poll_once(holder.as_mut()).await);
        assert!(!poll_once(behind.as_mut()).await);
        assert!(!poll_once(other.as_mut()).await);
        // The waiter behind the holder gives up: the turn stays with acct_a's holder.
        drop(behind);
        assert!(
            !poll_once(other.as_mut()).await,
            "acct_b went while acct_a held the turn"
        );
        assert_eq!(
            turns.lock().rotation.front().map(String::as_str),
            Some("acct_a")
        );
        drop(holder);
        assert!(poll_once(other.as_mut()).await);
    }

    /// Polls a future once; true when it finished.
    async fn poll_once<F: Future + Unpin>(future: F) -> bool {
        let mut future = future;
        std::future::poll_fn(|cx| {
            std::task::Poll::Ready(std::pin::Pin::new(&mut future).poll(cx).is_ready())
        })
        .await
    }
}
