//! The negotiate stage: what the client sends and accepts, from its headers alone, before a
//! byte of the body is read. GraphQL over HTTP (the GraphQL Foundation's spec): the response's
//! media type follows `Accept` ([`ResponseType`]), and a POST must be JSON unless it carries a
//! header that forces a CORS preflight ([`check_content_type`]), so a cross-site form cannot
//! post.

use axum::http::{HeaderMap, HeaderValue, header};

use super::error::RequestError;

pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
pub const JSON: &str = "application/json";

/// Which media type the client gets back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseType {
    GraphqlResponseJson,
    Json,
}

impl ResponseType {
    /// Reads `Accept`: the GraphQL media type when the client lists it, JSON when it lists
    /// JSON or anything, or sends no `Accept`; NOT_ACCEPTABLE when it accepts neither.
    pub fn negotiate(headers: &HeaderMap) -> Result<Self, RequestError> {
        let Some(accept) = headers.get(header::ACCEPT).and_then(|value| value.to_str().ok()) else {
            return Ok(Self::Json);
        };
        let types: Vec<&str> = accept
            .split(',')
            .filter(|item| !item.split(';').skip(1).any(|param| param.trim().replace(' ', "") == "q=0"))
            .map(|item| item.split(';').next().unwrap_or_default().trim())
            .collect();
        if types.iter().any(|media| media.eq_ignore_ascii_case(GRAPHQL_RESPONSE_JSON)) {
            Ok(Self::GraphqlResponseJson)
        } else if types.iter().any(|media| ["application/json", "application/*", "*/*"].contains(media)) {
            Ok(Self::Json)
        } else {
            Err(RequestError::NotAcceptable)
        }
    }

    pub fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        })
    }
}

/// Whether a browser asks for a page: GraphiQL, at `GET /graphql` without a query.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers.get(header::ACCEPT).and_then(|value| value.to_str().ok()).is_some_and(|accept| accept.contains("text/html"))
}

/// Refuses a POST that is not JSON and carries no header that forces a CORS preflight.
pub fn check_content_type(headers: &HeaderMap) -> Result<(), RequestError> {
    if is_json(headers) || forces_preflight(headers) { Ok(()) } else { Err(RequestError::UnsupportedMediaType) }
}

/// Whether a POST's `Content-Type` is JSON. An HTML form, or a "simple" cross-site fetch that
/// skips the CORS preflight, can only send `text/plain`, `multipart/form-data` or
/// `application/x-www-form-urlencoded`: taking JSON only keeps them out.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()) else {
        return false;
    };
    let media = content_type.split(';').next().unwrap_or_default().trim();
    media.eq_ignore_ascii_case(JSON) || media.eq_ignore_ascii_case(GRAPHQL_RESPONSE_JSON)
}

/// Whether the request carries a custom header, which a cross-site page cannot send without a
/// CORS preflight: clients that post other types add one to say they are not a form (Apollo's
/// CSRF prevention; GraphQL Yoga's `graphql-preflight`). Empty values do not count, as in Apollo.
fn forces_preflight(headers: &HeaderMap) -> bool {
    ["apollo-require-preflight", "x-apollo-operation-name", "graphql-preflight"]
        .into_iter()
        .any(|name| headers.get(name).is_some_and(|value| !value.is_empty()))
}
