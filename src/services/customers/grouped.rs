//! The reads frontends make on every page, served by group execution ([`Group`]): reads that
//! arrive while others are being served share the next statement, so under load the
//! database's per-statement cost is paid once per batch, and a lone read runs at once.

use std::sync::Arc;

use super::CustomerError;
use crate::db::group::Group;
use crate::db::models::idempotency::{Begun, KeyRequest, KeyTimes};
use crate::db::models::idempotency_looks::{look_batch, Looked};
use crate::db::models::{ChargeAccounts, Customer, FoundByEmail, Organizer};
use crate::db::{Db, DbConnection};
use crate::domain::Principal;
use crate::domain::{CustomerId, Email, OrganizerId, StripeAccountId};
use crate::mirror::entitlements::{self, CustomerAccess, FoundAccess, IdKey};
use crate::services::effect_gate::{EffectGate, KeyLook};
use crate::services::organizers::{self, OrganizerError};

/// Most reads one grouped statement serves.
const GROUP_MAX: usize = 64;

/// The session of the hot reads' own connections (PostgreSQL): their statements are look-ups
/// by key, for which a scan of the whole table is never the right plan, whatever the planner
/// last learned of the table. Planned while `customers` held a few hundred rows, a read scanned
/// the table, and kept scanning it after a backfill added 100,000 (25–30 ms a read instead of
/// 0.1 ms, until the table was next analyzed; docs/benchmarks.md, "Where the interactive tail
/// comes from"). Each connection prepares the statements once, but PostgreSQL plans them for
/// each batch's arrays (`pg_stat_statements`: about 75 µs per batch): a generic plan, made
/// once, filters the account's customers by email instead of looking the emails up in the
/// unique index when it is made on a small table, so the planning is kept.
pub const HOT_READS_SESSION: &str = "SET enable_seqscan = off";

/// A read by email. An upsert's also looks at its request's `Idempotency-Key`, on the same
/// connection right after the batch's read: the look costs its request no trip of its own. A
/// look that takes a key over writes, and commits durably: these connections must keep
/// `synchronous_commit` on.
struct EmailRead {
    organizer_id: String,
    email: String,
    look: Option<Arc<KeyLook>>,
}

#[derive(Clone)]
pub struct GroupedReads {
    by_email: Group<EmailRead, (FoundByEmail, Option<Looked>)>,
    access_by_id: Group<IdKey, FoundAccess>,
    accounts: Arc<ChargeAccounts>,
}

impl GroupedReads {
    /// Starts `runners` runner threads per kind of read (`DATABASE_READ_RUNNERS`), each with
    /// a connection of its own ([`HOT_READS_SESSION`]), outside the shared pool. Destination
    /// charges keep their customers under `platform`.
    pub fn start(
        db: &Db,
        runners: usize,
        platform: Option<StripeAccountId>,
    ) -> std::io::Result<Self> {
        let connections = u32::try_from(2 * runners.max(1)).unwrap_or(u32::MAX);
        let db = db.dedicated(connections, HOT_READS_SESSION, "reads");
        let accounts = Arc::new(ChargeAccounts::new(platform));
        let known = accounts.clone();
        let by_email = move |conn: &mut DbConnection, reads: &[EmailRead]| {
            let keys: Vec<(&str, &str)> = reads
                .iter()
                .map(|read| (read.organizer_id.as_str(), read.email.as_str()))
                .collect();
            let found = Customer::find_with_organizers_by_emails(conn, &known, &keys)?;
            let looks: Vec<(&KeyRequest, KeyTimes)> = reads
                .iter()
                .filter_map(|read| read.look.as_deref())
                .map(|look| (look.request(), look.times()))
                .collect();
            let mut looked = match looks.is_empty() {
                true => Vec::new(),
                false => look_batch(conn, &looks)?,
            }
            .into_iter();
            Ok(found
                .into_iter()
                .zip(reads)
                .map(|(found, read)| (found, read.look.as_ref().and_then(|_| looked.next())))
                .collect())
        };
        let known = accounts.clone();
        let access_by_id = move |conn: &mut DbConnection, keys: &[IdKey]| {
            Ok(entitlements::find_access_with_organizers_by_ids(
                conn, &known, keys,
            )?)
        };
        Ok(Self {
            by_email: Group::start(
                "read-by-email",
                db.clone(),
                GROUP_MAX,
                runners,
                Arc::new(by_email),
            )?,
            access_by_id: Group::start(
                "read-access",
                db,
                GROUP_MAX,
                runners,
                Arc::new(access_by_id),
            )?,
            accounts,
        })
    }

    /// Where each organizer's customers are kept, as this process last read it: for the
    /// other reads that load an organizer with its customers.
    pub fn charge_accounts(&self) -> &Arc<ChargeAccounts> {
        &self.accounts
    }

    /// The organizer's customer with this email (any status), for `principal`.
    pub async fn by_email(
        &self,
        principal: &Principal,
        org_id: OrganizerId,
        email: &Email,
    ) -> Result<Option<Customer>, CustomerError> {
        let gate = EffectGate::open();
        Ok(self
            .with_organizer_by_email(principal, org_id, email, &gate)
            .await?
            .1)
    }

    /// [`GroupedReads::by_email`] with the organizer it was read with: an upsert's first look,
    /// which also looks at the request's key for `gate` ([`EffectGate::key_to_look`]). What
    /// the look found is the gate's, once the caller is known to be allowed: a row that settles
    /// the request stops it here ([`crate::services::effect_gate::GateShut::Settled`]). A
    /// caller who is refused gets the refusal instead, whatever the key's row holds.
    pub async fn with_organizer_by_email(
        &self,
        principal: &Principal,
        org_id: OrganizerId,
        email: &Email,
        gate: &EffectGate,
    ) -> Result<(Organizer, Option<Customer>), CustomerError> {
        principal
            .require_organizer(org_id)
            .map_err(OrganizerError::from)?;
        let read = EmailRead {
            organizer_id: org_id.to_string(),
            email: email.normalized().to_string(),
            look: gate.key_to_look(),
        };
        let (found, looked) = self.by_email.run(read).await?;
        let authorized = organizers::authorize_loaded(principal, org_id, found);
        if let Some(mut looked) = looked {
            // A refused caller gets its refusal, which is not kept over the key's row; a key
            // taken over is held either way, to be freed after the refusal.
            if authorized.is_err() && !matches!(looked, Looked::Begun(Begun::Run(_))) {
                looked = Looked::Free;
            }
            gate.looked(looked)?;
        }
        Ok(authorized?)
    }

    /// The organizer's customer `customer_id` (any status) with its features and the
    /// subscriptions that grant access, for `principal`.
    pub async fn access(
        &self,
        principal: &Principal,
        org_id: OrganizerId,
        customer_id: CustomerId,
    ) -> Result<Option<CustomerAccess>, CustomerError> {
        let key = (org_id.to_string(), customer_id.to_string());
        Ok(authorized(&self.access_by_id, principal, org_id, key)
            .await?
            .1)
    }
}

/// Runs one grouped read of organizer `org_id`'s data, refused as
/// [`organizers::load_with_organizer`] refuses: another organizer's token before the read, a
/// missing or (for its own token) disabled organizer as loaded with the batch.
async fn authorized<T: Send + 'static>(
    group: &Group<(String, String), Option<(Organizer, T)>>,
    principal: &Principal,
    org_id: OrganizerId,
    key: (String, String),
) -> Result<(Organizer, T), CustomerError> {
    principal
        .require_organizer(org_id)
        .map_err(OrganizerError::from)?;
    let found = group.run(key).await?;
    Ok(organizers::authorize_loaded(principal, org_id, found)?)
}
