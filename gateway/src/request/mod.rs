//! The path of a GraphQL request, one stage per module, in the order a request meets them:
//!
//! 1. [`negotiate`]: the media type the client gets back (406), and a POST is JSON or forces a
//!    CORS preflight (415).
//! 2. [`read`]: the GraphQL request(s) from the body (413, 400) or the query string.
//! 3. [`persisted`]: per operation, once its text passed MAX_QUERY_BYTES, a persisted query's
//!    hash becomes its text, or a text sent with its hash is checked and registered.
//! 4. [`parse`] and keep: the document, from those kept by their text or parsed; kept once it
//!    passed the limits.
//! 5. [`limits`]: batch size, the text's size, then the text before parsing and the document
//!    after it.
//! 6. [`validate`]: no mutation over GET (405), and which of async-graphql's rules run.
//! 7. [`answer`]: a cacheable query whose answer is stored and current is answered from it.
//! 8. [`execute`]: async-graphql runs it with DataLoaders of its own (and [`answer`] keeps a
//!    cacheable query's answer).
//! 9. [`respond`]: status and media type; every error in the GraphQL shape.
//!
//! Every stage fails with a [`RequestError`], which knows its code and status ([`error`]). An
//! error of the request as a whole answers alone; a refused operation's document answers in
//! the GraphQL response, beside the batch's others.

pub mod answer;
pub mod error;
pub mod execute;
pub mod id;
pub mod limits;
pub mod negotiate;
pub mod parse;
pub mod persisted;
pub mod read;
pub mod respond;
pub mod validate;

use async_graphql::{BatchRequest, BatchResponse, Request, Response};
use axum::{
    extract::Request as HttpRequest,
    http::{HeaderMap, HeaderValue, StatusCode, header},
};

use self::{
    answer::Lookup, error::RequestError, id::RequestId, negotiate::ResponseType, parse::Prepared, read::QueryString,
};
use crate::{
    auth::Authentication, cache::answers::Reads, graphql::idempotency::IdempotencyKey, serve::ClientAddress,
    state::AppState,
};

/// The `Idempotency-Key` header, if any: 1 to 255 visible ASCII characters, as the IETF draft
/// (and Stripe) take them.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, RequestError> {
    let Some(value) = headers.get("idempotency-key") else { return Ok(None) };
    let key = value.to_str().map_err(|_| RequestError::BadIdempotencyKey)?;
    let visible = key.bytes().all(|byte| byte.is_ascii_graphic() || byte == b' ');
    if key.is_empty() || key.len() > 255 || !visible {
        return Err(RequestError::BadIdempotencyKey);
    }
    Ok(Some(key.to_owned()))
}

/// Who the request is for, from its `Authorization` header (see [`crate::auth`]): settled
/// when its first operation is about to run, so a request refused before (unreadable, over a
/// limit) costs no look-up of its session.
struct LazyAuth {
    authorization: Option<HeaderValue>,
    client: Option<ClientAddress>,
    settled: tokio::sync::OnceCell<Authentication>,
}

impl LazyAuth {
    fn new(headers: &HeaderMap, client: Option<ClientAddress>) -> Self {
        Self { authorization: headers.get(header::AUTHORIZATION).cloned(), client, settled: Default::default() }
    }

    async fn get(&self, state: &AppState) -> &Authentication {
        self.settled
            .get_or_init(|| async {
                let client = self.client.map(|ClientAddress(address)| address.to_string()).unwrap_or_default();
                state.auth.authenticate(&state.rpc, self.authorization.as_ref(), client).await
            })
            .await
    }
}

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
    let auth = LazyAuth::new(request.headers(), request.extensions().get::<ClientAddress>().copied());
    let key = idempotency_key(request.headers())?;
    let keyed = |operation| key.clone().map(|key| IdempotencyKey { key, operation });
    let batch = read::body(request, bounds).await?;
    limits::check_batch(&batch, bounds)?;
    let (body, outcome) = match batch {
        BatchRequest::Single(request) => match prepare_http(state, request).await {
            Ok(prepared) => {
                return Ok(single(state, id, auth.get(state).await, prepared, keyed(0), response_type).await);
            }
            Err(refusal) => {
                let (response, outcome) = refused(id, refusal);
                (BatchResponse::Single(response), outcome)
            }
        },
        BatchRequest::Batch(requests) => {
            let mut responses = Vec::with_capacity(requests.len());
            let mut outcome = Outcome::default();
            for (index, request) in requests.into_iter().enumerate() {
                let (response, of_one) = operation(state, id, &auth, request, keyed(index)).await;
                outcome.failed |= of_one.failed;
                outcome.uncacheable |= of_one.uncacheable;
                responses.push(response);
            }
            (BatchResponse::Batch(responses), outcome)
        }
    };
    Ok(outcome.finish(respond::graphql(id, response_type, outcome.failed, &body)))
}

/// `GET /graphql` with a `query`, or a persisted query's hash: one GraphQL request, which may
/// not mutate.
pub async fn get(
    state: &AppState,
    id: &RequestId,
    headers: &HeaderMap,
    client: Option<ClientAddress>,
    params: QueryString,
) -> axum::response::Response {
    answer(id, get_stages(state, id, headers, client, params).await)
}

async fn get_stages(
    state: &AppState,
    id: &RequestId,
    headers: &HeaderMap,
    client: Option<ClientAddress>,
    params: QueryString,
) -> Result<axum::response::Response, RequestError> {
    let response_type = ResponseType::negotiate(headers)?;
    let request = read::query_string(params)?;
    let mut prepared = match prepare(state, request).await {
        Ok(prepared) => prepared,
        Err(refusal) => {
            let (response, outcome) = refused(id, refusal);
            let body = BatchResponse::Single(response);
            return Ok(outcome.finish(respond::graphql(id, response_type, outcome.failed, &body)));
        }
    };
    validate::check_get(&mut prepared.request)?;
    validate::check_http(&mut prepared.request)?;
    let auth = LazyAuth::new(headers, client);
    // No mutation comes over GET: an Idempotency-Key has nothing to do here.
    Ok(single(state, id, auth.get(state).await, prepared, None, response_type).await)
}

/// The one operation of a POST or a GET, prepared: answered whole from the cache when it is a
/// cacheable query whose stored answer is current; else run, and its answer kept when it may
/// be ([`answer`]).
async fn single(
    state: &AppState,
    id: &RequestId,
    auth: &Authentication,
    mut prepared: Prepared,
    key: Option<IdempotencyKey>,
    response_type: ResponseType,
) -> axum::response::Response {
    let (answer_key, reads) = match answer::look_up(state, auth, &mut prepared).await {
        Lookup::Hit(body) => return respond::encoded(response_type, false, body),
        Lookup::Miss(answer_key, reads) => (Some(answer_key), reads),
        Lookup::Uncacheable => (None, Reads::off()),
    };
    let (response, failed) = execute::execute(state, id, auth, prepared, key, reads.clone()).await;
    let clean = !failed && response.errors.is_empty();
    let json = match respond::encode(&BatchResponse::Single(response)) {
        Ok(json) => json,
        Err(error) => return respond::error(id, &error),
    };
    if let Some(answer_key) = answer_key.filter(|_| clean) {
        state.cache.keep_answer(answer_key, &reads, &json).await;
    }
    respond::encoded(response_type, failed, json)
}

/// What one operation's answer asks of the whole response.
#[derive(Debug, Clone, Copy, Default)]
struct Outcome {
    /// It failed as a whole, before any field ran.
    failed: bool,
    /// No HTTP cache may keep it: a persisted query not found is found once the client sent
    /// its text, as Apollo Server and Router say with the same header.
    uncacheable: bool,
}

impl Outcome {
    fn finish(self, mut response: axum::response::Response) -> axum::response::Response {
        if self.uncacheable {
            let value = HeaderValue::from_static("private, no-cache, must-revalidate");
            response.headers_mut().insert(header::CACHE_CONTROL, value);
        }
        response
    }
}

/// One operation of a batch, from its document to its response.
async fn operation(
    state: &AppState,
    id: &RequestId,
    auth: &LazyAuth,
    request: Request,
    key: Option<IdempotencyKey>,
) -> (Response, Outcome) {
    match prepare_http(state, request).await {
        Ok(prepared) => {
            let (response, failed) =
                execute::execute(state, id, auth.get(state).await, prepared, key, Reads::off()).await;
            (response, Outcome { failed, uncacheable: false })
        }
        Err(refusal) => refused(id, refusal),
    }
}

/// [`prepare`], for an operation that came over HTTP: no subscription.
async fn prepare_http(state: &AppState, request: Request) -> Result<Prepared, RequestError> {
    let mut prepared = prepare(state, request).await?;
    validate::check_http(&mut prepared.request)?;
    Ok(prepared)
}

/// A refused operation's answer. A refusal whose status is 200 (a persisted query not found)
/// does not fail the request: the client is to go on.
fn refused(id: &RequestId, refusal: RequestError) -> (Response, Outcome) {
    let outcome = Outcome {
        failed: refusal.status() != StatusCode::OK,
        uncacheable: matches!(refusal, RequestError::PersistedQueryNotFound),
    };
    (respond::refused(id, refusal), outcome)
}

/// Persisted query, parse and keep, with the limits on either side of the parser: a refused
/// document never reaches async-graphql, and a kept one is neither parsed nor checked again.
/// A text sent with its hash is registered once its document passed the limits.
pub(crate) async fn prepare(state: &AppState, mut request: Request) -> Result<Prepared, RequestError> {
    let limits = state.limits();
    limits::check_size(&request.query, limits)?;
    let registration = persisted::resolve(&state.persisted_queries, &mut request).await?;
    let prepared = match state.documents.get(&request.query) {
        Some(kept) => Prepared::kept(request, kept),
        None => {
            // A registered text passed the size check when it was registered; the limit may
            // have been lowered since.
            limits::check_size(&request.query, limits)?;
            let text = limits::check_text(&request.query)?;
            let document = parse::parse(&text)?;
            drop(text);
            limits::check_document(&document, limits)?;
            parse::keep(&state.documents, request, document)
        }
    };
    if let Some(registration) = registration {
        registration.register(&state.persisted_queries, &prepared.request.query).await;
    }
    Ok(prepared)
}

fn answer(id: &RequestId, result: Result<axum::response::Response, RequestError>) -> axum::response::Response {
    result.unwrap_or_else(|error| respond::error(id, &error))
}
