//! Where each organizer's customers are kept, as last read: what lets a read that loads an
//! organizer together with its customers name their account as a value, so that on a database
//! sharded by account it runs on that account's node alone (docs/design.md, "Past one
//! database").

use std::collections::HashMap;
use std::sync::RwLock;

use diesel::QueryResult;

use super::Organizer;
use crate::db::DbConnection;
use crate::domain::StripeAccountId;

/// The account each organizer's customers were kept under ([`Organizer::charge_account`]) when
/// this process last loaded the organizer: one entry per organizer it served.
///
/// A read names the accounts known for its organizers and checks each organizer it loads
/// against them; for an organizer whose account it did not name (one not seen yet, or whose
/// account or charge type changed since) it reads again with the account the organizer's row
/// gives. A missing or stale entry costs a second statement, never a wrong answer.
pub struct ChargeAccounts {
    platform: Option<StripeAccountId>,
    known: RwLock<HashMap<String, String>>,
}

impl ChargeAccounts {
    /// None known yet; destination charges keep their customers under `platform`.
    pub fn new(platform: Option<StripeAccountId>) -> Self {
        Self {
            platform,
            known: RwLock::new(HashMap::new()),
        }
    }

    /// The account `organizer`'s customers are kept under, as its row says: empty when there
    /// is none (no row is ever kept under an empty account).
    pub fn of<'a>(&'a self, organizer: &'a Organizer) -> &'a str {
        organizer.charge_account(self.platform.as_ref())
    }

    /// Runs `read` for the organizers with the accounts known for them, then again for those
    /// it loaded whose account it did not name, with the accounts their rows give; the rows of
    /// both reads, in that order. `read(conn, organizer_ids, accounts)` loads the organizers
    /// with their data under those accounts; `organizer` tells a row's organizer. A row may
    /// then carry an organizer's data under an account it no longer uses: callers match data
    /// to organizers by [`ChargeAccounts::of`].
    pub fn read<R>(
        &self,
        conn: &mut DbConnection,
        organizer_ids: &[&str],
        mut read: impl FnMut(&mut DbConnection, &[&str], &[String]) -> QueryResult<Vec<R>>,
        organizer: impl Fn(&R) -> &Organizer,
    ) -> QueryResult<Vec<R>> {
        let named = self.named(organizer_ids);
        let mut rows = read(conn, organizer_ids, &named)?;
        let mut again: Vec<String> = Vec::new();
        let mut accounts: Vec<String> = Vec::new();
        for row in &rows {
            let organizer = organizer(row);
            let account = self.of(organizer);
            self.learn(&organizer.id, account);
            if !account.is_empty() && !named.iter().any(|n| n == account) {
                again.push(organizer.id.clone());
                accounts.push(account.to_owned());
            }
        }
        if again.is_empty() {
            return Ok(rows);
        }
        again.sort_unstable();
        again.dedup();
        accounts.sort_unstable();
        accounts.dedup();
        let again: Vec<&str> = again.iter().map(String::as_str).collect();
        let more = read(conn, &again, &accounts)?;
        rows.extend(more);
        Ok(rows)
    }

    /// The accounts known for these organizers, once each and none empty; an organizer not
    /// seen yet adds none.
    fn named(&self, organizer_ids: &[&str]) -> Vec<String> {
        let known = self.known.read().unwrap_or_else(|e| e.into_inner());
        let mut named: Vec<String> = organizer_ids
            .iter()
            .filter_map(|id| known.get(*id))
            .filter(|account| !account.is_empty())
            .cloned()
            .collect();
        named.sort_unstable();
        named.dedup();
        named
    }

    /// Keeps `account` as the organizer's, unless it is already.
    fn learn(&self, organizer_id: &str, account: &str) {
        let same = |known: &HashMap<String, String>| {
            known.get(organizer_id).map(String::as_str) == Some(account)
        };
        if same(&self.known.read().unwrap_or_else(|e| e.into_inner())) {
            return;
        }
        let mut known = self.known.write().unwrap_or_else(|e| e.into_inner());
        if !same(&known) {
            known.insert(organizer_id.to_owned(), account.to_owned());
        }
    }
}
