use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// How many items a list returns: 1 to 100, 20 when not given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageLimit(u8);

impl PageLimit {
    pub const DEFAULT: u8 = 20;
    pub const MAX: u8 = 100;

    pub fn parse(raw: Option<i64>) -> Result<Self, String> {
        match raw {
            None => Ok(Self(Self::DEFAULT)),
            Some(n) if (1..=i64::from(Self::MAX)).contains(&n) => Ok(Self(n as u8)),
            Some(_) => Err(format!("must be between 1 and {}", Self::MAX)),
        }
    }

    pub fn get(self) -> usize {
        usize::from(self.0)
    }

    /// Rows to ask the database for: one more than the page, to learn whether another follows.
    pub fn fetch_size(self) -> usize {
        self.get() + 1
    }

    /// Cuts rows fetched with [`fetch_size`](Self::fetch_size) to the page, and gives the cursor
    /// of the next page when there is one.
    pub fn split<T>(self, rows: Vec<T>, key: impl Fn(&T) -> &str) -> (Vec<T>, Option<Cursor>) {
        self.split_as(rows, key, Cursor::after)
    }

    /// [`split`](Self::split), with the next page's cursor made by `cursor` from the key.
    pub fn split_as<T, C>(
        self,
        mut rows: Vec<T>,
        key: impl Fn(&T) -> &str,
        cursor: impl Fn(&str) -> C,
    ) -> (Vec<T>, Option<C>) {
        if rows.len() <= self.get() {
            return (rows, None);
        }
        rows.truncate(self.get());
        let next = rows.last().map(|last| cursor(key(last)));
        (rows, next)
    }
}

/// An opaque position in a list: the id (a UUID) of the last item already returned.
/// Clients must not build one; they pass back what `next_cursor` gave them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor(String);

impl Cursor {
    pub(crate) const VERSION: &'static str = "v1:";

    pub fn after(key: &str) -> Self {
        Self(key.to_string())
    }

    pub fn decode(raw: &str) -> Result<Self, String> {
        let invalid = || "is not a cursor this API returned".to_string();
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let key = text.strip_prefix(Self::VERSION).ok_or_else(invalid)?;
        // Every list is ordered by its id as text, in the hyphenated lowercase form ids are stored
        // in; anything else (a NUL byte, an uppercase or braced UUID) never reaches SQL.
        let canonical = uuid::Uuid::try_parse(key)
            .map_err(|_| invalid())?
            .hyphenated()
            .to_string();
        if canonical != key {
            return Err(invalid());
        }
        Ok(Self(canonical))
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}{}", Self::VERSION, self.0))
    }

    pub fn key(&self) -> &str {
        &self.0
    }
}

/// An opaque position in a list of mirrored Stripe objects (a customer's invoices): the Stripe
/// id of the last object already returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectCursor(String);

impl ObjectCursor {
    pub const VERSION: &'static str = "o1:";

    pub fn after(id: &str) -> Self {
        Self(id.to_string())
    }

    pub fn decode(raw: &str) -> Result<Self, String> {
        let invalid = || "is not a cursor this API returned".to_string();
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let id = text.strip_prefix(Self::VERSION).ok_or_else(invalid)?;
        super::StripeId::check(id).map_err(|_| invalid())?;
        Ok(Self(id.to_string()))
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}{}", Self::VERSION, self.0))
    }

    pub fn key(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_cursors_round_trip_and_hold_only_stripe_ids() {
        let cursor = ObjectCursor::after("in_1PqRst");
        assert_eq!(ObjectCursor::decode(&cursor.encode()).unwrap(), cursor);
        assert!(ObjectCursor::decode(&Cursor::after("in_1").encode()).is_err());
        for forged in ["o1:", "o1:in/1", "o1:in\u{0}1", "v1:in_1"] {
            assert!(
                ObjectCursor::decode(&URL_SAFE_NO_PAD.encode(forged)).is_err(),
                "{forged}"
            );
        }
    }

    #[test]
    fn cursors_round_trip_and_reject_forgeries() {
        let cursor = Cursor::after("0193a7c0-0000-7000-8000-000000000000");
        assert_eq!(Cursor::decode(&cursor.encode()).unwrap(), cursor);
        assert!(Cursor::decode("not base64!").is_err());
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode("v2:abc")).is_err());
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode("v1:")).is_err());
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode("v1:\0")).is_err());
        assert!(Cursor::decode(&URL_SAFE_NO_PAD.encode("v1:not-a-uuid")).is_err());
        for other_form in [
            "v1:0193A7C0-0000-7000-8000-000000000000",
            "v1:{0193a7c0-0000-7000-8000-000000000000}",
            "v1:urn:uuid:0193a7c0-0000-7000-8000-000000000000",
            "v1:0193a7c000007000800000000000000",
        ] {
            assert!(
                Cursor::decode(&URL_SAFE_NO_PAD.encode(other_form)).is_err(),
                "{other_form}"
            );
        }
    }

    #[test]
    fn split_gives_a_cursor_only_when_more_rows_follow() {
        let limit = PageLimit::parse(Some(2)).unwrap();
        let (page, next) = limit.split(vec!["a", "b", "c"], |row| row);
        assert_eq!((page, next), (vec!["a", "b"], Some(Cursor::after("b"))));
        let (page, next) = limit.split(vec!["a", "b"], |row| row);
        assert_eq!((page, next), (vec!["a", "b"], None));
    }

    #[test]
    fn limits_are_bounded() {
        assert_eq!(PageLimit::parse(None).unwrap().get(), 20);
        assert_eq!(PageLimit::parse(Some(100)).unwrap().get(), 100);
        assert!(PageLimit::parse(Some(0)).is_err());
        assert!(PageLimit::parse(Some(101)).is_err());
    }
}
