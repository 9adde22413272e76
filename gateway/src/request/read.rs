//! The read stage: the GraphQL request(s) out of a POST's body or a GET's query string. The
//! body is bounded by MAX_BODY_BYTES as it is read, and refused before it is read when its
//! declared length is over it.

use async_graphql::{BatchRequest, Request};
use axum::{
    body::Bytes,
    extract::{
        FromRequest, Request as HttpRequest,
        rejection::{BytesRejection, FailedToBufferBody},
    },
    http::header,
};

use super::error::RequestError;
use crate::limits::Limits;

/// A POST's body: one GraphQL request, or a batch of them (a JSON array).
pub async fn body(request: HttpRequest, limits: &Limits) -> Result<BatchRequest, RequestError> {
    let too_large = || RequestError::PayloadTooLarge { max_bytes: limits.max_body_bytes };
    // A declared length over the limit is refused before a byte of the body is read.
    let declared =
        request.headers().get(header::CONTENT_LENGTH).and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limits.max_body_bytes as u64) {
        return Err(too_large());
    }
    // `DefaultBodyLimit` (`http::router`) bounds the read when no length is declared.
    let body = match Bytes::from_request(request, &()).await {
        Ok(body) => body,
        Err(BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_))) => return Err(too_large()),
        Err(rejection) => return Err(RequestError::UnreadableBody(rejection)),
    };
    let batch: BatchRequest = serde_json::from_slice(&body).map_err(RequestError::NotGraphql)?;
    // `query` is the one member a GraphQL request cannot do without.
    if batch.iter().any(|request| request.query.trim().is_empty()) {
        return Err(RequestError::NoQuery);
    }
    Ok(batch)
}

/// A GET's query string: `query`, and `variables` (JSON) and `operationName` if given.
pub fn query_string(
    query: String,
    variables: Option<String>,
    operation_name: Option<String>,
) -> Result<Request, RequestError> {
    let mut request = Request::new(query);
    if let Some(operation_name) = operation_name {
        request = request.operation_name(operation_name);
    }
    if let Some(variables) = variables {
        let variables = serde_json::from_str(&variables).map_err(|_| RequestError::VariablesNotAnObject)?;
        request = request.variables(variables);
    }
    Ok(request)
}
