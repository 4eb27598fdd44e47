//! The envelope of a Stripe event: the few fields that say what to re-fetch, read from any API
//! version's payload. The object snapshot itself is never trusted; a "thin" event, which names
//! its object without a snapshot, reduces to the same [`Envelope`].

use chrono::{DateTime, NaiveDateTime};
use serde::Deserialize;

/// What an event says about itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    pub id: String,
    pub event_type: String,
    /// The connected account the event is about; `None` for the platform's own account.
    pub account: Option<String>,
    pub created: NaiveDateTime,
    pub livemode: bool,
    pub api_version: Option<String>,
    pub object_type: String,
    /// Absent for the few objects that have no id (e.g. `balance`).
    pub object_id: Option<String>,
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

/// Longest id or type accepted: Stripe's are far shorter, and the inbox indexes them.
const MAX_FIELD: usize = 255;

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
        let envelope = Self {
            id: raw.id,
            event_type: raw.event_type,
            account: raw.account.or(raw.context).filter(|a| !a.is_empty()),
            created,
            livemode: raw.livemode,
            api_version: raw.api_version,
            object_id: object
                .id
                .or_else(|| {
                    (object_type == "entitlements.active_entitlement_summary")
                        .then(|| object.customer?.as_str().map(str::to_string))
                        .flatten()
                })
                .filter(|id| !id.is_empty()),
            object_type,
        };
        envelope.check()?;
        Ok(envelope)
    }

    fn check(&self) -> Result<(), String> {
        let fields = [
            ("id", Some(&self.id)),
            ("type", Some(&self.event_type)),
            ("account", self.account.as_ref()),
            ("data.object.object", Some(&self.object_type)),
            ("data.object.id", self.object_id.as_ref()),
        ];
        for (name, value) in fields {
            if let Some(value) = value {
                if value.is_empty() || value.len() > MAX_FIELD {
                    return Err(format!("`{name}` must be 1 to {MAX_FIELD} characters"));
                }
            }
        }
        Ok(())
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
                id: "evt_1".into(),
                event_type: "customer.updated".into(),
                account: Some("acct_1Connected".into()),
                created: DateTime::from_timestamp(1_700_000_000, 0)
                    .unwrap()
                    .naive_utc(),
                livemode: false,
                api_version: Some("2017-08-15".into()),
                object_type: "customer".into(),
                object_id: Some("cus_1".into()),
            }
        );
    }

    #[test]
    fn a_thin_event_names_its_object_and_account() {
        let body = br#"{"id": "evt_2", "object": "v2.core.event", "type": "v1.product.updated",
            "created": "2026-11-30T10:00:00.000Z", "livemode": true, "context": "acct_9",
            "related_object": {"id": "prod_1", "type": "product", "url": "/v1/products/prod_1"}}"#;
        let envelope = Envelope::parse(body).unwrap();
        assert_eq!(envelope.account.as_deref(), Some("acct_9"));
        assert_eq!(envelope.object_type, "product");
        assert_eq!(envelope.object_id.as_deref(), Some("prod_1"));
        assert!(envelope.livemode);
    }

    #[test]
    fn an_entitlement_summary_is_about_its_customer() {
        let body = br#"{"id":"evt_5","type":"entitlements.active_entitlement_summary.updated",
            "created":1,"livemode":false,"account":"acct_1",
            "data":{"object":{"object":"entitlements.active_entitlement_summary","customer":"cus_9",
                              "entitlements":{"data":[]}}}}"#;
        let envelope = Envelope::parse(body).unwrap();
        assert_eq!(envelope.object_id.as_deref(), Some("cus_9"));
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
}
