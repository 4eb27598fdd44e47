//! The organizer's Stripe account itself: whether it can take charges and receive payouts, and
//! what Stripe still needs from it. One row per account (its id is the account's), refreshed
//! on `account.updated` and by every reconciliation run (a "listing" of the one account), and
//! served on the organizer. Payments are refused before any Stripe call while the row says the
//! account cannot take charges.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{found, Fetched, Page, Rows};
use crate::db::schema::stripe_accounts;
use crate::db::DbConnection;
use crate::domain::GatewayEventType;
use crate::stripe::{AccountClient, Get, StripeError};

pub struct Accounts;

// An organizer's Stripe account as the API serves it.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountStatus {
    /// Stripe's account type: `express`, `standard`, `custom`, or `none` for accounts made
    /// with controller settings.
    #[serde(rename = "type")]
    account_type: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[schema(example = "FR")]
    country: Option<String>,
    /// Whether the account can take payments; while false, checkouts and payments for the
    /// organizer answer 409 `account_not_ready`.
    charges_enabled: bool,
    /// Whether Stripe pays the account's balance out.
    payouts_enabled: bool,
    /// Whether the organizer went through onboarding to the end.
    details_submitted: bool,
    /// What Stripe needs now (Stripe's requirement names, e.g. `external_account`).
    currently_due: Vec<String>,
    /// What was due and was not given in time: the account is restricted until it is.
    past_due: Vec<String>,
    /// Why the account cannot take charges or receive payouts, in Stripe's words (e.g.
    /// `requirements.past_due`); null when nothing is disabled.
    disabled_reason: Option<String>,
}

impl From<StripeAccount> for AccountStatus {
    fn from(row: StripeAccount) -> Self {
        Self {
            currently_due: row.currently_due(),
            past_due: names(&row.past_due),
            account_type: row.account_type,
            country: row.country,
            charges_enabled: row.charges_enabled,
            payouts_enabled: row.payouts_enabled,
            details_submitted: row.details_submitted,
            disabled_reason: row.disabled_reason,
        }
    }
}

/// What the mirror reads of a Stripe account.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct RemoteAccount {
    pub id: String,
    #[serde(rename = "type")]
    pub account_type: Option<String>,
    pub country: Option<String>,
    #[serde(default)]
    pub charges_enabled: bool,
    #[serde(default)]
    pub payouts_enabled: bool,
    #[serde(default)]
    pub details_submitted: bool,
    pub requirements: Option<Requirements>,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Requirements {
    #[serde(default)]
    pub currently_due: Option<Vec<String>>,
    #[serde(default)]
    pub past_due: Option<Vec<String>>,
    pub disabled_reason: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = stripe_accounts, treat_none_as_null = true)]
pub struct StripeAccount {
    pub stripe_account_id: String,
    pub id: String,
    pub account_type: Option<String>,
    pub country: Option<String>,
    pub charges_enabled: bool,
    pub payouts_enabled: bool,
    pub details_submitted: bool,
    /// A JSON array of requirement names.
    pub currently_due: String,
    /// A JSON array of requirement names.
    pub past_due: String,
    pub disabled_reason: Option<String>,
    pub deleted: bool,
    pub fetched_at: NaiveDateTime,
}

crate::mirror_row!(StripeAccount, stripe_accounts);

fn names(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

impl StripeAccount {
    /// What Stripe needs now.
    pub fn currently_due(&self) -> Vec<String> {
        names(&self.currently_due)
    }

    /// Whether onboarding is not done: details not submitted, or charges not enabled.
    pub fn onboarding_incomplete(&self) -> bool {
        !self.details_submitted || !self.charges_enabled
    }

    /// The account's own row; `None` for no account, or one not fetched yet.
    pub fn of(conn: &mut DbConnection, account: Option<&str>) -> QueryResult<Option<Self>> {
        match account {
            Some(account) => Self::find(conn, account, account),
            None => Ok(None),
        }
    }

    /// The rows of these accounts, those the mirror has.
    pub fn of_each_across_accounts(
        conn: &mut DbConnection,
        accounts: &[&str],
    ) -> QueryResult<Vec<Self>> {
        stripe_accounts::table
            .filter(stripe_accounts::stripe_account_id.eq_any(accounts))
            .filter(stripe_accounts::id.eq(stripe_accounts::stripe_account_id))
            .filter(stripe_accounts::deleted.eq(false))
            .select(Self::as_select())
            .load(conn)
    }
}

impl Rows for Accounts {
    const NAME: &'static str = "accounts";
    const EVENTS: &'static [&'static str] = &["account.updated"];
    const LISTINGS: usize = 1;
    type Remote = RemoteAccount;
    type Row = StripeAccount;

    async fn fetch<'a>(
        client: &'a AccountClient<'a>,
        _id: &'a str,
    ) -> Result<Fetched<RemoteAccount>, StripeError> {
        // The account the client acts for: its own record needs no id.
        found(client.read_json(&Get::new("/account")).await, |_| false)
    }

    /// The account is its own one-object listing.
    async fn page<'a>(
        client: &'a AccountClient<'a>,
        _listing: usize,
        _after: Option<&'a str>,
    ) -> Result<Page<RemoteAccount>, StripeError> {
        let account: RemoteAccount = client.read_json(&Get::new("/account")).await?;
        Ok(Page {
            data: vec![account],
            has_more: false,
        })
    }

    const HEARD: bool = true;

    fn notes(_before: Option<&StripeAccount>, _after: &StripeAccount) -> Vec<GatewayEventType> {
        vec![GatewayEventType::OrganizerAccountUpdated]
    }

    fn served(_conn: &mut DbConnection, row: &StripeAccount) -> QueryResult<serde_json::Value> {
        Ok(serde_json::to_value(AccountStatus::from(row.clone())).unwrap_or_default())
    }

    fn row(account: &str, a: RemoteAccount, fetched_at: NaiveDateTime) -> StripeAccount {
        let requirements = a.requirements.unwrap_or_default();
        let json = |names: Option<Vec<String>>| {
            serde_json::to_string(&names.unwrap_or_default()).unwrap_or_else(|_| "[]".into())
        };
        StripeAccount {
            stripe_account_id: account.to_string(),
            id: a.id,
            account_type: a.account_type,
            country: a.country,
            charges_enabled: a.charges_enabled,
            payouts_enabled: a.payouts_enabled,
            details_submitted: a.details_submitted,
            currently_due: json(requirements.currently_due),
            past_due: json(requirements.past_due),
            disabled_reason: requirements.disabled_reason,
            deleted: false,
            fetched_at,
        }
    }
}
