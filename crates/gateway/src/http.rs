//! HTTP: GraphQL over HTTP on `/graphql` (POST; GET for GraphiQL and queries), `/healthz`,
//! `/readyz` and `/metrics`.
//!
//! GraphQL over HTTP (the GraphQL Foundation's spec): the response type follows `Accept`.
//! With `application/graphql-response+json`, a request that fails before execution (a body
//! that is not a GraphQL request, a document that does not parse or validate) answers 400;
//! with `application/json` such failures answer 200 with `errors`, as legacy clients expect.
//! A body that is not JSON at all answers 400 either way.

use std::{sync::Arc, time::Duration};

use async_graphql::{
    BatchRequest, BatchResponse, Request, Response, http::GraphiQLSource, parser::types::OperationType,
};
use axum::{
    Router,
    body::Bytes,
    extract::{Query, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse},
    routing::get,
};
use rpc::{RpcClient, Service};
use serde::Deserialize;

use crate::{
    cache::FieldCache,
    graphql::{
        AppSchema,
        error::add_request_error_codes,
        loaders::{Loaders, RequestScope},
    },
    metrics::Metrics,
};

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub rpc: RpcClient,
    pub cache: Arc<FieldCache>,
    pub metrics: Metrics,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
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
fn request_error(status: StatusCode, code: &str, message: &str) -> axum::response::Response {
    let body = serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code } }] });
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static(JSON))], body.to_string()).into_response()
}

async fn graphql_post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> axum::response::Response {
    let Some(response_type) = ResponseType::negotiate(&headers) else {
        return request_error(
            StatusCode::NOT_ACCEPTABLE,
            "NOT_ACCEPTABLE",
            "accept application/json or application/graphql-response+json",
        );
    };
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(error) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                &format!("the body is not a GraphQL request: {error}"),
            );
        }
    };
    // `query` is the one member a GraphQL request cannot do without.
    if batch.iter().any(|request| request.query.trim().is_empty()) {
        return request_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", "a GraphQL request needs a `query`");
    }
    match batch {
        BatchRequest::Single(request) => {
            let (response, request_failed) = execute(&state, request).await;
            respond(response_type, request_failed, &BatchResponse::Single(response))
        }
        BatchRequest::Batch(requests) => {
            let mut responses = Vec::with_capacity(requests.len());
            let mut any_failed = false;
            for request in requests {
                let (response, failed) = execute(&state, request).await;
                any_failed |= failed;
                responses.push(response);
            }
            respond(response_type, any_failed, &BatchResponse::Batch(responses))
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
    headers: HeaderMap,
    Query(params): Query<GetParams>,
) -> axum::response::Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let Some(query) = params.query else {
        if wants_html {
            return Html(GraphiQLSource::build().endpoint("/graphql").title("GraphQL over RabbitMQ").finish())
                .into_response();
        }
        return request_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", "a GET request needs a `query` parameter");
    };
    let Some(response_type) = ResponseType::negotiate(&headers) else {
        return request_error(
            StatusCode::NOT_ACCEPTABLE,
            "NOT_ACCEPTABLE",
            "accept application/json or application/graphql-response+json",
        );
    };
    let mut request = Request::new(query);
    if let Some(operation_name) = params.operation_name {
        request = request.operation_name(operation_name);
    }
    if let Some(variables) = params.variables {
        match serde_json::from_str(&variables) {
            Ok(variables) => request = request.variables(variables),
            Err(_) => return request_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", "`variables` is not a JSON object"),
        }
    }
    // GET must not change anything: a mutation over GET is refused before it runs.
    if is_mutation(&request) {
        let mut response =
            request_error(StatusCode::METHOD_NOT_ALLOWED, "METHOD_NOT_ALLOWED", "mutations must be sent with POST");
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let (response, request_failed) = execute(&state, request).await;
    respond(response_type, request_failed, &BatchResponse::Single(response))
}

/// Whether the operation the request selects is a mutation.
fn is_mutation(request: &Request) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else { return false };
    let operation = match &request.operation_name {
        Some(name) => document.operations.iter().find(|(op_name, _)| op_name.is_some_and(|n| n.as_str() == name)),
        None => document.operations.iter().next(),
    };
    operation.is_some_and(|(_, operation)| operation.node.ty == OperationType::Mutation)
}

/// Runs one GraphQL request with its own DataLoaders. Also tells whether it failed as a
/// whole (parse, validation or coercion), before any field ran.
async fn execute(state: &AppState, request: Request) -> (Response, bool) {
    let parse_failed = async_graphql::parser::parse_query(&request.query).is_err();
    let scope = RequestScope::default();
    let request = request.data(Loaders::new(&scope, &state.rpc, &state.cache));
    let mut response = scope.run(state.schema.execute(request)).await;
    // Field errors always have a path; errors of the request as a whole have none, and
    // leave no data.
    let request_failed = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|error| error.path.is_empty());
    add_request_error_codes(&mut response.errors, parse_failed);
    (response, request_failed)
}

fn respond(response_type: ResponseType, request_failed: bool, body: &BatchResponse) -> axum::response::Response {
    let status = if request_failed && response_type == ResponseType::GraphqlResponseJson {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    match serde_json::to_vec(body) {
        Ok(json) => (status, [(header::CONTENT_TYPE, response_type.content_type())], json).into_response(),
        Err(error) => {
            tracing::error!(%error, "cannot encode a GraphQL response");
            request_error(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_SERVER_ERROR", "internal error")
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
