//! HTTP: the routes (`/graphql`, `/healthz`, `/readyz`, `/metrics`), the request id, and the
//! deadline. A GraphQL request goes down the stages of [`crate::request`]; this module speaks
//! HTTP only.
//!
//! `POST /graphql` and `GET /graphql` with a `query` are GraphQL over HTTP; `GET /graphql`
//! without one is GraphiQL, for browsers. Every request has a deadline (504), and a panic is
//! a 500 (README, "Limits"). Every response carries `x-request-id`, every error
//! `extensions.requestId`, and the request's log lines sit in a span with the same id.
//!
//! Every route answers an error in the GraphQL shape: an unknown path (`GET /` too) is 404
//! NOT_FOUND naming `/graphql` ([`no_such_path`]), a method a path does not take is 405
//! METHOD_NOT_ALLOWED with `Allow` ([`method_not_allowed`]), a query string that does not
//! read is 400 BAD_REQUEST. CORS, when configured, is [`cors`].

pub mod cors;

use std::{panic::AssertUnwindSafe, sync::Arc, time::Duration};

use axum::{
    Extension, Router,
    extract::{
        DefaultBodyLimit, Query, Request as HttpRequest, State,
        rejection::QueryRejection,
        ws::{WebSocketUpgrade, rejection::WebSocketUpgradeRejection},
    },
    http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    middleware::{self, Next},
    response::IntoResponse,
    routing::get,
};
use futures_util::FutureExt;
use rpc::Service;
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    limits::Limits,
    request::{self, error::RequestError, id::RequestId, negotiate, read::QueryString, respond},
    state::AppState,
};

/// The routes; with `cors`, the origins it allows may call them from a browser.
pub fn router(state: AppState, cors: Option<Arc<cors::Cors>>) -> Router {
    let max_body_bytes = state.limits().max_body_bytes;
    let router = Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .merge(crate::graphiql::routes())
        // After every route: it is given to each route's own methods.
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(no_such_path)
        .layer(DefaultBodyLimit::max(max_body_bytes));
    // Inside the request id: a preflight, which CORS answers alone, has one too.
    let router = match cors {
        Some(cors) => router.layer(middleware::from_fn_with_state(cors, cors::Cors::apply)),
        None => router,
    };
    router.layer(middleware::from_fn(with_request_id)).with_state(state)
}

const REQUEST_ID: &str = "x-request-id";

/// Any path but ours, `GET /` included. An error rather than a redirect to `/graphql`: one
/// answer for every client (an API client that got its URL wrong learns it from the message,
/// where a redirect would turn its POST into a GET of GraphiQL), and `/` is never mistaken for a
/// live endpoint by a probe.
async fn no_such_path(Extension(id): Extension<RequestId>, uri: Uri) -> axum::response::Response {
    respond::error(&id, &RequestError::NoSuchPath { path: uri.path().to_owned() })
}

/// A method a path does not take; axum adds the `Allow` header of the path. `OPTIONS` gets
/// here when no CORS preflight applies (no CORS configured, an origin it does not allow, or not
/// a preflight): a 405 in the GraphQL shape rather than a bodiless 204, since this API takes
/// OPTIONS for CORS preflights only, and a browser app on an origin that is not allowed then
/// fails its preflight (not 2xx) with a reason a person can read in the network tab.
async fn method_not_allowed(Extension(id): Extension<RequestId>, method: Method) -> axum::response::Response {
    let error = if method == Method::OPTIONS {
        RequestError::NotAPreflight
    } else {
        RequestError::MethodNotAllowed { method: method.to_string() }
    };
    respond::error(&id, &error)
}

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

async fn graphql_post(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    request: HttpRequest,
) -> axum::response::Response {
    // The deadline covers reading the body too: sent slowly, it would hold the connection.
    within_deadline(&id, state.limits(), request::post(&state, &id, request)).await
}

async fn graphql_get(
    State(state): State<AppState>,
    Extension(id): Extension<RequestId>,
    client: Option<Extension<crate::serve::ClientAddress>>,
    headers: HeaderMap,
    params: Result<Query<QueryString>, QueryRejection>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> axum::response::Response {
    // A WebSocket: subscriptions (and any operation) over graphql-transport-ws.
    if wants_websocket(&headers) {
        let client = client.map(|Extension(client)| client);
        return match upgrade {
            Ok(upgrade) => crate::live::socket::upgrade(state, upgrade, client),
            Err(rejection) => respond::error(&id, &RequestError::BadUpgrade(rejection.body_text())),
        };
    }
    // A query string that does not read (a parameter twice, say): axum would answer plain text.
    let Query(params) = match params {
        Ok(params) => params,
        Err(rejection) => return respond::error(&id, &RequestError::UnreadableQueryString(rejection)),
    };
    let run = async {
        match params {
            QueryString { query: None, extensions: None, .. } => graphiql(&id, state.limits(), &headers),
            params => {
                let client = client.map(|Extension(client)| client);
                request::get(&state, &id, &headers, client, params).await
            }
        }
    };
    within_deadline(&id, state.limits(), run).await
}

/// Whether a request asks to become a WebSocket (`Upgrade: websocket`).
fn wants_websocket(headers: &HeaderMap) -> bool {
    headers
        .get(header::UPGRADE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(',').any(|protocol| protocol.trim().eq_ignore_ascii_case("websocket")))
}

/// `GET /graphql` without a query: GraphiQL, for a browser, unless it is turned off.
fn graphiql(id: &RequestId, limits: &Limits, headers: &HeaderMap) -> axum::response::Response {
    if !negotiate::wants_html(headers) {
        return respond::error(id, &RequestError::NoQueryParameter);
    }
    if !limits.graphiql {
        return respond::error(id, &RequestError::GraphiqlOff);
    }
    crate::graphiql::page()
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
            respond::error(id, &RequestError::Internal)
        }
        Err(_) => respond::error(id, &RequestError::Timeout { ms: limits.request_timeout_ms }),
    }
}

/// 200 once the broker is connected, the gateway's own event queue is made (subscriptions
/// hear changes), every service answers a ping (a worker answers it only while its database
/// does), and a shared cache's waiting invalidations are applied; 503 otherwise, saying which.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    if !state.rpc.is_connected() {
        return (StatusCode::SERVICE_UNAVAILABLE, "broker not connected".to_owned());
    }
    if !state.live.is_listening() {
        return (StatusCode::SERVICE_UNAVAILABLE, "not yet listening to the services' changes".to_owned());
    }
    if !state.cache.is_caught_up() {
        return (StatusCode::SERVICE_UNAVAILABLE, "applying the cache invalidations that waited".to_owned());
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
