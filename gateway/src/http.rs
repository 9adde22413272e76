//! HTTP: GraphQL over HTTP on `/graphql` (POST; GET for GraphiQL and queries), `/healthz`,
//! `/readyz` and `/metrics`.
//!
//! GraphQL over HTTP (the GraphQL Foundation's spec): the response type follows `Accept`.
//! With `application/graphql-response+json`, a request that fails before execution (a body
//! that is not a GraphQL request, a document that does not parse or validate, or that a limit
//! refuses) answers 400;
//! with `application/json` such failures answer 200 with `errors`, as legacy clients expect.
//! A body that is not JSON at all answers 400 either way.
//!
//! The edge is hardened ([`crate::limits`]; README, "Limits"): a POST must be JSON unless it
//! carries a header that forces a CORS preflight, so a cross-site form cannot post (415);
//! bodies (413) and batches (400) are bounded; every document is checked before it runs, so a
//! refused one costs the services nothing; every request has a deadline (504). Every response
//! carries `x-request-id`, every error `extensions.requestId`, and the request's log lines sit
//! in a span with the same id.

use std::{panic::AssertUnwindSafe, sync::Arc, time::Duration};

use async_graphql::{BatchRequest, BatchResponse, Request, Response, ServerError, parser::types::OperationType};
use axum::{
    Extension, Router,
    body::Bytes,
    extract::{
        DefaultBodyLimit, FromRequest, Query, Request as HttpRequest, State,
        rejection::{BytesRejection, FailedToBufferBody},
    },
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::{self, Next},
    response::IntoResponse,
    routing::get,
};
use futures_util::FutureExt;
use rpc::{ErrorCode, RpcClient, Service};
use serde::Deserialize;
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    cache::FieldCache,
    documents::{self, Documents, Kept},
    graphql::{
        AppSchema,
        error::{INTERNAL_MESSAGE, add_request_error_codes, code, finish_errors},
        loaders::{Loaders, Lookups, RequestScope},
    },
    limits::{self, Limits},
    metrics::Metrics,
};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    /// The same schema, validating only what depends on more than the document: for
    /// documents that passed every rule before ([`Documents`]).
    pub validated_schema: AppSchema,
    pub documents: Arc<Documents>,
    pub rpc: RpcClient,
    pub lookups: Arc<Lookups>,
    pub cache: Arc<FieldCache>,
    pub metrics: Metrics,
}

pub fn router(state: AppState) -> Router {
    let max_body_bytes = limits_of(&state).max_body_bytes;
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(crate::graphiql::routes())
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(middleware::from_fn(with_request_id))
        .with_state(state)
}

/// The limits the schema was built with: `build_schema` keeps them as the schema's data.
fn limits_of(state: &AppState) -> &Limits {
    state.schema.data::<Limits>().unwrap_or(&Limits::DEFAULT)
}

const REQUEST_ID: &str = "x-request-id";

/// The id of one HTTP request: in its response's `x-request-id`, its errors'
/// `extensions.requestId` and its log span.
#[derive(Debug, Clone)]
pub struct RequestId(pub Arc<str>);

/// Takes the client's `x-request-id` when it is sane, else makes a UUIDv7; runs the request
/// in a span that carries it, and sends it back.
async fn with_request_id(mut request: HttpRequest, next: Next) -> axum::response::Response {
    let id: Arc<str> = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| is_sane_request_id(id))
        .map(Arc::from)
        .unwrap_or_else(|| Uuid::now_v7().to_string().into());
    request.extensions_mut().insert(RequestId(id.clone()));
    // The id alone: every field of a span is formatted when the span opens, on every request.
    let span = tracing::info_span!("request", request_id = %id);
    let mut response = next.run(request).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}

/// 1 to 128 ASCII letters, digits or `-_.:/+=`: what tracing systems send (UUIDs, hex, base64),
/// and nothing that could forge a log line or smuggle markup.
fn is_sane_request_id(id: &str) -> bool {
    (1..=128).contains(&id.len()) && id.bytes().all(|byte| byte.is_ascii_alphanumeric() || b"-_.:/+=".contains(&byte))
}

/// Which media type the client gets back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ResponseType {
    GraphqlResponseJson,
    Json,
}

impl ResponseType {
    /// Reads `Accept`: the GraphQL media type when the client lists it, JSON when it lists
    /// JSON or anything, or sends no `Accept`; None when it accepts neither.
    fn negotiate(headers: &HeaderMap) -> Option<Self> {
        let Some(accept) = headers.get(header::ACCEPT).and_then(|value| value.to_str().ok()) else {
            return Some(Self::Json);
        };
        let types: Vec<&str> = accept
            .split(',')
            .filter(|item| !item.split(';').skip(1).any(|param| param.trim().replace(' ', "") == "q=0"))
            .map(|item| item.split(';').next().unwrap_or_default().trim())
            .collect();
        if types.iter().any(|media| media.eq_ignore_ascii_case(GRAPHQL_RESPONSE_JSON)) {
            Some(Self::GraphqlResponseJson)
        } else if types.iter().any(|media| ["application/json", "application/*", "*/*"].contains(media)) {
            Some(Self::Json)
        } else {
            None
        }
    }

    fn content_type(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        })
    }
}

/// A response that is an error of the request as a whole, in the GraphQL response shape.
fn request_error(id: &RequestId, status: StatusCode, code: &str, message: &str) -> axum::response::Response {
    // The message may quote the request (a serde error can), which the log must not hold.
    tracing::info!(status = status.as_u16(), code, "request failed as a whole");
    let body = serde_json::json!({
        "errors": [{ "message": message, "extensions": { "code": code, "requestId": &*id.0 } }],
    });
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(JSON))], body.to_string()).into_response()
}

const NOT_ACCEPTABLE_MESSAGE: &str = "accept application/json or application/graphql-response+json";

async fn graphql_post(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    request: HttpRequest,
) -> axum::response::Response {
    // The deadline covers reading the body too: sent slowly, it would hold the connection.
    within_deadline(&id, limits_of(&state), post(&state, &id, request)).await
}

async fn post(state: &AppState, id: &RequestId, request: HttpRequest) -> axum::response::Response {
    let limits = limits_of(state);
    let headers = request.headers();
    let Some(response_type) = ResponseType::negotiate(headers) else {
        return request_error(id, StatusCode::NOT_ACCEPTABLE, code::NOT_ACCEPTABLE, NOT_ACCEPTABLE_MESSAGE);
    };
    if !is_json(headers) && !forces_preflight(headers) {
        return request_error(
            id,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code::UNSUPPORTED_MEDIA_TYPE,
            "a GraphQL POST is application/json, or carries a header that forces a CORS preflight \
             (apollo-require-preflight, x-apollo-operation-name or graphql-preflight)",
        );
    }
    let too_large = || {
        let message = format!("the body is larger than {} bytes", limits.max_body_bytes);
        request_error(id, StatusCode::PAYLOAD_TOO_LARGE, code::PAYLOAD_TOO_LARGE, &message)
    };
    // A declared length over the limit is refused before a byte of the body is read.
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limits.max_body_bytes as u64) {
        return too_large();
    }
    // `DefaultBodyLimit` (see `router`) bounds the read when no length is declared.
    let body = match Bytes::from_request(request, state).await {
        Ok(body) => body,
        Err(BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_))) => return too_large(),
        Err(rejection) => {
            return request_error(id, rejection.status(), code::BAD_REQUEST, "the body could not be read");
        }
    };
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(error) => {
            let message = format!("the body is not a GraphQL request: {error}");
            return request_error(id, StatusCode::BAD_REQUEST, code::BAD_REQUEST, &message);
        }
    };
    // `query` is the one member a GraphQL request cannot do without.
    if batch.iter().any(|request| request.query.trim().is_empty()) {
        return request_error(id, StatusCode::BAD_REQUEST, code::BAD_REQUEST, "a GraphQL request needs a `query`");
    }
    if let BatchRequest::Batch(requests) = &batch
        && requests.len() > limits.max_batch_size
    {
        let message =
            format!("a batch holds at most {} operations; this one holds {}", limits.max_batch_size, requests.len());
        return request_error(id, StatusCode::BAD_REQUEST, code::BATCH_TOO_LARGE, &message);
    }
    match batch {
        BatchRequest::Single(request) => {
            let (response, request_failed) = execute(state, id, request).await;
            respond(id, response_type, request_failed, &BatchResponse::Single(response))
        }
        BatchRequest::Batch(requests) => {
            let mut responses = Vec::with_capacity(requests.len());
            let mut any_failed = false;
            for request in requests {
                let (response, failed) = execute(state, id, request).await;
                any_failed |= failed;
                responses.push(response);
            }
            respond(id, response_type, any_failed, &BatchResponse::Batch(responses))
        }
    }
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

/// Runs a request, from reading its body to its response, under REQUEST_TIMEOUT_MS (then 504),
/// and turns a panic into a 500: either way the client gets a GraphQL error with the request
/// id, and the log the detail.
async fn within_deadline(
    id: &RequestId,
    limits: &Limits,
    run: impl Future<Output = axum::response::Response>,
) -> axum::response::Response {
    match tokio::time::timeout(limits.request_timeout(), AssertUnwindSafe(run).catch_unwind()).await {
        Ok(Ok(response)) => response,
        Ok(Err(panic)) => {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|text| (*text).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(request_id = &*id.0, detail, "the request panicked");
            let internal = ErrorCode::InternalServerError.as_str();
            request_error(id, StatusCode::INTERNAL_SERVER_ERROR, internal, INTERNAL_MESSAGE)
        }
        Err(_) => {
            let message = format!("the request took longer than {} ms", limits.request_timeout_ms);
            request_error(id, StatusCode::GATEWAY_TIMEOUT, code::TIMEOUT, &message)
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParams {
    query: Option<String>,
    variables: Option<String>,
    operation_name: Option<String>,
}

async fn graphql_get(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    headers: HeaderMap,
    Query(params): Query<GetParams>,
) -> axum::response::Response {
    within_deadline(&id, limits_of(&state), get_query(&state, &id, &headers, params)).await
}

async fn get_query(
    state: &AppState,
    id: &RequestId,
    headers: &HeaderMap,
    params: GetParams,
) -> axum::response::Response {
    let limits = limits_of(state);
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let Some(query) = params.query else {
        if wants_html && limits.graphiql {
            return crate::graphiql::page();
        }
        if wants_html {
            return request_error(id, StatusCode::NOT_FOUND, code::NOT_FOUND, "GraphiQL is turned off on this server");
        }
        return request_error(
            id,
            StatusCode::BAD_REQUEST,
            code::BAD_REQUEST,
            "a GET request needs a `query` parameter",
        );
    };
    let Some(response_type) = ResponseType::negotiate(headers) else {
        return request_error(id, StatusCode::NOT_ACCEPTABLE, code::NOT_ACCEPTABLE, NOT_ACCEPTABLE_MESSAGE);
    };
    let mut request = Request::new(query);
    if let Some(operation_name) = params.operation_name {
        request = request.operation_name(operation_name);
    }
    if let Some(variables) = params.variables {
        match serde_json::from_str(&variables) {
            Ok(variables) => request = request.variables(variables),
            Err(_) => {
                return request_error(
                    id,
                    StatusCode::BAD_REQUEST,
                    code::BAD_REQUEST,
                    "`variables` is not a JSON object",
                );
            }
        }
    }
    let mut prepared = match prepare(state, request) {
        Ok(prepared) => prepared,
        Err(refusal) => return respond(id, response_type, true, &BatchResponse::Single(refused(id, refusal))),
    };
    // GET must not change anything: a mutation over GET is refused before it runs.
    if is_mutation(&mut prepared.request) {
        let mut response = request_error(
            id,
            StatusCode::METHOD_NOT_ALLOWED,
            code::METHOD_NOT_ALLOWED,
            "mutations must be sent with POST",
        );
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let (response, request_failed) = run(state, id, prepared).await;
    respond(id, response_type, request_failed, &BatchResponse::Single(response))
}

/// Whether the operation the request selects is a mutation.
fn is_mutation(request: &mut Request) -> bool {
    let operation_name = request.operation_name.clone();
    let Ok(document) = request.parsed_query() else { return false };
    let operation = match &operation_name {
        Some(name) => document.operations.iter().find(|(op_name, _)| op_name.is_some_and(|n| n.as_str() == name)),
        None => document.operations.iter().next(),
    };
    operation.is_some_and(|(_, operation)| operation.node.ty == OperationType::Mutation)
}

/// Parses a request's document, once, and checks it against the limits async-graphql cannot
/// enforce itself ([`limits::check_nesting`] before parsing, [`limits::check_document`] after).
/// A refused request comes back as its error, with its code: nothing of it ran. A text parsed
/// and accepted before is not parsed again ([`Documents`]).
fn prepare(state: &AppState, mut request: Request) -> Result<Prepared, ServerError> {
    if let Some(kept) = state.documents.get(&request.query) {
        request.set_parsed_query(kept.document.clone());
        return Ok(Prepared { request, kept: Some(kept) });
    }
    let limits = limits_of(state);
    // Logged in the request's span, which carries its id; not the message, which may quote
    // the document (a parse error does), and with it a password.
    let with_code = |mut error: ServerError, code: &str| {
        tracing::info!(code, "query refused");
        error.extensions.get_or_insert_with(Default::default).set("code", code);
        error
    };
    let refusal = |refusal: limits::Refusal| with_code(ServerError::new(refusal.message, None), refusal.code);
    limits::check_nesting(&request.query).map_err(refusal)?;
    let document = async_graphql::parser::parse_query(&request.query)
        .map_err(|error| with_code(ServerError::from(error), code::GRAPHQL_PARSE_FAILED))?;
    limits::check_document(&document, limits).map_err(refusal)?;
    let kept = state.documents.keep(&request.query, &document);
    request.set_parsed_query(document);
    Ok(Prepared { request, kept })
}

/// A request ready to run, and its kept document if it is kept.
struct Prepared {
    request: Request,
    kept: Option<Arc<Kept>>,
}

/// The response to a request [`prepare`] refused.
fn refused(id: &RequestId, error: ServerError) -> Response {
    let mut errors = vec![error];
    finish_errors(&mut errors, &id.0);
    Response::from_errors(errors)
}

/// Checks, then runs, one GraphQL request. Also tells whether it failed as a whole (refused,
/// or failed to parse, validate or coerce), before any field ran.
async fn execute(state: &AppState, id: &RequestId, request: Request) -> (Response, bool) {
    match prepare(state, request) {
        Ok(prepared) => run(state, id, prepared).await,
        Err(refusal) => (refused(id, refusal), true),
    }
}

/// Runs one prepared GraphQL request with its own DataLoaders. A document that passed every
/// validation rule before, with variables of the same shape, runs on the schema that does not
/// check them again.
async fn run(state: &AppState, id: &RequestId, prepared: Prepared) -> (Response, bool) {
    let Prepared { request, kept } = prepared;
    let kept = kept.map(|kept| (kept, documents::shape(request.operation_name.as_deref(), &request.variables)));
    let validated = kept.as_ref().is_some_and(|(kept, shape)| kept.validated(*shape));
    let schema = if validated { &state.validated_schema } else { &state.schema };
    let scope = RequestScope::default();
    let request = request.data(Loaders::new(&scope, &state.lookups, &state.cache));
    let mut response = scope.run(schema.execute(request)).await;
    // Field errors always have a path; errors of the request as a whole have none, and
    // leave no data.
    let request_failed = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|error| error.path.is_empty());
    if let Some((kept, shape)) = kept.filter(|_| !validated && !request_failed) {
        kept.mark_validated(shape);
    }
    add_request_error_codes(&mut response.errors);
    finish_errors(&mut response.errors, &id.0);
    (response, request_failed)
}

fn respond(
    id: &RequestId,
    response_type: ResponseType,
    request_failed: bool,
    body: &BatchResponse,
) -> axum::response::Response {
    let status = if request_failed && response_type == ResponseType::GraphqlResponseJson {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    match serde_json::to_vec(body) {
        Ok(json) => (status, [(header::CONTENT_TYPE, response_type.content_type())], json).into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot encode a GraphQL response");
            let internal = ErrorCode::InternalServerError.as_str();
            request_error(id, StatusCode::INTERNAL_SERVER_ERROR, internal, INTERNAL_MESSAGE)
        }
    }
}

/// 200 once the broker is connected and every service answers a ping; 503 otherwise.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if !state.rpc.is_connected() {
        return (StatusCode::SERVICE_UNAVAILABLE, "broker not connected".to_owned());
    }
    let ping = |service| {
        let rpc = state.rpc.clone();
        async move { tokio::time::timeout(Duration::from_secs(2), rpc.ping(service)).await.is_ok_and(|r| r.is_ok()) }
    };
    let (users, orders) = tokio::join!(ping(Service::Users), ping(Service::Orders));
    match (users, orders) {
        (true, true) => (StatusCode::OK, "ready".to_owned()),
        _ => (StatusCode::SERVICE_UNAVAILABLE, format!("users answers: {users}, orders answers: {orders}")),
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    async fn error_of(response: axum::response::Response) -> (StatusCode, Value) {
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("a body");
        let body: Value = serde_json::from_slice(&body).expect("a JSON body");
        (status, body["errors"][0]["extensions"].clone())
    }

    #[tokio::test]
    async fn a_request_that_never_ends_is_cut_at_its_deadline() {
        let limits = Limits { request_timeout_ms: 1, ..Limits::default() };
        let id = RequestId("r-1".into());
        let (status, extensions) = error_of(within_deadline(&id, &limits, std::future::pending()).await).await;
        assert_eq!(status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!((&extensions["code"], &extensions["requestId"]), (&Value::from("TIMEOUT"), &Value::from("r-1")));
    }

    #[tokio::test]
    async fn a_request_that_panics_is_an_internal_error_that_says_nothing_more() {
        let id = RequestId("r-2".into());
        let panics = async { panic!("the SQL was SELECT * FROM secrets") };
        let response = within_deadline(&id, &Limits::default(), panics).await;
        let (status, extensions) = error_of(response).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(extensions["code"], "INTERNAL_SERVER_ERROR");
        assert_eq!(extensions["requestId"], "r-2");
    }
}
