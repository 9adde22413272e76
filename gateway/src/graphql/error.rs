//! The one place where an [`rpc::RpcError`] becomes a GraphQL error: its code goes to
//! `extensions.code`, its field to `extensions.field`. Also the codes of the errors the
//! gateway raises itself ([`code`]), and the last touches every error gets before it leaves
//! ([`finish_errors`]): the request id, and no internals.

use async_graphql::{ErrorExtensions, ServerError, Value};
use rpc::{ErrorCode, RpcError};

/// The codes of errors the gateway raises itself, around execution (README, "HTTP"). The
/// services' codes are [`rpc::ErrorCode`].
pub mod code {
    /// The body or the query string is not a GraphQL request.
    pub const BAD_REQUEST: &str = "BAD_REQUEST";
    pub const GRAPHQL_PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
    pub const GRAPHQL_VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
    /// Deeper than GRAPHQL_MAX_DEPTH, or nested past what the parser is allowed to walk.
    pub const QUERY_TOO_DEEP: &str = "QUERY_TOO_DEEP";
    /// Costlier than GRAPHQL_MAX_COMPLEXITY.
    pub const QUERY_TOO_COMPLEX: &str = "QUERY_TOO_COMPLEX";
    pub const TOO_MANY_ALIASES: &str = "TOO_MANY_ALIASES";
    pub const TOO_MANY_ROOT_FIELDS: &str = "TOO_MANY_ROOT_FIELDS";
    /// A query text over MAX_QUERY_BYTES, refused before it is read.
    pub const QUERY_TOO_LARGE: &str = "QUERY_TOO_LARGE";
    /// A persisted query's hash sent alone, which this gateway does not know (200: the client
    /// sends the text next, as Apollo's persisted-query link does).
    pub const PERSISTED_QUERY_NOT_FOUND: &str = "PERSISTED_QUERY_NOT_FOUND";
    /// `__schema` or `__type` while GRAPHQL_INTROSPECTION is off.
    pub const INTROSPECTION_DISABLED: &str = "INTROSPECTION_DISABLED";
    /// More operations in one batch than MAX_BATCH_SIZE (400).
    pub const BATCH_TOO_LARGE: &str = "BATCH_TOO_LARGE";
    /// A body over MAX_BODY_BYTES (413).
    pub const PAYLOAD_TOO_LARGE: &str = "PAYLOAD_TOO_LARGE";
    /// A POST that is not JSON, without a header that forces a CORS preflight (415).
    pub const UNSUPPORTED_MEDIA_TYPE: &str = "UNSUPPORTED_MEDIA_TYPE";
    /// A mutation over GET (405).
    pub const METHOD_NOT_ALLOWED: &str = "METHOD_NOT_ALLOWED";
    /// An `Accept` that lists neither JSON type (406).
    pub const NOT_ACCEPTABLE: &str = "NOT_ACCEPTABLE";
    /// GraphiQL asked for while it is turned off (404).
    pub const NOT_FOUND: &str = "NOT_FOUND";
    /// The request ran past REQUEST_TIMEOUT_MS (504).
    pub const TIMEOUT: &str = "TIMEOUT";
}

/// The only message an INTERNAL_SERVER_ERROR shows; the detail goes to the log.
pub const INTERNAL_MESSAGE: &str = "internal error";

/// The GraphQL error for an RPC error.
pub fn gql_error(error: RpcError) -> async_graphql::Error {
    async_graphql::Error::new(error.message).extend_with(|_, extensions| {
        extensions.set("code", error.code.as_str());
        if let Some(field) = &error.field {
            extensions.set("field", field.as_str());
        }
        if let Some(seconds) = error.retry_after {
            extensions.set("retryAfter", seconds);
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

/// Codes for errors async-graphql raises before any resolver runs (validation, its depth and
/// complexity limits, argument coercion), which carry none: every error the client sees has a
/// code. (Documents are parsed before async-graphql sees them: `crate::request::parse`.)
pub fn add_request_error_codes(errors: &mut [ServerError]) {
    for error in errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        if extensions.get("code").is_some() {
            continue;
        }
        let code = if let Some(code) = limit_code(&error.message) {
            code
        } else if is_bad_value(&error.message) || is_unreadable_value(&error.message) {
            ErrorCode::BadUserInput.as_str()
        } else if error.path.is_empty() {
            code::GRAPHQL_VALIDATION_FAILED
        } else {
            ErrorCode::InternalServerError.as_str()
        };
        extensions.set("code", code);
        // Only the validation messages name an argument or input field; an unreadable value's
        // names a type, so it gets no field.
        let field = named_input_field(&error.message)
            .or_else(|| quoted_name(&error.message))
            .or_else(|| undefined_variable(&error.message));
        if let Some(field) = field.filter(|_| is_bad_value(&error.message)) {
            extensions.set("field", field);
        }
    }
}

/// The code of a refusal by one of async-graphql's own limits, known by its wording
/// (async-graphql 7: `check_rules` and `check_recursive_depth`; the tests of `hardening`
/// notice a change).
fn limit_code(message: &str) -> Option<&'static str> {
    if message == "Query is nested too deep."
        || message.starts_with("The recursion depth of the query cannot be greater than")
    {
        Some(code::QUERY_TOO_DEEP)
    } else if message == "Query is too complex." {
        Some(code::QUERY_TOO_COMPLEX)
    } else {
        None
    }
}

/// The last touches on every error of a response: `extensions.requestId`, and no internals.
/// An INTERNAL_SERVER_ERROR shows only [`INTERNAL_MESSAGE`]; what it said goes to the log,
/// under the request id (the caller's span carries it too).
pub fn finish_errors(errors: &mut [ServerError], request_id: &str) {
    for error in errors {
        let extensions = error.extensions.get_or_insert_with(Default::default);
        let internal = matches!(extensions.get("code"), Some(Value::String(code)) if code == ErrorCode::InternalServerError.as_str());
        extensions.set("requestId", request_id);
        if internal && error.message != INTERNAL_MESSAGE {
            tracing::error!(request_id, path = ?error.path, detail = %error.message, "internal error");
            error.message = INTERNAL_MESSAGE.to_owned();
        } else if internal {
            tracing::warn!(request_id, path = ?error.path, "a field failed with an internal error");
        }
    }
}

/// async-graphql's wording for a value that does not fit its type (a malformed UUID, a string
/// where an Int goes, a missing required input field) or for a variable the request did not
/// send.
fn is_bad_value(message: &str) -> bool {
    message.starts_with("Invalid value for argument") || message.starts_with("Variable ")
}

/// async-graphql's wording for a value its type could not read, while it coerces the variables
/// or reads a resolver's arguments: `Failed to parse "Int": ...`, or `Expected input type
/// "UUID", found 5.` for a value of the wrong kind. Either is the client's value, never ours.
fn is_unreadable_value(message: &str) -> bool {
    message.starts_with("Failed to parse") || message.starts_with("Expected input type")
}

/// The variable of async-graphql's "Variable id is not defined.": a required variable the
/// request left out.
fn undefined_variable(message: &str) -> Option<String> {
    let name = message.strip_prefix("Variable ")?.strip_suffix(" is not defined.")?.trim_start_matches('$');
    (!name.is_empty()).then(|| name.to_owned())
}

/// The input field a coercion error is about when the path stops at its object: `field "cpf"
/// of type "String!" is required but not provided`, `unknown field "cpff" of type ...`.
fn named_input_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("Invalid value for argument ")?;
    let after = rest.split_once("field \"")?.1;
    let name = after.split_once('"')?.0;
    (!name.is_empty()).then(|| name.to_owned())
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
    use async_graphql::{Pos, ServerError, Value};

    use super::*;

    fn code_of(error: &ServerError) -> Option<&Value> {
        error.extensions.as_ref().and_then(|extensions| extensions.get("code"))
    }

    #[test]
    fn async_graphqls_own_limits_get_codes_of_their_own() {
        let mut errors = vec![
            ServerError::new("Query is nested too deep.", None),
            ServerError::new("Query is too complex.", None),
            ServerError::new("The recursion depth of the query cannot be greater than `32`", Some(Pos::default())),
            ServerError::new("Unknown field \"nope\" on type \"Query\".", None),
        ];
        add_request_error_codes(&mut errors);
        let codes: Vec<_> = errors.iter().map(|error| code_of(error).cloned()).collect();
        let expected =
            [code::QUERY_TOO_DEEP, code::QUERY_TOO_COMPLEX, code::QUERY_TOO_DEEP, code::GRAPHQL_VALIDATION_FAILED];
        assert_eq!(codes, expected.map(|code| Some(Value::from(code))));
    }

    #[test]
    fn internal_errors_say_nothing_but_every_error_carries_the_request_id() {
        let mut leaky = ServerError::new("Data `gateway::graphql::Gateway` does not exist.", None);
        leaky.path = vec![async_graphql::PathSegment::Field("users".to_owned())];
        let mut errors = vec![leaky, ServerError::new("Unknown field", None)];
        add_request_error_codes(&mut errors);
        finish_errors(&mut errors, "req-1");
        assert_eq!(errors[0].message, INTERNAL_MESSAGE);
        assert_eq!(code_of(&errors[0]), Some(&Value::from("INTERNAL_SERVER_ERROR")));
        assert_eq!(errors[1].message, "Unknown field");
        for error in &errors {
            assert_eq!(error.extensions.as_ref().and_then(|e| e.get("requestId")), Some(&Value::from("req-1")));
        }
    }

    #[test]
    fn the_field_of_a_coercion_error_is_the_innermost_name() {
        assert_eq!(
            quoted_name(r#"Invalid value for argument "input.cpf", expected type "String""#).as_deref(),
            Some("cpf")
        );
        assert_eq!(quoted_name(r#"Variable "$id" got invalid value"#).as_deref(), Some("id"));
        assert_eq!(quoted_name("no quotes"), None);
        let missing =
            r#"Invalid value for argument "input", field "nickName" of type "String!" is required but not provided"#;
        assert_eq!(named_input_field(missing).as_deref(), Some("nickName"));
        let unknown = r#"Invalid value for argument "input", unknown field "cpff" of type "CreateUserInput""#;
        assert_eq!(named_input_field(unknown).as_deref(), Some("cpff"));
        assert_eq!(named_input_field(r#"Invalid value for argument "input.cpf", expected type "String""#), None);
        assert_eq!(undefined_variable("Variable id is not defined.").as_deref(), Some("id"));
        assert_eq!(undefined_variable("Variable  is not defined."), None);
    }
}
