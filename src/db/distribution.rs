//! Where each table goes when the accounts outgrow one PostgreSQL: Citus, with the tables of
//! tenants distributed (sharded) by `stripe_account_id` and co-located, so that everything of
//! one account lives on one node and a query that names its account runs there alone.
//!
//! Citus requires the distribution column in every primary key and unique index of a
//! distributed table; the migrations put it first (`tests/api/catalog.rs` reads the migrated
//! catalog and fails on a table missing from [`TABLES`] or a key without the account).
//! `stripe-gateway distribute` prints the statements an operator runs (docs/design.md, "Past
//! one database").

/// How one table is placed on a Citus cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Sharded by `stripe_account_id`, co-located with `customers`: one account's rows of every
    /// such table on one node.
    ByAccount,
    /// Copied to every node: small, read by the tenants' queries (organizers name the account
    /// of a request), written rarely.
    Reference,
    /// Stays on the coordinator: the gateway's own bookkeeping (leases, idempotency, audit, the
    /// apps' endpoints and feed) and diesel's migration list, keyed by organizer or by request,
    /// not by account.
    Coordinator,
}

/// The distribution column of every [`Placement::ByAccount`] table.
pub const DISTRIBUTION_COLUMN: &str = "stripe_account_id";

/// Every table the migrations create, in the order the statements must run (a table before
/// those whose foreign keys point at it).
pub const TABLES: &[(&str, Placement)] = &[
    ("organizers", Placement::Reference),
    ("erasures", Placement::Reference),
    ("customers", Placement::ByAccount),
    ("entitlements", Placement::ByAccount),
    ("products", Placement::ByAccount),
    ("prices", Placement::ByAccount),
    ("subscriptions", Placement::ByAccount),
    ("invoices", Placement::ByAccount),
    ("invoice_payments", Placement::ByAccount),
    ("payment_intents", Placement::ByAccount),
    ("refunds", Placement::ByAccount),
    ("disputes", Placement::ByAccount),
    ("checkout_sessions", Placement::ByAccount),
    ("stripe_accounts", Placement::ByAccount),
    ("sync_runs", Placement::ByAccount),
    ("sync_cursors", Placement::ByAccount),
    ("event_cursors", Placement::ByAccount),
    ("webhook_events", Placement::ByAccount),
    ("webhook_event_attempts", Placement::ByAccount),
    ("erasure_accounts", Placement::ByAccount),
    ("leases", Placement::Coordinator),
    ("idempotency_keys", Placement::Coordinator),
    ("audit_events", Placement::Coordinator),
    ("stripe_instances", Placement::Coordinator),
    ("gateway_events", Placement::Coordinator),
    ("webhook_endpoints", Placement::Coordinator),
    ("webhook_secrets", Placement::Coordinator),
    ("webhook_deliveries", Placement::Coordinator),
    ("webhook_attempts", Placement::Coordinator),
    ("__diesel_schema_migrations", Placement::Coordinator),
];

/// The statements that place [`TABLES`] on a Citus cluster whose workers are added, run once
/// on the coordinator after `stripe-gateway migrate` (and with the gateway stopped: moving a
/// table's rows to the shards locks it).
pub fn citus_sql() -> String {
    let mut sql = String::from(
        "-- Placing the gateway's tables on a Citus cluster (docs/design.md, \"Past one database\").\n\
         -- Run on the coordinator once its workers are added (citus_add_node) and it is in the\n\
         -- metadata itself (citus_set_coordinator_host), after `stripe-gateway migrate`, with\n\
         -- the gateway stopped. The tables not named stay on the coordinator.\n\
         CREATE EXTENSION IF NOT EXISTS citus;\n",
    );
    let mut colocate = None;
    for &(table, placement) in TABLES {
        let statement = match placement {
            Placement::Reference => format!("SELECT create_reference_table('{table}');\n"),
            Placement::ByAccount => {
                match colocate {
                    None => {
                        colocate = Some(table);
                        format!("SELECT create_distributed_table('{table}', '{DISTRIBUTION_COLUMN}');\n")
                    }
                    Some(first) => format!(
                        "SELECT create_distributed_table('{table}', '{DISTRIBUTION_COLUMN}', \
                     colocate_with => '{first}');\n"
                    ),
                }
            }
            Placement::Coordinator => continue,
        };
        sql.push_str(&statement);
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_placed_once_and_the_sql_names_each_shared_one() {
        let mut names: Vec<&str> = TABLES.iter().map(|(name, _)| *name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a table is placed twice");
        let sql = citus_sql();
        for &(table, placement) in TABLES {
            let named = sql.contains(&format!("('{table}'"));
            assert_eq!(named, placement != Placement::Coordinator, "{table}");
        }
        assert!(sql.contains(
            "create_distributed_table('entitlements', 'stripe_account_id', colocate_with => 'customers')"
        ));
    }
}
