//! The envelope of a Stripe event: the few fields that say what to re-fetch, read from any API
//! version's payload. The object snapshot itself is never trusted; a "thin" event, which names
//! its object without a snapshot, reduces to the same [`Envelope`].

use chrono::{DateTime, NaiveDateTime};
use serde::Deserialize;

use crate::domain::{StripeAccountId, StripeId};

/// What an event says about itself. Its ids are parsed into the domain's Stripe id types, so
/// what is stored can always be looked up and replayed by the same rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub id: StripeId,
    /// `customer.updated`, `v1.product.updated`: checked as an id is ([`StripeId`]).
    pub event_type: String,
    /// The connected account the event is about; `None` for the platform's own account.
    pub account: Option<StripeAccountId>,
    pub created: NaiveDateTime,
    pub livemode: bool,
    pub api_version: Option<String>,
    pub object_type: String,
    /// Absent for the few objects that have no id (e.g. `balance`).
    pub object_id: Option<StripeId>,
}

#[derive(Deserialize)]
struct Raw {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    account: Option<String>,
    created: Created,
    livemode: bool,
    api_version: Option<String>,
    data: Option<RawData>,
    /// Thin events: the object is named, not included.
    related_object: Option<RawObject>,
    /// Thin events: the account.
    context: Option<String>,
}

/// Snapshot events give unix seconds; thin events an RFC 3339 time.
#[derive(Deserialize)]
#[serde(untagged)]
enum Created {
    Unix(i64),
    Text(String),
}

#[derive(Deserialize)]
struct RawData {
    object: RawObject,
}

#[derive(Deserialize)]
struct RawObject {
    id: Option<String>,
    /// An entitlement summary has no id of its own: it names its customer.
    customer: Option<serde_json::Value>,
    /// The object's type in a snapshot (where `type` is one of the object's own fields, e.g. a
    /// product's `service`).
    object: Option<String>,
    /// The object's type in a thin event's `related_object`.
    #[serde(rename = "type")]
    kind: Option<String>,
}

impl Envelope {
    /// Reads the envelope of a delivery; the message says what is missing or wrong.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let raw: Raw =
            serde_json::from_slice(body).map_err(|e| format!("not a Stripe event: {e}"))?;
        let (object, object_type) = match (raw.data, raw.related_object) {
            (Some(data), _) => {
                let object_type = data.object.object.clone();
                (data.object, object_type)
            }
            (None, Some(related)) => {
                let object_type = related.kind.clone();
                (related, object_type)
            }
            (None, None) => return Err("the event names no object (no `data.object`)".into()),
        };
        let object_type = object_type.ok_or("the event's object has no type")?;
        let created = match raw.created {
            Created::Unix(seconds) => DateTime::from_timestamp(seconds, 0),
            Created::Text(text) => DateTime::parse_from_rfc3339(&text)
                .ok()
                .map(|time| time.to_utc()),
        }
        .ok_or("`created` is not a valid time")?
        .naive_utc();
        let object_id = object
            .id
            .or_else(|| {
                (object_type == "entitlements.active_entitlement_summary")
                    .then(|| object.customer?.as_str().map(str::to_string))
                    .flatten()
            })
            .filter(|id| !id.is_empty());
        Ok(Self {
            id: StripeId::new(raw.id).map_err(|e| format!("`id` {e}"))?,
            event_type: token("type", raw.event_type)?,
            account: raw
                .account
                .or(raw.context)
                .filter(|a| !a.is_empty())
                .map(|account| StripeAccountId::parse(&account))
                .transpose()
                .map_err(|e| format!("`account` {e}"))?,
            created,
            livemode: raw.livemode,
            api_version: raw.api_version,
            object_id: object_id
                .map(StripeId::new)
                .transpose()
                .map_err(|e| format!("`data.object.id` {e}"))?,
            object_type: token("data.object.object", object_type)?,
        })
    }
}

/// A type name of Stripe's, checked as its ids are ([`StripeId`]).
fn token(field: &str, text: String) -> Result<String, String> {
    match StripeId::check(&text) {
        Ok(()) => Ok(text),
        Err(rule) => Err(format!("`{field}` {rule}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connect_event_of_an_old_api_version_reduces_to_its_envelope() {
        let body = br#"{
            "id": "evt_1", "object": "event", "api_version": "2017-08-15",
            "account": "acct_1Connected", "created": 1700000000, "livemode": false,
            "type": "customer.updated", "pending_webhooks": 1, "request": null,
            "data": {"object": {"id": "cus_1", "object": "customer", "type": "individual", "sources": {"data": []},
                                "account_balance": 0}, "previous_attributes": {"email": null}}
        }"#;
        let envelope = Envelope::parse(body).unwrap();
        assert_eq!(
            envelope,
            Envelope {
                id: StripeId::parse("evt_1").unwrap(),
                event_type: "customer.updated".into(),
                account: Some(StripeAccountId::parse("acct_1Connected").unwrap()),
                created: DateTime::from_timestamp(1_700_000_000, 0)
                    .unwrap()
                    .naive_utc(),
                livemode: false,
                api_version: Some("2017-08-15".into()),
                object_type: "customer".into(),
                object_id: Some(StripeId::parse("cus_1").unwrap()),
            }
        );
    }

    #[test]
    fn a_thin_event_names_its_object_and_account() {
        let body = br#"{"id": "evt_2", "object": "v2.core.event", "type": "v1.product.updated",
            "created": "2026-11-30T10:00:00.000Z", "livemode": true, "context": "acct_9",
            "related_object": {"id": "prod_1", "type": "product", "url": "/v1/products/prod_1"}}"#;
        let envelope = Envelope::parse(body).unwrap();
        assert_eq!(envelope.account.unwrap().as_str(), "acct_9");
        assert_eq!(envelope.object_type, "product");
        assert_eq!(envelope.object_id.unwrap().as_str(), "prod_1");
        assert!(envelope.livemode);
    }

    #[test]
    fn an_entitlement_summary_is_about_its_customer() {
        let body = br#"{"id":"evt_5","type":"entitlements.active_entitlement_summary.updated",
            "created":1,"livemode":false,"account":"acct_1",
            "data":{"object":{"object":"entitlements.active_entitlement_summary","customer":"cus_9",
                              "entitlements":{"data":[]}}}}"#;
        let envelope = Envelope::parse(body).unwrap();
        assert_eq!(envelope.object_id.unwrap().as_str(), "cus_9");
    }

    #[test]
    fn an_event_without_account_is_the_platforms() {
        let body = br#"{"id":"evt_3","type":"balance.available","created":1,"livemode":false,
            "data":{"object":{"object":"balance"}}}"#;
        let envelope = Envelope::parse(body).unwrap();
        assert_eq!(envelope.account, None);
        assert_eq!(envelope.object_id, None);
    }

    #[test]
    fn what_is_not_an_event_is_refused_with_a_reason() {
        for body in [
            &br#"not json"#[..],
            br#"{"type":"customer.updated","created":1,"livemode":false,"data":{"object":{"id":"c","object":"customer"}}}"#,
            br#"{"id":"evt_4","type":"customer.updated","created":1,"livemode":false}"#,
            br#"{"id":"","type":"x","created":1,"livemode":false,"data":{"object":{"object":"x"}}}"#,
        ] {
            assert!(Envelope::parse(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
    }

    /// An id, account, type or object id that no Stripe object could have (a NUL, which
    /// PostgreSQL refuses in text; spaces, unicode, over 255 characters) names the field.
    #[test]
    fn ids_that_no_stripe_object_has_are_refused_naming_the_field() {
        let long = "x".repeat(256);
        for (field, id, account, event_type, object_id) in [
            ("`id`", "evt_\\u0000", "acct_1", "customer.updated", "cus_1"),
            ("`id`", "evt 1", "acct_1", "customer.updated", "cus_1"),
            ("`id`", "\\u00e9vt_1", "acct_1", "customer.updated", "cus_1"),
            ("`id`", &long, "acct_1", "customer.updated", "cus_1"),
            (
                "`account`",
                "evt_1",
                "acct_1\\u0000",
                "customer.updated",
                "cus_1",
            ),
            ("`account`", "evt_1", "cus_1", "customer.updated", "cus_1"),
            ("`type`", "evt_1", "acct_1", "customer.\\u0000", "cus_1"),
            (
                "`data.object.id`",
                "evt_1",
                "acct_1",
                "customer.updated",
                "cus_\\u0000",
            ),
            (
                "`data.object.id`",
                "evt_1",
                "acct_1",
                "customer.updated",
                "cus\\n1",
            ),
        ] {
            let body = format!(
                r#"{{"id":"{id}","type":"{event_type}","created":1,"livemode":false,"account":"{account}",
                    "data":{{"object":{{"id":"{object_id}","object":"customer"}}}}}}"#
            );
            let err = Envelope::parse(body.as_bytes()).unwrap_err();
            assert!(err.starts_with(field), "{body}: {err}");
        }
    }
}
