//! The inbox's PostgreSQL batch insert, kept apart from the rest of the inbox queries: one
//! prepared statement for any batch size.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::NewWebhookEvent;

#[derive(QueryableByName)]
struct InsertedId {
    #[diesel(sql_type = diesel::sql_types::Text)]
    id: String,
}

/// The PostgreSQL insert: the batch as one array per column, `unnest`ed into rows, with the
/// `unknown_account` check against `organizers` in the same statement.
pub(super) fn insert_batch_pg(
    pg: &mut diesel::PgConnection,
    rows: &[NewWebhookEvent],
) -> QueryResult<Vec<String>> {
    use diesel::sql_types::{Array, Bool, Nullable, Text, Timestamp};
    const SQL: &str =
        "INSERT INTO webhook_events (id, stripe_account_id, event_type, object_type, \
        object_id, livemode, created_at, received_at, status, next_attempt_at, payload) \
        SELECT v.id, v.account, v.event_type, v.object_type, v.object_id, v.livemode, \
               v.created_at, v.received_at, \
               CASE WHEN v.status = 'pending' AND NOT EXISTS \
                   (SELECT 1 FROM organizers o WHERE o.stripe_account_id = v.account) \
               THEN 'unknown_account' ELSE v.status END, \
               v.next_attempt_at, v.payload \
        FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], \
                    $7::timestamp[], $8::timestamp[], $9::text[], $10::timestamp[], $11::text[]) \
             AS v(id, account, event_type, object_type, object_id, livemode, created_at, \
                  received_at, status, next_attempt_at, payload) \
        ON CONFLICT (id) DO NOTHING RETURNING id";
    let text = |f: fn(&NewWebhookEvent) -> &str| rows.iter().map(f).collect::<Vec<&str>>();
    let optional = |f: fn(&NewWebhookEvent) -> Option<&str>| rows.iter().map(f).collect::<Vec<_>>();
    let time = |f: fn(&NewWebhookEvent) -> NaiveDateTime| rows.iter().map(f).collect::<Vec<_>>();
    diesel::sql_query(SQL)
        .bind::<Array<Text>, _>(text(|r| &r.id))
        .bind::<Array<Nullable<Text>>, _>(optional(|r| r.stripe_account_id.as_deref()))
        .bind::<Array<Text>, _>(text(|r| &r.event_type))
        .bind::<Array<Text>, _>(text(|r| &r.object_type))
        .bind::<Array<Nullable<Text>>, _>(optional(|r| r.object_id.as_deref()))
        .bind::<Array<Bool>, _>(rows.iter().map(|r| r.livemode).collect::<Vec<_>>())
        .bind::<Array<Timestamp>, _>(time(|r| r.created_at))
        .bind::<Array<Timestamp>, _>(time(|r| r.received_at))
        .bind::<Array<Text>, _>(text(|r| r.status.as_str()))
        .bind::<Array<Timestamp>, _>(time(|r| r.next_attempt_at))
        .bind::<Array<Text>, _>(text(|r| &r.payload))
        .load::<InsertedId>(pg)
        .map(|ids| ids.into_iter().map(|row| row.id).collect())
}
