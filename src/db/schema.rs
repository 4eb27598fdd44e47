// @generated automatically by Diesel CLI.

diesel::table! {
    audit_events (id) {
        id -> Text,
        occurred_at -> Timestamp,
        actor -> Text,
        actor_role -> Text,
        action -> Text,
        organizer_id -> Nullable<Text>,
        request_id -> Text,
        details -> Text,
    }
}

diesel::table! {
    organizers (id) {
        id -> Text,
        name -> Text,
        stripe_account_id -> Text,
        application_fee_bps -> Nullable<Int4>,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(audit_events, organizers,);
