//! How PostgreSQL plans a statement. Diesel prepares a statement once per connection and
//! PostgreSQL then may plan it once for any values (a generic plan, after five executions): the
//! right thing for the hot reads, the wrong one for a look-up of a page of keys in a table that
//! grows from empty, such as a backfill's. A generic plan made while the table was small scans
//! the whole table once it is big, and no new plan is made until the table's statistics change
//! (never, with autovacuum off). Two tools: [`prepared_once!`] for hand-written statements
//! prepared once, and [`PlannedEachTime`] for statements planned with their values each time.

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::QueryResult;

/// Makes a hand-written PostgreSQL statement (`$query`, whose `QueryFragment<Pg>` writes SQL
/// text that never changes, only what is bound to it) one diesel prepares once per connection
/// and then only binds: one static id (`$id`, the type with `'static` lifetimes) for every
/// batch size, rows of `$sql_type`, runnable on a `PgConnection`.
#[macro_export]
macro_rules! prepared_once {
    ($query:ty, $id:ty, $sql_type:ty) => {
        impl diesel::query_builder::QueryId for $query {
            type QueryId = $id;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl diesel::query_builder::Query for $query {
            type SqlType = $sql_type;
        }

        impl diesel::RunQueryDsl<diesel::PgConnection> for $query {}
    };
}

/// `query`, never prepared for reuse: PostgreSQL plans it with its values and the table's size
/// at every execution. For page look-ups on tables a backfill fills (see the module's note); a
/// statement run once per page pays its planning (tens of microseconds) once per page.
#[derive(Debug, Clone, Copy)]
pub struct PlannedEachTime<Q>(pub Q);

impl<Q> QueryId for PlannedEachTime<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: Query> Query for PlannedEachTime<Q> {
    type SqlType = Q::SqlType;
}

impl<Q: QueryFragment<DB>, DB: Backend> QueryFragment<DB> for PlannedEachTime<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        self.0.walk_ast(out.reborrow())
    }
}

impl<Q, Conn> diesel::RunQueryDsl<Conn> for PlannedEachTime<Q> {}
