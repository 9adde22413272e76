//! The path of a GraphQL request, one stage per module, in the order a request meets them:
//!
//! 1. [`negotiate`]: the media type the client gets back (406), and a POST is JSON or forces a
//!    CORS preflight (415).
//! 2. [`read`]: the GraphQL request(s) from the body (413, 400) or the query string.
//! 3. [`parse`] and keep: the document, from those kept by their text or parsed; kept once it
//!    passed the limits.
//! 4. [`limits`]: batch size, then the text before parsing and the document after it.
//! 5. [`validate`]: no mutation over GET (405), and which of async-graphql's rules run.
//! 6. [`execute`]: async-graphql runs it with DataLoaders of its own.
//! 7. [`respond`]: status and media type; every error in the GraphQL shape.
//!
//! Every stage fails with a [`RequestError`], which knows its code and status ([`error`]). An
//! error of the request as a whole answers alone; a refused operation's document answers in
//! the GraphQL response, beside the batch's others.

pub mod error;
pub mod execute;
pub mod id;
pub mod limits;
pub mod negotiate;
pub mod parse;
pub mod read;
pub mod respond;
pub mod validate;

use async_graphql::{BatchRequest, BatchResponse, Request, Response};
use axum::{extract::Request as HttpRequest, http::HeaderMap};

use self::{error::RequestError, id::RequestId, negotiate::ResponseType, parse::Prepared};
use crate::state::AppState;

/// `POST /graphql`: one GraphQL request, or a batch.
pub async fn post(state: &AppState, id: &RequestId, request: HttpRequest) -> axum::response::Response {
    answer(id, post_stages(state, id, request).await)
}

async fn post_stages(
    state: &AppState,
    id: &RequestId,
    request: HttpRequest,
) -> Result<axum::response::Response, RequestError> {
    let bounds = state.limits();
    let response_type = ResponseType::negotiate(request.headers())?;
    negotiate::check_content_type(request.headers())?;
    let batch = read::body(request, bounds).await?;
    limits::check_batch(&batch, bounds)?;
    let (body, request_failed) = match batch {
        BatchRequest::Single(request) => {
            let (response, failed) = operation(state, id, request).await;
            (BatchResponse::Single(response), failed)
        }
        BatchRequest::Batch(requests) => {
            let mut responses = Vec::with_capacity(requests.len());
            let mut any_failed = false;
            for request in requests {
                let (response, failed) = operation(state, id, request).await;
                any_failed |= failed;
                responses.push(response);
            }
            (BatchResponse::Batch(responses), any_failed)
        }
    };
    Ok(respond::graphql(id, response_type, request_failed, &body))
}

/// `GET /graphql` with a `query`: one GraphQL request, which may not mutate.
pub async fn get(
    state: &AppState,
    id: &RequestId,
    headers: &HeaderMap,
    query: String,
    variables: Option<String>,
    operation_name: Option<String>,
) -> axum::response::Response {
    answer(id, get_stages(state, id, headers, query, variables, operation_name).await)
}

async fn get_stages(
    state: &AppState,
    id: &RequestId,
    headers: &HeaderMap,
    query: String,
    variables: Option<String>,
    operation_name: Option<String>,
) -> Result<axum::response::Response, RequestError> {
    let response_type = ResponseType::negotiate(headers)?;
    let request = read::query_string(query, variables, operation_name)?;
    let mut prepared = match prepare(state, request) {
        Ok(prepared) => prepared,
        Err(refusal) => {
            return Ok(respond::graphql(
                id,
                response_type,
                true,
                &BatchResponse::Single(respond::refused(id, refusal)),
            ));
        }
    };
    validate::check_get(&mut prepared.request)?;
    let (response, request_failed) = execute::execute(state, id, prepared).await;
    Ok(respond::graphql(id, response_type, request_failed, &BatchResponse::Single(response)))
}

/// One operation, from its document to its response. Also tells whether it failed as a whole,
/// before any field ran.
async fn operation(state: &AppState, id: &RequestId, request: Request) -> (Response, bool) {
    match prepare(state, request) {
        Ok(prepared) => execute::execute(state, id, prepared).await,
        Err(refusal) => (respond::refused(id, refusal), true),
    }
}

/// Parse and keep, with the limits on either side of the parser: a refused document never
/// reaches async-graphql, and a kept one is neither parsed nor checked again.
fn prepare(state: &AppState, request: Request) -> Result<Prepared, RequestError> {
    if let Some(kept) = state.documents.get(&request.query) {
        return Ok(Prepared::kept(request, kept));
    }
    limits::check_text(&request.query)?;
    let document = parse::parse(&request.query)?;
    limits::check_document(&document, state.limits())?;
    Ok(parse::keep(&state.documents, request, document))
}

fn answer(id: &RequestId, result: Result<axum::response::Response, RequestError>) -> axum::response::Response {
    result.unwrap_or_else(|error| respond::error(id, &error))
}
