//! The respond stage: a GraphQL response in the media type negotiated, with its status
//! ([`graphql`]); a refused operation as its GraphQL error ([`refused`]); an error of the
//! request as a whole, alone, in the same shape ([`error`]). Every error carries
//! `extensions.code` and `extensions.requestId`.

use async_graphql::{BatchResponse, Response, Value};
use axum::{
    body::Bytes,
    http::{HeaderValue, StatusCode, header},
    response::IntoResponse,
};
use serde::{Serialize, Serializer, ser::SerializeMap as _};

use super::{
    error::RequestError,
    id::RequestId,
    negotiate::{JSON, ResponseType},
};
use crate::graphql::error::finish_errors;

/// The response to GraphQL requests that ran, or were refused; `request_failed` when one of
/// them failed as a whole (refused, or failed to parse, validate or coerce), which
/// `application/graphql-response+json` answers with 400 and legacy JSON with 200.
pub fn graphql(
    id: &RequestId,
    response_type: ResponseType,
    request_failed: bool,
    body: &BatchResponse,
) -> axum::response::Response {
    match encode(body) {
        Ok(json) => encoded(response_type, request_failed, json),
        Err(error) => self::error(id, &error),
    }
}

/// The JSON of a GraphQL response (see [`Answer`]).
pub fn encode(body: &BatchResponse) -> Result<Bytes, RequestError> {
    serde_json::to_vec(&Answer(body)).map(Bytes::from).map_err(|error| {
        tracing::error!(%error, "cannot encode a GraphQL response");
        RequestError::Internal
    })
}

/// [`graphql`] for a response already encoded: `json` is its body.
pub fn encoded(response_type: ResponseType, request_failed: bool, json: Bytes) -> axum::response::Response {
    let status = if request_failed && response_type == ResponseType::GraphqlResponseJson {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    (status, [(header::CONTENT_TYPE, response_type.content_type())], json).into_response()
}

/// A [`BatchResponse`] as the GraphQL over HTTP spec wants it: async-graphql always writes
/// `data`, but an operation that could not run (refused, or failed to parse, validate or
/// coerce its variables: errors with no path, and no data) has no `data` key at all, since it
/// never executed. An operation that ran is written by async-graphql as is, so the success
/// path costs one comparison.
struct Answer<'a>(&'a BatchResponse);

impl Serialize for Answer<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            BatchResponse::Single(response) => Operation(response).serialize(serializer),
            BatchResponse::Batch(responses) => serializer.collect_seq(responses.iter().map(Operation)),
        }
    }
}

struct Operation<'a>(&'a Response);

impl Serialize for Operation<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let response = self.0;
        if !could_not_run(response) {
            return response.serialize(serializer);
        }
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("errors", &response.errors)?;
        if !response.extensions.is_empty() {
            map.serialize_entry("extensions", &response.extensions)?;
        }
        map.end()
    }
}

/// Whether an operation never executed: no data, and only errors of the request as a whole
/// (a field's error always has a path; a null propagated up to `data` comes with one).
pub fn could_not_run(response: &Response) -> bool {
    response.data == Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|error| error.path.is_empty())
}

/// The response to an operation refused before it ran: nothing of it ran.
pub fn refused(id: &RequestId, error: RequestError) -> Response {
    // Logged in the request's span, which carries its id; not the message, which may quote
    // the document (a parse error does), and with it a password.
    tracing::info!(code = error.code(), "query refused");
    let mut errors = vec![error.into_server_error()];
    finish_errors(&mut errors, &id.0);
    Response::from_errors(errors)
}

/// The response to a request that failed as a whole, with the error's status.
pub fn error(id: &RequestId, error: &RequestError) -> axum::response::Response {
    let (status, code) = (error.status(), error.code());
    // The message may quote the request (a serde error can), which the log must not hold.
    tracing::info!(status = status.as_u16(), code, "request failed as a whole");
    let body = serde_json::json!({
        "errors": [{ "message": error.to_string(), "extensions": { "code": code, "requestId": &*id.0 } }],
    });
    let mut response =
        (status, [(header::CONTENT_TYPE, HeaderValue::from_static(JSON))], body.to_string()).into_response();
    if let RequestError::MutationOverGet = error {
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
    }
    response
}
