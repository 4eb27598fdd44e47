//! Column types: vocabularies stored as text, and JSON stored as text that fails loudly.
//!
//! Both backends store these as `TEXT`; what a row holds is parsed once, when it is loaded, so
//! code above the database never compares strings. A value the enum does not know, or JSON that
//! does not parse, fails the query instead of turning into a default.

use std::collections::BTreeMap;

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::sql_types::Text;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::domain::{
    ChargeType, DeliveryState, ErasureOutcome, ErasureStatus, EventStatus, OrganizerStatus,
    Outcome, RunStatus, RunTrigger,
};

/// Stores vocabularies (`domain::text_enum!`) in `Text` columns:
///
/// ```ignore
/// text_column!(CustomerStatus, OrganizerStatus);
/// ```
///
/// Each gets diesel's `FromSql`/`ToSql` over `Text` for every backend, so loading a row with a
/// value the enum does not know fails the query.
#[macro_export]
macro_rules! text_column {
    ($($name:ty),+ $(,)?) => {$(
        const _: () = {
            /// diesel's way to derive its traits for a type defined elsewhere.
            #[derive(diesel::expression::AsExpression, diesel::deserialize::FromSqlRow)]
            #[diesel(foreign_derive, sql_type = diesel::sql_types::Text)]
            #[allow(dead_code)]
            struct Column($name);

            impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for $name
            where
                DB: diesel::backend::Backend,
                String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
            {
                fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                    let text = <String as diesel::deserialize::FromSql<
                        diesel::sql_types::Text,
                        DB,
                    >>::from_sql(bytes)?;
                    Ok(text.parse::<$name>()?)
                }
            }

            impl<DB> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for $name
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
        };
    )+};
}

crate::text_column!(
    ChargeType,
    DeliveryState,
    ErasureOutcome,
    ErasureStatus,
    EventStatus,
    OrganizerStatus,
    Outcome,
    RunStatus,
    RunTrigger,
);

/// JSON in a `Text` column, read into `T`. Loading a row whose column does not parse as `T`
/// fails the query: reading corrupt metadata as `{}` would make a later write send `""` for
/// every key the customer has in Stripe, deleting them.
#[derive(Clone, Debug, Default, PartialEq, Eq, FromSqlRow)]
pub struct Json<T>(pub T);

/// A customer's metadata: an object of strings.
pub type JsonMap = Json<BTreeMap<String, String>>;

/// An audit row's details or targets: any JSON object.
pub type JsonObject = Json<serde_json::Map<String, serde_json::Value>>;

impl<T: Serialize> Json<T> {
    /// The text to store.
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).expect("maps with string keys always serialize")
    }
}

impl<T, DB> FromSql<Text, DB> for Json<T>
where
    T: DeserializeOwned,
    DB: Backend,
    String: FromSql<Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, DB>>::from_sql(bytes)?;
        serde_json::from_str(&text)
            .map(Json)
            .map_err(|e| format!("stored JSON does not parse: {e}").into())
    }
}

impl<T> std::ops::Deref for Json<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// JSON in a `Text` column that rows are written with as well as read: the value and its text,
/// serialized once when the value is made. Loading a row whose column does not parse as `T`
/// fails the query. Two are equal when their values are.
#[derive(Clone, Debug, FromSqlRow, diesel::expression::AsExpression)]
#[diesel(sql_type = Text)]
pub struct JsonColumn<T> {
    value: T,
    text: String,
}

impl<T: Serialize> JsonColumn<T> {
    pub fn new(value: T) -> Self {
        let text = serde_json::to_string(&value).expect("maps and lists of strings serialize");
        Self { value, text }
    }
}

impl<T> JsonColumn<T> {
    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T: PartialEq> PartialEq for JsonColumn<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T> std::ops::Deref for JsonColumn<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T, DB> FromSql<Text, DB> for JsonColumn<T>
where
    T: DeserializeOwned,
    DB: Backend,
    String: FromSql<Text, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        let text = <String as FromSql<Text, DB>>::from_sql(bytes)?;
        let value = serde_json::from_str(&text)
            .map_err(|e| format!("stored JSON values do not read as the column's type: {e}"))?;
        Ok(Self { value, text })
    }
}

impl<T, DB> diesel::serialize::ToSql<Text, DB> for JsonColumn<T>
where
    T: std::fmt::Debug,
    DB: Backend,
    str: diesel::serialize::ToSql<Text, DB>,
{
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, DB>,
    ) -> diesel::serialize::Result {
        <str as diesel::serialize::ToSql<Text, DB>>::to_sql(&self.text, out)
    }
}
