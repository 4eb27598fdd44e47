//! Stripe's request encoding: `a=1&meta[k]=v&items[0][price]=p`, into nested JSON objects.

use serde_json::{Map, Value};

/// Parses a form body or query string into pairs, in order.
pub fn pairs(raw: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw).unwrap_or_default()
}

/// Nests bracketed keys into objects; numeric indices become object keys, which is all the
/// fake needs. Later values win.
pub fn nest(pairs: &[(String, String)]) -> Map<String, Value> {
    let mut root = Map::new();
    for (key, value) in pairs {
        let mut segments = key.split('[').map(|s| s.trim_end_matches(']'));
        let Some(first) = segments.next() else {
            continue;
        };
        let rest: Vec<&str> = segments.collect();
        insert(&mut root, first, &rest, value);
    }
    root
}

fn insert(map: &mut Map<String, Value>, key: &str, rest: &[&str], value: &str) {
    match rest.split_first() {
        None => {
            map.insert(key.to_string(), Value::String(value.to_string()));
        }
        Some((next, deeper)) => {
            let child = map
                .entry(key.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !child.is_object() {
                *child = Value::Object(Map::new());
            }
            if let Value::Object(child) = child {
                insert(child, next, deeper, value);
            }
        }
    }
}
