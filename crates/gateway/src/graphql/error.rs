//! The one place where an [`rpc::RpcError`] becomes a GraphQL error: its code goes to
//! `extensions.code`, its field to `extensions.field`.

use async_graphql::{ErrorExtensions, ServerError};
use rpc::{ErrorCode, RpcError};

/// The GraphQL error for an RPC error.
pub fn gql_error(error: RpcError) -> async_graphql::Error {
    async_graphql::Error::new(error.message).extend_with(|_, extensions| {
        extensions.set("code", error.code.as_str());
        if let Some(field) = &error.field {
            extensions.set("field", field.as_str());
        }
    })
}

/// Attaches the GraphQL error to results of RPCs.
pub trait RpcResultExt<T> {
    fn gql(self) -> async_graphql::Result<T>;
}

impl<T> RpcResultExt<T> for Result<T, RpcError> {
    fn gql(self) -> async_graphql::Result<T> {
        self.map_err(gql_error)
    }
}

/// A value of argument `field` breaks a rule.
pub fn bad_input(field: &str, message: impl Into<String>) -> async_graphql::Error {
    gql_error(RpcError::invalid(field, message))
}

/// Codes for errors async-graphql raises before any resolver runs (parse, validation,
/// argument coercion), which carry none: every error the client sees has a code.
pub fn add_request_error_codes(errors: &mut [ServerError], parse_failed: bool) {
    for error in errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_some() {
            continue;
        }
        let code = if parse_failed {
            "GRAPHQL_PARSE_FAILED"
        } else if is_bad_value(&error.message) || error.message.starts_with("Failed to parse") {
            ErrorCode::BadUserInput.as_str()
        } else if error.path.is_empty() {
            "GRAPHQL_VALIDATION_FAILED"
        } else {
            ErrorCode::InternalServerError.as_str()
        };
        extensions.set("code", code);
        // "Failed to parse \"UUID\"" names a type, not a field: no field then.
        if let Some(field) = quoted_name(&error.message).filter(|_| is_bad_value(&error.message)) {
            extensions.set("field", field);
        }
    }
}

/// async-graphql's wording for a value that does not fit its type (a malformed UUID, a string
/// where an Int goes, a missing required input field).
fn is_bad_value(message: &str) -> bool {
    message.starts_with("Invalid value for argument") || message.starts_with("Variable \"")
}

/// The innermost name in the first quoted path of a message: `"input.cpf"` → `cpf`, `"$id"` → `id`.
fn quoted_name(message: &str) -> Option<String> {
    let start = message.find('"')? + 1;
    let end = start + message[start..].find('"')?;
    let path = &message[start..end];
    let name = path.rsplit('.').next()?.trim_start_matches('$');
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::quoted_name;

    #[test]
    fn the_field_of_a_coercion_error_is_the_innermost_name() {
        assert_eq!(
            quoted_name(r#"Invalid value for argument "input.cpf", expected type "String""#).as_deref(),
            Some("cpf")
        );
        assert_eq!(quoted_name(r#"Variable "$id" got invalid value"#).as_deref(), Some("id"));
        assert_eq!(quoted_name("no quotes"), None);
    }
}
