//! [`RequestError`]: why a request, or one operation of it, did not run. Each error knows its
//! `extensions.code` ([`RequestError::code`]) and its HTTP status ([`RequestError::status`]);
//! `respond` renders it.

use async_graphql::{ServerError, parser};
use axum::{
    extract::rejection::{BytesRejection, QueryRejection},
    http::StatusCode,
};
use rpc::ErrorCode;

use crate::graphql::error::{INTERNAL_MESSAGE, code};

/// Two kinds: errors of the HTTP request as a whole, answered alone with their status
/// (README, "HTTP"); and refusals of one operation's document (parse and limits), answered in
/// the GraphQL response among the batch's others.
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    // Of the request as a whole.
    #[error("accept application/json or application/graphql-response+json")]
    NotAcceptable,
    #[error(
        "a GraphQL POST is application/json, or carries a header that forces a CORS preflight \
         (apollo-require-preflight, x-apollo-operation-name or graphql-preflight)"
    )]
    UnsupportedMediaType,
    #[error("the body is larger than {max_bytes} bytes")]
    PayloadTooLarge { max_bytes: usize },
    /// The body broke off, or failed otherwise while it was read.
    #[error("the body could not be read")]
    UnreadableBody(#[source] BytesRejection),
    // The message may quote the request, which is why it is never logged.
    #[error("the body is not a GraphQL request: {0}")]
    NotGraphql(#[source] serde_json::Error),
    #[error("a GraphQL request needs a `query`")]
    NoQuery,
    #[error("a GET request needs a `query` parameter")]
    NoQueryParameter,
    #[error("`variables` is not a JSON object")]
    VariablesNotAnObject,
    #[error("`extensions` is not a JSON object")]
    ExtensionsNotAnObject,
    #[error("an Idempotency-Key is 1 to 255 visible ASCII characters")]
    BadIdempotencyKey,
    #[error("a batch holds at most {max} operations; this one holds {held}")]
    BatchTooLarge { max: usize, held: usize },
    #[error("GraphiQL is turned off on this server")]
    GraphiqlOff,
    #[error("mutations must be sent with POST")]
    MutationOverGet,
    #[error("a subscription runs over WebSocket at /graphql, with the graphql-transport-ws protocol")]
    SubscriptionOverHttp,
    // axum's message says what the upgrade lacks.
    #[error("not a WebSocket upgrade this endpoint takes: {0}")]
    BadUpgrade(String),
    #[error("the request took longer than {ms} ms")]
    Timeout { ms: u64 },
    /// What happened goes to the log, never to the client.
    #[error("{}", INTERNAL_MESSAGE)]
    Internal,

    // Of one operation's document, before it runs.
    #[error("the query text is larger than {max_bytes} bytes")]
    QueryTooLarge { max_bytes: usize },
    /// A persisted query's hash alone, unknown here: the client is to send the text with it.
    /// Apollo Server's message, which Apollo Client's link looks for beside the code.
    #[error("PersistedQueryNotFound")]
    PersistedQueryNotFound,
    #[error("provided sha256Hash does not match query")]
    PersistedQueryMismatch,
    #[error("`extensions.persistedQuery` must be {{\"version\": 1, \"sha256Hash\": <64 lowercase hex digits>}}")]
    PersistedQueryMalformed,
    #[error("{0}")]
    Parse(parser::Error),
    #[error("the query is nested too deeply")]
    TooDeep,
    #[error("the query selects more than {max} fields")]
    TooComplex { max: usize },
    #[error("an operation may hold at most {max} aliases; this one holds {held}")]
    TooManyAliases { max: usize, held: usize },
    #[error("an operation may select at most {max} root fields; this one selects {held}")]
    TooManyRootFields { max: usize, held: usize },
    #[error("introspection is turned off on this server")]
    IntrospectionDisabled,
    #[error("cannot spread fragment \"{0}\" within itself")]
    FragmentCycle(String),
    #[error("a WebSocket runs at most {max} operations at once: complete one first")]
    TooManyOperations { max: u32 },

    // Of the HTTP request, before any stage (`http`): every route answers the GraphQL shape.
    #[error("there is nothing at {path}: the GraphQL endpoint is /graphql")]
    NoSuchPath { path: String },
    #[error("{method} is not allowed here")]
    MethodNotAllowed { method: String },
    #[error("OPTIONS answers CORS preflights only, from the origins in CORS_ALLOWED_ORIGINS")]
    NotAPreflight,
    // axum's message says what is wrong; the query string is the client's own.
    #[error("{}", .0.body_text())]
    UnreadableQueryString(#[source] QueryRejection),
}

impl RequestError {
    /// Its `extensions.code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotAcceptable => code::NOT_ACCEPTABLE,
            Self::UnsupportedMediaType => code::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => code::PAYLOAD_TOO_LARGE,
            Self::UnreadableBody(_)
            | Self::NotGraphql(_)
            | Self::NoQuery
            | Self::NoQueryParameter
            | Self::VariablesNotAnObject
            | Self::ExtensionsNotAnObject
            | Self::BadIdempotencyKey
            | Self::PersistedQueryMismatch
            | Self::PersistedQueryMalformed
            | Self::SubscriptionOverHttp
            | Self::BadUpgrade(_) => code::BAD_REQUEST,
            Self::TooManyOperations { .. } => rpc::ErrorCode::TooManyRequests.as_str(),
            Self::BatchTooLarge { .. } => code::BATCH_TOO_LARGE,
            Self::GraphiqlOff => code::NOT_FOUND,
            Self::MutationOverGet => code::METHOD_NOT_ALLOWED,
            Self::Timeout { .. } => code::TIMEOUT,
            Self::Internal => ErrorCode::InternalServerError.as_str(),
            Self::QueryTooLarge { .. } => code::QUERY_TOO_LARGE,
            Self::PersistedQueryNotFound => code::PERSISTED_QUERY_NOT_FOUND,
            Self::Parse(_) => code::GRAPHQL_PARSE_FAILED,
            Self::TooDeep => code::QUERY_TOO_DEEP,
            Self::TooComplex { .. } => code::QUERY_TOO_COMPLEX,
            Self::TooManyAliases { .. } => code::TOO_MANY_ALIASES,
            Self::TooManyRootFields { .. } => code::TOO_MANY_ROOT_FIELDS,
            Self::IntrospectionDisabled => code::INTROSPECTION_DISABLED,
            Self::FragmentCycle(_) => code::GRAPHQL_VALIDATION_FAILED,
            Self::NoSuchPath { .. } => code::NOT_FOUND,
            Self::MethodNotAllowed { .. } | Self::NotAPreflight => code::METHOD_NOT_ALLOWED,
            Self::UnreadableQueryString(_) => code::BAD_REQUEST,
        }
    }

    /// Its HTTP status. A refused document answers 400 with
    /// `application/graphql-response+json`, but 200 with `application/json`, as legacy
    /// clients expect: `respond` decides that from the response type, for async-graphql's own
    /// refusals too. A persisted query not found is 200 under either, as Apollo Server and
    /// Router answer it: the client's next step is to send the text, and an error status
    /// would stop some clients before they read the body.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::PersistedQueryNotFound => StatusCode::OK,
            Self::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnreadableBody(rejection) => rejection.status(),
            Self::GraphiqlOff => StatusCode::NOT_FOUND,
            Self::MutationOverGet => StatusCode::METHOD_NOT_ALLOWED,
            Self::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::NotGraphql(_)
            | Self::BadIdempotencyKey
            | Self::NoQuery
            | Self::NoQueryParameter
            | Self::VariablesNotAnObject
            | Self::ExtensionsNotAnObject
            | Self::SubscriptionOverHttp
            | Self::BadUpgrade(_)
            | Self::BatchTooLarge { .. }
            | Self::QueryTooLarge { .. }
            | Self::PersistedQueryMismatch
            | Self::PersistedQueryMalformed
            | Self::Parse(_)
            | Self::TooDeep
            | Self::TooComplex { .. }
            | Self::TooManyAliases { .. }
            | Self::TooManyRootFields { .. }
            | Self::IntrospectionDisabled
            | Self::FragmentCycle(_) => StatusCode::BAD_REQUEST,
            Self::NoSuchPath { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } | Self::NotAPreflight => StatusCode::METHOD_NOT_ALLOWED,
            Self::UnreadableQueryString(rejection) => rejection.status(),
            Self::TooManyOperations { .. } => StatusCode::TOO_MANY_REQUESTS,
        }
    }

    /// The GraphQL error of a refused document: its message (and, for a parse error, where),
    /// with its code.
    pub fn into_server_error(self) -> ServerError {
        let code = self.code();
        let mut error = match self {
            Self::Parse(error) => ServerError::from(error),
            other => ServerError::new(other.to_string(), None),
        };
        error.extensions.get_or_insert_with(Default::default).set("code", code);
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_becomes_a_graphql_error_with_its_code() {
        let error = RequestError::TooManyAliases { max: 3, held: 4 }.into_server_error();
        assert_eq!(error.message, "an operation may hold at most 3 aliases; this one holds 4");
        assert!(error.locations.is_empty());
        let code = error.extensions.as_ref().and_then(|extensions| extensions.get("code"));
        assert_eq!(code, Some(&async_graphql::Value::from("TOO_MANY_ALIASES")));
        let parse = parser::parse_query("{ nope").map(drop).map_err(RequestError::Parse).unwrap_err();
        assert_eq!(parse.status(), StatusCode::BAD_REQUEST);
        assert!(!parse.into_server_error().locations.is_empty(), "a parse error says where");
    }
}
