//! The contract's own scalars. `UUID` comes from async-graphql.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::Utc;

/// Exact money: a JSON string with two places (`"59.70"`).
///
/// On input only strings are money. A number is kept aside (never turned into a float) so
/// the resolver can refuse it with BAD_USER_INPUT on the right field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decimal {
    Text(String),
    /// A JSON or GraphQL number was given: refused by the resolver.
    Number,
}

#[Scalar(name = "Decimal")]
/// Exact decimal as a JSON string, always two places on output: "59.70". Input must be a string ("19.9", "19.90").
impl ScalarType for Decimal {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(text) => Ok(Decimal::Text(text)),
            Value::Number(_) => Ok(Decimal::Number),
            other => Err(InputValueError::expected_type(other)),
        }
    }

    fn is_valid(value: &Value) -> bool {
        matches!(value, Value::String(_) | Value::Number(_))
    }

    fn to_value(&self) -> Value {
        match self {
            Decimal::Text(text) => Value::String(text.clone()),
            Decimal::Number => Value::Null,
        }
    }
}

impl Decimal {
    /// The text of a money input, or the error for `field` when it came as a number.
    pub fn into_text(self, field: &str) -> Result<String, rpc::RpcError> {
        match self {
            Decimal::Text(text) => Ok(text),
            Decimal::Number => Err(rpc::RpcError::invalid(
                field,
                format!("{field} must be a string such as \"19.90\", not a number: money is never a float"),
            )),
        }
    }
}

/// A point in time, RFC 3339 in UTC with microseconds: `2026-11-21T10:00:00.123456Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime(pub chrono::DateTime<Utc>);

#[Scalar(name = "DateTime")]
/// RFC 3339, UTC.
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => rpc::time::parse(text)
                .map(DateTime)
                .map_err(|_| InputValueError::custom("expected an RFC 3339 date-time")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(rpc::time::format(&self.0, rpc::time::Fraction::Micros))
    }
}
