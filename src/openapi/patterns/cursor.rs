//! Patterns of base64url text whose decoding has a given shape: the exact set of cursors the
//! API writes, as regexes (a cursor is `base64url(prefix + key)`, so each position's digit is
//! limited by the bytes it encodes).

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::domain::Cursor;

/// A regex class of the base64url digits with these 6-bit values.
fn digits(values: impl IntoIterator<Item = u8>) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut chars: Vec<u8> = values
        .into_iter()
        .map(|v| ALPHABET[usize::from(v)])
        .collect();
    chars.sort_unstable();
    chars.dedup();
    if let [only] = chars[..] {
        return char::from(only).to_string();
    }
    let mut body = String::new();
    let mut i = 0;
    while i < chars.len() {
        let mut j = i;
        while j + 1 < chars.len() && chars[j + 1] == chars[j] + 1 {
            j += 1;
        }
        // `-` sorts first, where a class reads it literally.
        if j - i >= 2 {
            body.push_str(&format!(
                "{}-{}",
                char::from(chars[i]),
                char::from(chars[j])
            ));
        } else {
            body.extend(chars[i..=j].iter().map(|&b| char::from(b)));
        }
        i = j + 1;
    }
    format!("[{body}]")
}

fn alternatives(branches: Vec<String>) -> String {
    match &branches[..] {
        [only] => only.clone(),
        _ => format!("(?:{})", branches.join("|")),
    }
}

fn distinct(values: impl IntoIterator<Item = u8>) -> Vec<u8> {
    let mut values: Vec<u8> = values.into_iter().collect();
    values.sort_unstable();
    values.dedup();
    values
}

/// The first two digits of a group whose first byte is of `first` and whose second byte's high
/// nibble is `high`: per value of the first byte's top six bits, the low two bits it allows.
fn leading(first: &[u8], high: u8) -> String {
    let mut by_lows: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    for top in distinct(first.iter().map(|b| b >> 2)) {
        let lows = distinct(first.iter().filter(|b| *b >> 2 == top).map(|b| b & 3));
        by_lows.entry(lows).or_default().push(top);
    }
    alternatives(
        by_lows
            .into_iter()
            .map(|(lows, tops)| {
                format!(
                    "{}{}",
                    digits(tops),
                    digits(lows.into_iter().map(|low| (low << 4) | high))
                )
            })
            .collect(),
    )
}

/// The base64url digits of 1 to 3 bytes, each drawn from its set; fewer than 3 bytes end
/// with the zero bits the unpadded encoding requires.
fn group(sets: &[&[u8]]) -> String {
    match sets {
        // One byte: two digits, the second holding its low two bits and four zero bits.
        [first] => leading(first, 0),
        [first, second] => alternatives(
            distinct(second.iter().map(|b| b >> 4))
                .into_iter()
                .map(|high| {
                    let lows = second
                        .iter()
                        .filter(|b| *b >> 4 == high)
                        .map(|b| (b & 15) << 2);
                    format!("{}{}", leading(first, high), digits(lows))
                })
                .collect(),
        ),
        [first, second, third] => alternatives(
            distinct(second.iter().map(|b| b >> 4))
                .into_iter()
                .map(|high| {
                    let rest = distinct(third.iter().map(|b| b >> 6))
                        .into_iter()
                        .map(|top| {
                            let thirds = second
                                .iter()
                                .filter(|b| *b >> 4 == high)
                                .map(|b| ((b & 15) << 2) | top);
                            let fourths = third.iter().filter(|b| *b >> 6 == top).map(|b| b & 63);
                            format!("{}{}", digits(thirds), digits(fourths))
                        })
                        .collect();
                    format!("{}{}", leading(first, high), alternatives(rest))
                })
                .collect(),
        ),
        _ => unreachable!("a group is 1 to 3 bytes"),
    }
}

/// The base64url encoding (unpadded) of `prefix` (a multiple of 3 bytes) followed by bytes
/// drawn position by position from `positions`: exactly the strings that decode to such text.
pub fn base64url_of(prefix: &str, positions: &[&[u8]]) -> String {
    assert_eq!(prefix.len() % 3, 0, "the prefix encodes to whole digits");
    let mut pattern = format!("^{}", URL_SAFE_NO_PAD.encode(prefix));
    let groups: Vec<String> = positions.chunks(3).map(group).collect();
    let mut i = 0;
    while i < groups.len() {
        let mut n = 1;
        while i + n < groups.len() && groups[i + n] == groups[i] {
            n += 1;
        }
        if n == 1 {
            pattern.push_str(&groups[i]);
        } else {
            pattern.push_str(&format!("(?:{}){{{n}}}", groups[i]));
        }
        i += n;
    }
    pattern.push('$');
    pattern
}

/// As [`base64url_of`], for `prefix` followed by 1 to `max` bytes (a multiple of 3) of `set`.
pub fn base64url_of_run(prefix: &str, set: &[u8], max: usize) -> String {
    assert_eq!(prefix.len() % 3, 0, "the prefix encodes to whole digits");
    assert_eq!(max % 3, 0, "whole groups, then one of 1 to 3 bytes");
    let full = group(&[set, set, set]);
    format!(
        "^{}(?:{full}){{0,{}}}(?:{full}|{}|{})$",
        URL_SAFE_NO_PAD.encode(prefix),
        max / 3 - 1,
        group(&[set, set]),
        group(&[set]),
    )
}

/// The page cursors `Cursor::encode` writes (and `decode` takes back).
pub struct PageCursor;

impl PageCursor {
    pub fn pattern() -> String {
        const HEX: &[u8] = b"0123456789abcdef";
        let positions: Vec<&[u8]> = (0..36)
            .map(|i| match i {
                8 | 13 | 18 | 23 => &b"-"[..],
                _ => HEX,
            })
            .collect();
        base64url_of(Cursor::VERSION, &positions)
    }
}
