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
        target_ids -> Text,
        outcome -> Text,
        subject_hash -> Nullable<Text>,
    }
}

diesel::table! {
    customers (id) {
        id -> Text,
        organizer_id -> Text,
        stripe_account_id -> Text,
        email -> Text,
        email_normalized -> Text,
        name -> Nullable<Text>,
        phone -> Nullable<Text>,
        metadata -> Text,
        stripe_customer_id -> Nullable<Text>,
        status -> Text,
        create_attempt -> Int4,
        last_failure_at -> Nullable<Timestamp>,
        version -> Int4,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        ever_active -> Bool,
    }
}

diesel::table! {
    erasure_accounts (erasure_id, customer_id) {
        erasure_id -> Text,
        customer_id -> Text,
        organizer_id -> Text,
        stripe_account_id -> Text,
        stripe_customer_id -> Nullable<Text>,
        outcome -> Text,
        error_code -> Nullable<Text>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    erasures (id) {
        id -> Text,
        subject_hash -> Text,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    leases (kind, key) {
        kind -> Text,
        key -> Text,
        owner -> Text,
        expires_at -> Timestamp,
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

diesel::joinable!(customers -> organizers (organizer_id));
diesel::joinable!(erasure_accounts -> erasures (erasure_id));

diesel::allow_tables_to_appear_in_same_query!(
    audit_events,
    customers,
    erasure_accounts,
    erasures,
    leases,
    organizers,
);
