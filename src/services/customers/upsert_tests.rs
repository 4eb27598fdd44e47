use std::collections::BTreeMap;

use super::*;
use crate::db::columns::Json;
use crate::db::models::CustomerStatus;
use crate::domain::{CustomerName, Email, Phone};

fn row(name: Option<&str>, metadata: &[(&str, &str)]) -> Customer {
    let at = chrono::DateTime::from_timestamp(1_700_000_000, 0)
        .unwrap()
        .naive_utc();
    Customer {
        id: "0193a7c0-5b1e-7c3a-9f10-2d4e6f8a0b1c".into(),
        organizer_id: "0193a7c0-0000-7c3a-9f10-2d4e6f8a0b1c".into(),
        stripe_account_id: "acct_1Test".into(),
        email: Email::parse("Ana@Example.com").unwrap(),
        email_normalized: "ana@example.com".into(),
        name: name.map(str::to_string),
        phone: Some("+1 555 0100".into()),
        metadata: Json(
            metadata
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        stripe_customer_id: Some("cus_1".into()),
        status: CustomerStatus::Active,
        create_attempt: 0,
        last_failure_at: None,
        version: 1,
        created_at: at,
        updated_at: at,
        ever_active: true,
    }
}

fn input(name: Option<&str>, metadata: &[(&str, &str)]) -> UpsertInput {
    UpsertInput {
        email: Email::parse("ana@example.com").unwrap(),
        name: name.map(|n| CustomerName::parse(n).unwrap()),
        phone: None,
        metadata: (!metadata.is_empty()).then(|| {
            Metadata::parse(
                metadata
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
            .unwrap()
        }),
    }
}

#[test]
fn the_same_details_change_nothing() {
    let change = upsert_change(
        &row(Some("Ana"), &[("crm", "1")]),
        &input(Some("Ana"), &[("crm", "1")]),
    )
    .unwrap();
    assert!(change.is_empty(), "{change:?}");
}

#[test]
fn only_fields_that_differ_are_sent_and_the_email_never_is() {
    let change = upsert_change(&row(Some("Ana"), &[]), &input(Some("Ana Lima"), &[])).unwrap();
    assert_eq!(change.name, Some(Some("Ana Lima".to_string())));
    assert_eq!(
        (change.email, change.phone),
        (None, None),
        "absent fields stay"
    );
    assert!(change.metadata.is_empty());
}

#[test]
fn metadata_sends_changed_keys_and_removals_of_existing_keys_only() {
    let current = row(None, &[("keep", "1"), ("change", "a"), ("drop", "x")]);
    let asked = input(
        None,
        &[("keep", "1"), ("change", "b"), ("drop", ""), ("absent", "")],
    );
    let change = upsert_change(&current, &asked).unwrap();
    let expected: BTreeMap<String, String> = [("change", "b"), ("drop", "")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(change.metadata, expected);
}

#[test]
fn metadata_may_not_grow_past_stripes_limit_but_removals_make_room() {
    let full: Vec<(String, String)> = (0..Metadata::MAX_KEYS)
        .map(|i| (format!("k{i}"), "v".to_string()))
        .collect();
    let pairs: Vec<(&str, &str)> = full.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let current = row(None, &pairs);
    match upsert_change(&current, &input(None, &[("one_more", "v")])) {
        Err(CustomerError::TooManyMetadataKeys { count }) => {
            assert_eq!(count, Metadata::MAX_KEYS + 1)
        }
        other => panic!("expected too many keys, got {other:?}"),
    }
    let swap = upsert_change(&current, &input(None, &[("one_more", "v"), ("k0", "")])).unwrap();
    assert_eq!(swap.metadata.len(), 2);
}

#[test]
fn a_phone_given_is_compared_with_the_stored_one() {
    let mut asked = input(None, &[]);
    asked.phone = Some(Phone::parse("+1 555 0100").unwrap());
    assert!(upsert_change(&row(None, &[]), &asked).unwrap().is_empty());
    asked.phone = Some(Phone::parse("+1 555 0199").unwrap());
    assert_eq!(
        upsert_change(&row(None, &[]), &asked).unwrap().phone,
        Some(Some("+1 555 0199".to_string()))
    );
}

#[test]
fn a_row_reads_as_one_state_and_inconsistent_rows_are_refused() {
    let active = row(None, &[]);
    assert_eq!(
        CustomerState::of(&active, None).unwrap(),
        CustomerState::Active {
            stripe_customer_id: "cus_1".into()
        }
    );
    let mut pending = row(None, &[]);
    pending.status = CustomerStatus::Pending;
    pending.stripe_customer_id = None;
    let until = pending.created_at;
    assert_eq!(
        CustomerState::of(&pending, Some(until)).unwrap(),
        CustomerState::Pending {
            lease_until: Some(until)
        }
    );
    let mut deleted = pending.clone();
    deleted.status = CustomerStatus::StripeDeleted;
    assert_eq!(
        CustomerState::of(&deleted, None).unwrap(),
        CustomerState::StripeDeleted
    );

    let mut active_without_id = active.clone();
    active_without_id.stripe_customer_id = None;
    let mut pending_with_id = active;
    pending_with_id.status = CustomerStatus::Pending;
    for broken in [active_without_id, pending_with_id] {
        assert!(matches!(
            CustomerState::of(&broken, None),
            Err(CustomerError::Corrupt { .. })
        ));
    }
}
