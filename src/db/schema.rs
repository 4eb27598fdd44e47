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
    checkout_sessions (stripe_account_id, id) {
        stripe_account_id -> Text,
        id -> Text,
        stripe_customer_id -> Nullable<Text>,
        mode -> Text,
        status -> Nullable<Text>,
        payment_status -> Text,
        amount_total -> Nullable<Int8>,
        currency -> Nullable<Text>,
        expires_at -> Nullable<Timestamp>,
        metadata -> Text,
        deleted -> Bool,
        fetched_at -> Timestamp,
        url -> Nullable<Text>,
        payment_intent_id -> Nullable<Text>,
        subscription_id -> Nullable<Text>,
        listed_by -> Nullable<Text>,
    }
}

diesel::table! {
    customers (stripe_account_id, id) {
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
        listed_by -> Nullable<Text>,
    }
}

diesel::table! {
    disputes (stripe_account_id, id) {
        stripe_account_id -> Text,
        id -> Text,
        payment_intent_id -> Nullable<Text>,
        charge_id -> Nullable<Text>,
        amount -> BigInt,
        currency -> Text,
        status -> Text,
        reason -> Nullable<Text>,
        evidence_due_by -> Nullable<Timestamp>,
        created -> Nullable<Timestamp>,
        deleted -> Bool,
        fetched_at -> Timestamp,
        listed_by -> Nullable<Text>,
    }
}

diesel::table! {
    entitlements (stripe_account_id, stripe_customer_id) {
        stripe_account_id -> Text,
        stripe_customer_id -> Text,
        features -> Text,
        fetched_at -> Timestamp,
    }
}

diesel::table! {
    erasure_accounts (stripe_account_id, erasure_id, customer_id) {
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
    event_cursors (stripe_account_id) {
        stripe_account_id -> Text,
        since -> Int8,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    gateway_events (organizer_id, seq) {
        organizer_id -> Text,
        seq -> BigInt,
        id -> Text,
        #[sql_name = "type"]
        event_type -> Text,
        object_id -> Text,
        object_seq -> BigInt,
        created_at -> Timestamp,
        data -> Text,
    }
}

diesel::table! {
    idempotency_keys (scope, key) {
        scope -> Text,
        key -> Text,
        fingerprint -> Text,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        response_status -> Nullable<Int4>,
        response_headers -> Nullable<Text>,
        response_body -> Nullable<Binary>,
        customer_id -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}

diesel::table! {
    invoice_payments (stripe_account_id, id) {
        stripe_account_id -> Text,
        id -> Text,
        invoice_id -> Text,
        payment_intent_id -> Nullable<Text>,
        status -> Text,
        amount_paid -> Nullable<Int8>,
        amount_requested -> Int8,
        currency -> Text,
        is_default -> Bool,
        created -> Nullable<Timestamp>,
        deleted -> Bool,
        fetched_at -> Timestamp,
        listed_by -> Nullable<Text>,
    }
}

diesel::table! {
    invoices (stripe_account_id, id) {
        stripe_account_id -> Text,
        id -> Text,
        stripe_customer_id -> Nullable<Text>,
        subscription_id -> Nullable<Text>,
        number -> Nullable<Text>,
        status -> Nullable<Text>,
        currency -> Text,
        total -> BigInt,
        amount_due -> BigInt,
        amount_paid -> BigInt,
        hosted_invoice_url -> Nullable<Text>,
        period_start -> Nullable<Timestamp>,
        period_end -> Nullable<Timestamp>,
        created -> Nullable<Timestamp>,
        deleted -> Bool,
        fetched_at -> Timestamp,
        attempt_count -> Integer,
        listed_by -> Nullable<Text>,
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
        stripe_account_id -> Nullable<Text>,
        application_fee_bps -> Nullable<Int4>,
        status -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        disconnected_at -> Nullable<Timestamp>,
        ticket_fees -> Nullable<Text>,
        refund_application_fee -> Bool,
        charge_type -> Text,
    }
}

diesel::table! {
    payment_intents (stripe_account_id, id) {
        stripe_account_id -> Text,
        id -> Text,
        stripe_customer_id -> Nullable<Text>,
        status -> Text,
        currency -> Text,
        amount -> BigInt,
        amount_received -> BigInt,
        application_fee_amount -> Nullable<BigInt>,
        latest_charge -> Nullable<Text>,
        last_error -> Text,
        metadata -> Text,
        created -> Nullable<Timestamp>,
        deleted -> Bool,
        fetched_at -> Timestamp,
        destination_account -> Nullable<Text>,
        listed_by -> Nullable<Text>,
    }
}

diesel::table! {
    prices (stripe_account_id, id) {
        stripe_account_id -> Text,
        id -> Text,
        product_id -> Text,
        active -> Bool,
        currency -> Text,
        unit_amount -> Nullable<Int8>,
        recurring_interval -> Nullable<Text>,
        recurring_interval_count -> Nullable<Int4>,
        lookup_key -> Nullable<Text>,
        nickname -> Nullable<Text>,
        metadata -> Text,
        deleted -> Bool,
        fetched_at -> Timestamp,
        listed_by -> Nullable<Text>,
    }
}

diesel::table! {
    products (stripe_account_id, id) {
        stripe_account_id -> Text,
        id -> Text,
        name -> Text,
        description -> Nullable<Text>,
        active -> Bool,
        metadata -> Text,
        deleted -> Bool,
        fetched_at -> Timestamp,
        listed_by -> Nullable<Text>,
    }
}

diesel::table! {
    refunds (stripe_account_id, id) {
        stripe_account_id -> Text,
        id -> Text,
        payment_intent_id -> Nullable<Text>,
        charge_id -> Nullable<Text>,
        amount -> BigInt,
        currency -> Text,
        status -> Text,
        reason -> Nullable<Text>,
        failure_reason -> Nullable<Text>,
        metadata -> Text,
        created -> Nullable<Timestamp>,
        deleted -> Bool,
        fetched_at -> Timestamp,
        listed_by -> Nullable<Text>,
    }
}

diesel::table! {
    stripe_instances (id) {
        id -> Text,
        seen_at -> Timestamp,
    }
}

diesel::table! {
    stripe_accounts (stripe_account_id, id) {
        stripe_account_id -> Text,
        id -> Text,
        account_type -> Nullable<Text>,
        country -> Nullable<Text>,
        charges_enabled -> Bool,
        payouts_enabled -> Bool,
        details_submitted -> Bool,
        currently_due -> Text,
        past_due -> Text,
        disabled_reason -> Nullable<Text>,
        deleted -> Bool,
        fetched_at -> Timestamp,
        listed_by -> Nullable<Text>,
    }
}

diesel::table! {
    subscriptions (stripe_account_id, id) {
        stripe_account_id -> Text,
        id -> Text,
        stripe_customer_id -> Text,
        status -> Text,
        items -> Text,
        current_period_end -> Nullable<Timestamp>,
        cancel_at_period_end -> Bool,
        trial_end -> Nullable<Timestamp>,
        metadata -> Text,
        deleted -> Bool,
        fetched_at -> Timestamp,
        listed_by -> Nullable<Text>,
    }
}

diesel::table! {
    sync_cursors (stripe_account_id, kind) {
        stripe_account_id -> Text,
        kind -> Text,
        run_id -> Text,
        starting_after -> Text,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    sync_runs (stripe_account_id, id) {
        id -> Text,
        organizer_id -> Text,
        stripe_account_id -> Text,
        status -> Text,
        dry_run -> Bool,
        kinds -> Text,
        trigger -> Text,
        created_at -> Timestamp,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        report -> Nullable<Text>,
        error -> Nullable<Text>,
    }
}

diesel::table! {
    webhook_event_attempts (stripe_account_id, id) {
        id -> Text,
        event_id -> Text,
        started_at -> Timestamp,
        finished_at -> Timestamp,
        error -> Nullable<Text>,
        stripe_account_id -> Text,
    }
}

diesel::table! {
    webhook_events (id, stripe_account_id) {
        id -> Text,
        stripe_account_id -> Text,
        event_type -> Text,
        object_type -> Text,
        object_id -> Nullable<Text>,
        livemode -> Bool,
        created_at -> Timestamp,
        received_at -> Timestamp,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamp,
        lease_owner -> Nullable<Text>,
        lease_until -> Nullable<Timestamp>,
        processed_at -> Nullable<Timestamp>,
        settled_by -> Nullable<Text>,
        payload -> Text,
    }
}

diesel::table! {
    webhook_endpoints (id) {
        id -> Text,
        organizer_id -> Nullable<Text>,
        organizer_ids -> Nullable<Text>,
        url -> Text,
        description -> Text,
        event_types -> Nullable<Text>,
        enabled -> Bool,
        disabled_reason -> Nullable<Text>,
        failing_since -> Nullable<Timestamp>,
        lease_until -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    webhook_secrets (endpoint_id, id) {
        endpoint_id -> Text,
        id -> Text,
        secret -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_deliveries (id) {
        id -> Text,
        endpoint_id -> Text,
        organizer_id -> Text,
        event_seq -> BigInt,
        event_id -> Text,
        event_type -> Text,
        object_id -> Text,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        created_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webhook_attempts (delivery_id, attempt) {
        delivery_id -> Text,
        attempt -> Integer,
        started_at -> Timestamp,
        latency_ms -> Integer,
        status_code -> Nullable<Integer>,
        error -> Nullable<Text>,
        response -> Nullable<Text>,
    }
}

diesel::joinable!(customers -> organizers (organizer_id));
diesel::joinable!(webhook_deliveries -> webhook_endpoints (endpoint_id));
diesel::joinable!(webhook_attempts -> webhook_deliveries (delivery_id));
diesel::joinable!(webhook_secrets -> webhook_endpoints (endpoint_id));
diesel::joinable!(erasure_accounts -> erasures (erasure_id));

diesel::allow_tables_to_appear_in_same_query!(
    audit_events,
    checkout_sessions,
    customers,
    disputes,
    entitlements,
    erasure_accounts,
    erasures,
    event_cursors,
    gateway_events,
    idempotency_keys,
    invoice_payments,
    invoices,
    leases,
    organizers,
    payment_intents,
    prices,
    products,
    refunds,
    stripe_instances,
    stripe_accounts,
    subscriptions,
    sync_cursors,
    sync_runs,
    webhook_attempts,
    webhook_deliveries,
    webhook_endpoints,
    webhook_event_attempts,
    webhook_events,
    webhook_secrets,
);
