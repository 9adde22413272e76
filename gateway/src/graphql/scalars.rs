//! The contract's own scalars. `UUID` comes from async-graphql on output; on input it is
//! [`UuidInput`]. And [`Nullable`], what the fields that reach a service resolve to.

use std::{borrow::Cow, future::Future};

use async_graphql::{
    ContextSelectionSet, InputValueError, InputValueResult, OutputType, Positioned, Scalar, ScalarType, ServerResult,
    Value, parser::types::Field, registry::Registry,
};
use chrono::Utc;
use uuid::Uuid;

use super::error::bad_input;

/// A `UUID` a client sent, as an argument or an input field.
///
/// async-graphql's own `UUID` scalar refuses a malformed one while it reads the arguments, in
/// an error that cannot say which argument or field was wrong (and a number, as an internal
/// error). This one keeps the mistake, so the resolver refuses it with BAD_USER_INPUT on the
/// right field, as [`Decimal`] does for money given as a number. It is the same GraphQL scalar:
/// same name and description, registered beside async-graphql's by
/// [`super::build_schema_validating`], which lets the two Rust types share the name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UuidInput(Option<Uuid>);

#[Scalar(name = "UUID", specified_by_url = "http://tools.ietf.org/html/rfc4122")]
/// A UUID is a unique 128-bit number, stored as 16 octets. UUIDs are parsed as
/// Strings within GraphQL. UUIDs are used to assign unique identifiers to
/// entities without requiring a central allocating authority.
///
/// # References
///
/// * [Wikipedia: Universally Unique Identifier](http://en.wikipedia.org/wiki/Universally_unique_identifier)
/// * [RFC4122: A Universally Unique Identifier (UUID) URN Namespace](http://tools.ietf.org/html/rfc4122)
impl ScalarType for UuidInput {
    fn parse(value: Value) -> InputValueResult<Self> {
        match value {
            Value::String(text) => Ok(UuidInput(Uuid::parse_str(&text).ok())),
            // Anything else is not a UUID either, refused by the resolver on its field: a
            // number, a boolean, an enum, a list, an object; and null, which reaches here only
            // for a required one (an optional one is None before), when a variable declared
            // nullable was left out.
            _ => Ok(UuidInput(None)),
        }
    }

    fn to_value(&self) -> Value {
        self.0.map_or(Value::Null, |id| Value::String(id.to_string()))
    }
}

impl UuidInput {
    /// The id, or BAD_USER_INPUT on `field` when what the client sent is not a UUID.
    pub fn get(self, field: &str) -> async_graphql::Result<Uuid> {
        self.0.ok_or_else(|| bad_input(field, format!("{field} is not a UUID")))
    }
}

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

/// What a nullable field that may fail resolves to: its value, `null` when there is none, or
/// `null` with its error in `errors` (path, code and all), as the GraphQL specification's
/// "Handling Field Errors" says. Every field that reaches a service returns it.
///
/// Why not `Result<Option<T>>`: async-graphql 7.2 resolves a field whose resolver fails by
/// leaving the field's key out of its object (`resolver_utils::container::do_resolve_container`
/// adds the error and inserts nothing), and an object none of whose selected fields came back
/// is `null`, also where the schema says it cannot be (`[User!]!`). Returning this instead, the
/// error never reaches the container: the field itself is `null`, its key present, and its
/// object keeps every key. A field of ours that is not nullable never fails (only the
/// services' fields do, and the contract makes those nullable).
pub struct Nullable<T>(async_graphql::Result<Option<T>>);

impl<T> Nullable<T> {
    /// Runs a resolver's body: `?` works in it as in any resolver.
    pub async fn of(resolve: impl Future<Output = async_graphql::Result<Option<T>>>) -> Self {
        Self(resolve.await)
    }
}

impl<T: OutputType + Sync> OutputType for Nullable<T> {
    fn type_name() -> Cow<'static, str> {
        T::type_name()
    }

    /// Nullable: what `Option<T>` registers, so the schema is the same.
    fn qualified_type_name() -> String {
        <Option<T> as OutputType>::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <Option<T> as OutputType>::create_type_info(registry)
    }

    async fn resolve(&self, ctx: &ContextSelectionSet<'_>, field: &Positioned<Field>) -> ServerResult<Value> {
        match &self.0 {
            Ok(value) => value.resolve(ctx, field).await,
            Err(error) => {
                // `ctx` is the field's own: the error gets its path, as async-graphql's would.
                ctx.add_error(ctx.set_error_path(error.clone().into_server_error(field.pos)));
                Ok(Value::Null)
            }
        }
    }
}
