//! Turns between Stripe accounts for background work: when several accounts wait for the
//! background share, the next permit goes to the waiting account served least lately (permits
//! it took, halving every second), whatever the number of calls it has waiting. An account
//! whose calls come at 5 a second is therefore served as they come while another account's
//! backlog of ten thousand webhook refetches takes what is left of the share, not half of it:
//! plain turns gave the backlog a permit for every other account's, so the accounts with a
//! steady trickle of calls fell behind whenever few of them waited at once.
//!
//! A waiter takes a ticket in its account's queue and waits for the turn: the head ticket of
//! the account chosen when the turn is free. It then waits for the rate permit and hands the
//! turn on; its account goes to the back of the order in which ties are broken. A waiter dropped
//! at any point (a cancelled request) gives its ticket back, and the turn if it held it. The
//! turn is handed to the chosen waiter alone: waking every waiter at each permit made the one
//! chosen wait behind the others for a thread on a loaded machine, and the background share was
//! handed out slower than its rate (docs/benchmarks.md, "A slower sitting").

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// How fast an account's past permits stop counting against it.
const HALF_LIFE: Duration = Duration::from_secs(1);

/// `count` permits taken as of `at`, as they count at `now`.
fn decayed(count: f64, at: Instant, now: Instant) -> f64 {
    count * 0.5f64.powf(now.duration_since(at).as_secs_f64() / HALF_LIFE.as_secs_f64())
}

#[derive(Default)]
struct Queues {
    next_ticket: u64,
    /// Accounts with waiters, in the order that breaks ties (the last served at the back).
    rotation: VecDeque<String>,
    /// Each waiting account's tickets, oldest first.
    waiting: HashMap<String, VecDeque<u64>>,
    /// How to wake each waiting ticket.
    wakers: HashMap<u64, Arc<Notify>>,
    /// The ticket that holds the turn, if one was chosen.
    turn: Option<u64>,
    /// Permits each account took lately, as of when last counted.
    served: HashMap<String, (f64, Instant)>,
}

impl Queues {
    /// Permits `account` took lately, decayed to `now`.
    fn served(&self, account: &str, now: Instant) -> f64 {
        self.served
            .get(account)
            .map_or(0.0, |&(count, at)| decayed(count, at, now))
    }

    /// Chooses who holds the turn when nobody does: the head ticket of the waiting account
    /// served least lately (ties: the one first in the rotation). Returns how to wake the
    /// ticket chosen, if one was.
    fn choose(&mut self) -> Option<Arc<Notify>> {
        if self.turn.is_some() {
            return None;
        }
        let now = Instant::now();
        let mut least: Option<(&String, f64)> = None;
        for account in &self.rotation {
            let served = self.served(account, now);
            if least.is_none_or(|(_, fewest)| served < fewest) {
                least = Some((account, served));
            }
        }
        self.turn = least
            .and_then(|(account, _)| self.waiting.get(account))
            .and_then(|queue| queue.front().copied());
        self.turn
            .and_then(|ticket| self.wakers.get(&ticket).cloned())
    }

    /// Removes the ticket; when it held the turn, the turn is free again, and when it was
    /// `granted` a permit, its account counts one more and goes to the back of the rotation.
    /// An account with no waiters left leaves it.
    fn remove(&mut self, account: &str, ticket: u64, granted: bool) {
        self.wakers.remove(&ticket);
        let Some(queue) = self.waiting.get_mut(account) else {
            return;
        };
        queue.retain(|&t| t != ticket);
        let emptied = queue.is_empty();
        if emptied {
            self.waiting.remove(account);
            self.rotation.retain(|a| a != account);
        }
        if self.turn != Some(ticket) {
            return;
        }
        self.turn = None;
        if !granted {
            return;
        }
        let now = Instant::now();
        let served = self.served(account, now) + 1.0;
        self.served.insert(account.to_string(), (served, now));
        if !emptied {
            self.rotation.retain(|a| a != account);
            self.rotation.push_back(account.to_string());
        }
        // Once the map outgrows the waiting accounts (twice over, plus 64), the accounts no
        // longer waiting whose permits no longer count are forgotten: it stays about as large
        // as the set of accounts served lately.
        if self.served.len() > 2 * self.waiting.len() + 64 {
            let waiting = &self.waiting;
            self.served.retain(|account, &mut (count, at)| {
                waiting.contains_key(account) || decayed(count, at, now) > 0.01
            });
        }
    }
}

#[derive(Default)]
pub struct FairTurns {
    queues: Mutex<Queues>,
}

/// A place in an account's queue; given back when dropped.
struct Ticket<'a> {
    turns: &'a FairTurns,
    account: &'a str,
    id: u64,
    /// Whether the waiter got its permit (else it gave up).
    granted: bool,
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let next = {
            let mut queues = self.turns.lock();
            queues.remove(self.account, self.id, self.granted);
            queues.choose()
        };
        if let Some(next) = next {
            next.notify_one();
        }
    }
}

impl FairTurns {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queues> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for `account`'s turn, then for `permit`, then hands the turn on.
    pub async fn take_turn<F: Future<Output = ()>>(&self, account: &str, permit: F) {
        let wake = Arc::new(Notify::new());
        let (mut ticket, chosen) = {
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
            queues.wakers.insert(id, wake.clone());
            let ticket = Ticket {
                turns: self,
                account,
                id,
                granted: false,
            };
            (ticket, queues.choose())
        };
        // The turn was free: whoever was chosen (this waiter or another) is told. A waiter
        // told before it waits keeps the wake-up (`notify_one` stores it).
        if let Some(chosen) = chosen {
            chosen.notify_one();
        }
        while self.lock().turn != Some(ticket.id) {
            wake.notified().await;
        }
        permit.await;
        ticket.granted = true;
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
        // The busy account's first call goes alone and the second holds the turn when the
        // quiet one queues; then the quiet account, served least, takes both its calls.
        assert_eq!(quiet, vec![2, 3], "{order:?}");
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

    #[tokio::test(flavor = "current_thread")]
    async fn a_hand_over_wakes_the_chosen_waiter_alone() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        const OTHERS: [&str; 10] = [
            "acct_1", "acct_2", "acct_3", "acct_4", "acct_5", "acct_6", "acct_7", "acct_8",
            "acct_9", "acct_10",
        ];
        let turns = Arc::new(FairTurns::default());
        let (release, released) = tokio::sync::oneshot::channel::<()>();
        let holder = {
            let turns = turns.clone();
            tokio::spawn(async move {
                let permit = async {
                    released.await.ok();
                };
                turns.take_turn("acct_0", permit).await;
            })
        };
        tokio::task::yield_now().await;
        // Ten waiters of other accounts, each polled once and counted on every poll after.
        let polls = Arc::new(AtomicUsize::new(0));
        for account in OTHERS {
            let turns = turns.clone();
            let mut waiter =
                Box::pin(async move { turns.take_turn(account, std::future::pending()).await });
            let polls = polls.clone();
            tokio::spawn(std::future::poll_fn(move |cx| {
                polls.fetch_add(1, Ordering::SeqCst);
                waiter.as_mut().poll(cx)
            }));
        }
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(polls.load(Ordering::SeqCst), OTHERS.len());
        release.send(()).unwrap();
        holder.await.unwrap();
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        // The turn went to one of them, and only that one was woken.
        assert_eq!(polls.load(Ordering::SeqCst), OTHERS.len() + 1);
        assert!(turns.lock().turn.is_some());
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
