//! Column types: status enums stored as text, and JSON stored as text that fails loudly.
//!
//! Both backends store these as `TEXT`; what a row holds is parsed once, when it is loaded, so
//! code above the database never compares strings. A value the enum does not know, or JSON that
//! does not parse, fails the query instead of turning into a default.

use std::collections::BTreeMap;

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::sql_types::Text;

/// Maps an enum to a `Text` column through its `as_str` and `FromStr` (whose error is a
/// `String`): `text_enum!(CustomerStatus)`. The type must derive
/// `diesel::AsExpression` and `diesel::FromSqlRow` with `#[diesel(sql_type = Text)]`.
#[macro_export]
macro_rules! text_enum {
    ($($ty:ty),+ $(,)?) => {$(
        impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for $ty
        where
            DB: diesel::backend::Backend,
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                let text = <String as diesel::deserialize::FromSql<
                    diesel::sql_types::Text,
                    DB,
                >>::from_sql(bytes)?;
                Ok(text.parse::<$ty>()?)
            }
        }

        impl<DB> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for $ty
        where
            DB: diesel::backend::Backend,
            str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
        {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, DB>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, DB>>::to_sql(
                    self.as_str(),
                    out,
                )
            }
        }
    )+};
}

/// A JSON object of strings in a `Text` column (a customer's metadata). Loading a row whose
/// column is not such an object is an error: treating it as `{}` would make a later write send
/// `""` for every key the customer has in Stripe, deleting them.
#[derive(Clone, Debug, Default, PartialEq, Eq, FromSqlRow)]
pub struct JsonMap(pub BTreeMap<String, String>);

impl JsonMap {
    /// The text to store.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).expect("a map of strings always serializes")
    }
}

impl<DB> FromSql<Text, DB> for JsonMap
where
    DB: Backend,
    String: FromSql<Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, DB>>::from_sql(bytes)?;
        serde_json::from_str(&text)
            .map(JsonMap)
            .map_err(|e| format!("stored JSON is not an object of strings: {e}").into())
    }
}

impl std::ops::Deref for JsonMap {
    type Target = BTreeMap<String, String>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// A JSON object in a `Text` column (an audit row's details and targets). Loading a row whose
/// column is not an object is an error, not `null`.
#[derive(Clone, Debug, PartialEq, Eq, FromSqlRow)]
pub struct JsonObject(pub serde_json::Map<String, serde_json::Value>);

impl<DB> FromSql<Text, DB> for JsonObject
where
    DB: Backend,
    String: FromSql<Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, DB>>::from_sql(bytes)?;
        serde_json::from_str(&text)
            .map(JsonObject)
            .map_err(|e| format!("stored JSON is not an object: {e}").into())
    }
}
