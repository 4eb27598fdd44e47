//! The planner's estimate of one account's rows, kept near the truth while a listing grows it.
//!
//! PostgreSQL estimates `stripe_account_id = $1` from the statistics of the last ANALYZE. An
//! account that ANALYZE did not see (a new organizer's first backfill) is taken for one row,
//! however many it has gained since; autovacuum analyzes again only after a tenth of the table
//! has changed, which for a large table is a whole account's backfill later. With one row
//! believed, a look-up by a unique key that leads with the account (`stripe_account_id = $1
//! AND stripe_customer_id = $2`) costs the same as reading every row of the account through any
//! index that leads with it, and a page of a hundred look-ups the same as one read of the
//! account and a hash join: PostgreSQL may take either, and each page then reads the whole
//! account (5.5 s a page was seen). No statement shape avoids it while the estimate is wrong,
//! and none is needed once it is right: a listing, which knows how many rows it has written,
//! compares that with what the planner believes and has the table analyzed when the belief is
//! less than half of it and more pages follow (at most once per doubling of the account).

use diesel::sql_types::Text;
use diesel::{QueryResult, RunQueryDsl};

use super::DbConnection;

/// Below this many rows an account is cheap to read even once per look-up (a page of 100
/// look-ups reading 1,000 rows each took about 30 ms, against some 0.3 s for an ANALYZE of a
/// table of a million rows): its table is not analyzed for it.
pub const FLOOR: u64 = 1_000;

/// How long ANALYZE waits for its lock: long enough for an autovacuum worker on the table to
/// give way (it does after `deadlock_timeout`, 1 s by default), not long enough to hold a
/// listing behind another ANALYZE that is slow.
const LOCK_TIMEOUT: &str = "2s";

#[derive(diesel::QueryableByName)]
struct Plan {
    #[diesel(sql_type = Text, column_name = "QUERY PLAN")]
    plan: String,
}

/// How many of `table`'s rows the planner believes `account` has; `None` where no planner
/// estimate matters (SQLite keeps no statistics unless ANALYZE is run, and the gateway never
/// runs it there). `table` is one of the gateway's tables, never input.
pub fn believed_rows(
    conn: &mut DbConnection,
    table: &str,
    account: &str,
) -> QueryResult<Option<f64>> {
    let DbConnection::Postgresql(pg) = conn else {
        return Ok(None);
    };
    // A literal, not a parameter: the estimate of a generic plan would not name the account.
    // Account ids are Stripe ids (letters, digits, `_`); quotes are doubled all the same.
    let literal = account.replace('\'', "''");
    let explained = diesel::sql_query(format!(
        "EXPLAIN (FORMAT JSON) SELECT 1 FROM {table} WHERE stripe_account_id = '{literal}'"
    ))
    .get_result::<Plan>(pg)?;
    Ok(plan_rows(&explained.plan))
}

/// The top node's "Plan Rows" of an `EXPLAIN (FORMAT JSON)` output.
fn plan_rows(json: &str) -> Option<f64> {
    let plans: serde_json::Value = serde_json::from_str(json).ok()?;
    plans.get(0)?.get("Plan")?.get("Plan Rows")?.as_f64()
}

/// Takes `table`'s statistics again. Returns false, having changed nothing, when the lock was
/// not had within [`LOCK_TIMEOUT`] (the caller tries again later).
pub fn analyze(conn: &mut DbConnection, table: &str) -> QueryResult<bool> {
    let DbConnection::Postgresql(pg) = conn else {
        return Ok(true);
    };
    let analyzed = pg.build_transaction().run(|pg| {
        diesel::sql_query(format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")).execute(pg)?;
        diesel::sql_query(format!("ANALYZE {table}")).execute(pg)
    });
    match analyzed {
        Ok(_) => Ok(true),
        // 55P03 lock_not_available: someone else holds the table's statistics lock.
        Err(diesel::result::Error::DatabaseError(_, info))
            if info.message().contains("lock timeout") =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::plan_rows;

    #[test]
    fn the_estimate_is_read_off_the_top_plan_node() {
        let json = r#"[{"Plan": {"Node Type": "Index Only Scan", "Plan Rows": 1042,
            "Plans": [{"Plan Rows": 7}]}}]"#;
        assert_eq!(plan_rows(json), Some(1042.0));
        assert_eq!(plan_rows("[]"), None);
        assert_eq!(plan_rows("not json"), None);
    }
}
