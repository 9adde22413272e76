//! Automatic persisted queries (Apollo's `persistedQuery` extension, API.md "Browsers and
//! clients"), over POST, GET and in batches; and MAX_QUERY_BYTES, which bounds every query text
//! before it is scanned or parsed (README, "Limits").

use reqwest::RequestBuilder;
use serde_json::{Value, json};

use crate::helpers::*;

const GRAPHQL_JSON: &str = "application/graphql-response+json";

/// A status and a JSON body.
struct Reply {
    status: u16,
    cache_control: Option<String>,
    body: Value,
}

impl Reply {
    fn codes(&self) -> Vec<&str> {
        codes(&self.body)
    }
}

fn codes(body: &Value) -> Vec<&str> {
    let errors = body["errors"].as_array().map(Vec::as_slice).unwrap_or_default();
    errors.iter().map(|error| error["extensions"]["code"].as_str().unwrap_or("(no code)")).collect()
}

/// Nothing ran: `data` is left out (or, until every refusal leaves it out, null).
fn assert_no_data(body: &Value) {
    assert!(body.get("data").is_none_or(Value::is_null), "{body}");
}

async fn send(request: RequestBuilder) -> Reply {
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let cache_control =
        response.headers().get("cache-control").and_then(|value| value.to_str().ok()).map(str::to_owned);
    let body = response.json().await.unwrap_or(Value::Null);
    Reply { status, cache_control, body }
}

fn sha256(text: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(text.as_bytes()).iter().map(|byte| format!("{byte:02x}")).collect()
}

fn persisted(hash: &str) -> Value {
    json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
}

/// A query no other test sends, so its hash is new to the store (Redis is shared by the run).
fn new_query() -> String {
    format!("query Apq_{} {{ __typename }}", uuid::Uuid::now_v7().simple())
}

fn post(app: &TestApp, accept: &str, body: &Value) -> RequestBuilder {
    app.http.post(format!("{}/graphql", app.address)).header("accept", accept).json(body)
}

/// A GET with these query-string parameters.
fn get(app: &TestApp, accept: &str, params: &[(&str, String)]) -> RequestBuilder {
    app.http.get(format!("{}/graphql", app.address)).header("accept", accept).query(params)
}

async fn hash_only_post(app: &TestApp, accept: &str, hash: &str) -> Reply {
    send(post(app, accept, &json!({ "extensions": persisted(hash) }))).await
}

async fn hash_only_get(app: &TestApp, accept: &str, hash: &str) -> Reply {
    send(get(app, accept, &[("extensions", persisted(hash).to_string())])).await
}

fn assert_not_found(reply: &Reply) {
    assert_eq!((reply.status, reply.codes()), (200, vec!["PERSISTED_QUERY_NOT_FOUND"]), "{}", reply.body);
    assert_eq!(reply.body["errors"][0]["message"], "PersistedQueryNotFound", "what Apollo Client looks for");
    assert_no_data(&reply.body);
    // Apollo Server's and Router's: the same request succeeds once the text is registered.
    assert_eq!(reply.cache_control.as_deref(), Some("private, no-cache, must-revalidate"));
}

pub async fn an_unknown_hash_is_not_found_over_post_and_get(app: &TestApp) {
    let hash = sha256(&new_query());
    for accept in ["application/json", GRAPHQL_JSON] {
        assert_not_found(&hash_only_post(app, accept, &hash).await);
        assert_not_found(&hash_only_get(app, accept, &hash).await);
    }
    // A hash alone is not taken for a missing query, even in a browser.
    let reply = hash_only_get(app, "text/html,application/json", &hash).await;
    assert_eq!(reply.codes(), ["PERSISTED_QUERY_NOT_FOUND"], "{}", reply.body);
}

pub async fn a_query_sent_with_its_hash_is_registered_then_runs_by_its_hash(app: &TestApp) {
    let user = create_user(app).await;
    let query =
        format!("query Apq_{}($id: UUID!) {{ user(id: $id) {{ id nickName }} }}", uuid::Uuid::now_v7().simple());
    let hash = sha256(&query);
    let variables = json!({ "id": user["id"] });
    let expected = json!({ "user": { "id": user["id"], "nickName": user["nickName"] } });

    let registered = send(post(
        app,
        GRAPHQL_JSON,
        &json!({ "query": query, "variables": variables, "extensions": persisted(&hash) }),
    ))
    .await;
    assert_eq!((registered.status, &registered.body), (200, &json!({ "data": expected })));

    let by_hash =
        send(post(app, GRAPHQL_JSON, &json!({ "variables": variables, "extensions": persisted(&hash) }))).await;
    assert_eq!((by_hash.status, &by_hash.body), (200, &json!({ "data": expected })));

    let over_get = send(get(
        app,
        "application/json",
        &[("extensions", persisted(&hash).to_string()), ("variables", variables.to_string())],
    ))
    .await;
    assert_eq!((over_get.status, &over_get.body), (200, &json!({ "data": expected })));

    // In a batch, each operation on its own: a known hash runs, an unknown one is not found.
    let unknown = sha256(&new_query());
    let batch = json!([
        { "variables": variables, "extensions": persisted(&hash) },
        { "extensions": persisted(&unknown) },
    ]);
    let reply = send(post(app, "application/json", &batch)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body[0], json!({ "data": expected }));
    assert_eq!(codes(&reply.body[1]), ["PERSISTED_QUERY_NOT_FOUND"], "{}", reply.body);
}

pub async fn a_hash_that_does_not_match_its_query_is_a_bad_request_and_nothing_runs(app: &TestApp) {
    let input = new_user_input();
    let mutation = "mutation($input: CreateUserInput!) { createUser(input: $input) { id } }";
    let created = app.rpc_count("users", "users.create").await;
    for hash in [sha256("{ somethingElse }"), sha256(mutation).to_uppercase(), "not hex".to_owned()] {
        let body = json!({ "query": mutation, "variables": { "input": input }, "extensions": persisted(&hash) });
        let reply = send(post(app, GRAPHQL_JSON, &body)).await;
        assert_eq!((reply.status, reply.codes()), (400, vec!["BAD_REQUEST"]), "{}", reply.body);
        assert_no_data(&reply.body);
        let legacy = send(post(app, "application/json", &body)).await;
        assert_eq!(legacy.codes(), ["BAD_REQUEST"], "{}", legacy.body);
    }
    // Not registered either.
    assert_not_found(&hash_only_post(app, "application/json", &sha256("{ somethingElse }")).await);
    assert_eq!(app.rpc_count("users", "users.create").await, created, "nothing ran");
}

pub async fn a_version_other_than_1_is_a_bad_request_and_other_extensions_are_ignored(app: &TestApp) {
    let query = new_query();
    let extensions = json!({ "persistedQuery": { "version": 2, "sha256Hash": sha256(&query) } });
    let reply = send(post(app, GRAPHQL_JSON, &json!({ "query": query, "extensions": extensions }))).await;
    assert_eq!((reply.status, reply.codes()), (400, vec!["BAD_REQUEST"]), "{}", reply.body);
    assert_no_data(&reply.body);
    let reply = send(post(app, GRAPHQL_JSON, &json!({ "extensions": { "persistedQuery": "yes" } }))).await;
    assert_eq!((reply.status, reply.codes()), (400, vec!["BAD_REQUEST"]), "{}", reply.body);

    let ignored = json!({ "query": "{ __typename }", "extensions": { "clientLibrary": { "name": "x" } } });
    let reply = send(post(app, GRAPHQL_JSON, &ignored)).await;
    assert_eq!((reply.status, &reply.body), (200, &json!({ "data": { "__typename": "Query" } })));
    let reply = send(get(app, GRAPHQL_JSON, &[("query", "{ __typename }".into()), ("extensions", "{}".into())])).await;
    assert_eq!((reply.status, &reply.body), (200, &json!({ "data": { "__typename": "Query" } })));
}

pub async fn a_mutation_by_its_hash_over_get_is_not_allowed(app: &TestApp) {
    let mutation =
        format!("mutation Apq_{} {{ deleteOrder(id: \"{}\") }}", uuid::Uuid::now_v7().simple(), uuid::Uuid::now_v7());
    let hash = sha256(&mutation);
    let reply =
        send(post(app, "application/json", &json!({ "query": mutation, "extensions": persisted(&hash) }))).await;
    assert_eq!(reply.codes(), ["NOT_FOUND"], "it ran: {}", reply.body);
    let deletes = app.rpc_count("orders", "orders.delete").await;
    let reply = hash_only_get(app, "application/json", &hash).await;
    assert_eq!((reply.status, reply.codes()), (405, vec!["METHOD_NOT_ALLOWED"]), "{}", reply.body);
    assert_eq!(app.rpc_count("orders", "orders.delete").await, deletes, "it did not run");
}

/// MAX_QUERY_BYTES (64 KiB by default) bounds the text before anything reads it: a text over it
/// that would not parse, and is nested far too deep, is refused for its size alone.
pub async fn a_query_text_over_max_query_bytes_is_refused_before_it_is_read(app: &TestApp) {
    let limit = 64 * 1024;
    let fits = format!("{{ __typename }}{}", " ".repeat(limit - "{ __typename }".len()));
    assert_eq!(fits.len(), limit);
    let reply = send(post(app, GRAPHQL_JSON, &json!({ "query": fits }))).await;
    assert_eq!((reply.status, &reply.body), (200, &json!({ "data": { "__typename": "Query" } })));

    let broken = format!("{}{}", "{ a ".repeat(100), " ".repeat(limit));
    for accept in [GRAPHQL_JSON, "application/json"] {
        let reply = send(post(app, accept, &json!({ "query": broken }))).await;
        let status = if accept == GRAPHQL_JSON { 400 } else { 200 };
        assert_eq!((reply.status, reply.codes()), (status, vec!["QUERY_TOO_LARGE"]), "{}", reply.body);
        assert_no_data(&reply.body);
    }
    // In a batch, the large one alone.
    let reply = send(post(app, GRAPHQL_JSON, &json!([{ "query": "{ __typename }" }, { "query": broken }]))).await;
    assert_eq!(reply.body[0], json!({ "data": { "__typename": "Query" } }));
    assert_eq!(codes(&reply.body[1]), ["QUERY_TOO_LARGE"], "{}", reply.body);

    // Nor is a text that large registered.
    let large = format!("{}{}", new_query(), " ".repeat(limit));
    let hash = sha256(&large);
    let reply = send(post(app, GRAPHQL_JSON, &json!({ "query": large, "extensions": persisted(&hash) }))).await;
    assert_eq!(reply.codes(), ["QUERY_TOO_LARGE"], "{}", reply.body);
    assert_not_found(&hash_only_post(app, GRAPHQL_JSON, &hash).await);
}

/// Every gateway on the same Redis knows what one of them registered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateways_sharing_redis_share_registered_queries() {
    let first = spawn_app(Backend::RabbitMq).await;
    let second = first.second_gateway().await;
    let query = new_query();
    let hash = sha256(&query);
    assert_not_found(&hash_only_post(&second, GRAPHQL_JSON, &hash).await);
    let reply = send(post(&first, GRAPHQL_JSON, &json!({ "query": query, "extensions": persisted(&hash) }))).await;
    assert_eq!(reply.body, json!({ "data": { "__typename": "Query" } }));
    for app in [&second, &first] {
        let reply = hash_only_get(app, GRAPHQL_JSON, &hash).await;
        assert_eq!((reply.status, &reply.body), (200, &json!({ "data": { "__typename": "Query" } })));
    }
    // Under the cache key prefix, with a TTL.
    let mut redis = redis::Client::open(test_redis_url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    let key = format!("{}:apq:{hash}", first.config.cache_key_prefix);
    let text: Option<String> = redis::cmd("GET").arg(&key).query_async(&mut redis).await.unwrap();
    assert_eq!(text.as_deref(), Some(query.as_str()));
    let ttl: i64 = redis::cmd("TTL").arg(&key).query_async(&mut redis).await.unwrap();
    assert!((86_000..=86_400).contains(&ttl), "a day: {ttl}");
    second.stop().await;
    first.stop().await;
}

/// A Redis that does not answer costs the client one retry with the text, never an error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_unreachable_a_hash_is_not_found_and_the_text_still_runs() {
    let app = spawn_app_with(Backend::Embedded, |config| {
        // Nothing listens on port 1.
        config.redis_url = Some("redis://127.0.0.1:1".to_owned());
        config.cache_timeout_ms = 100;
    })
    .await;
    let query = new_query();
    let hash = sha256(&query);
    let errors = app.metric("gateway_cache_errors_total").await;
    assert_not_found(&hash_only_post(&app, GRAPHQL_JSON, &hash).await);
    assert!(app.metric("gateway_cache_errors_total").await > errors, "the failure is counted");
    let reply = send(post(&app, GRAPHQL_JSON, &json!({ "query": query, "extensions": persisted(&hash) }))).await;
    assert_eq!((reply.status, &reply.body), (200, &json!({ "data": { "__typename": "Query" } })));
    // This gateway keeps what it registered in memory too.
    let reply = hash_only_post(&app, GRAPHQL_JSON, &hash).await;
    assert_eq!((reply.status, &reply.body), (200, &json!({ "data": { "__typename": "Query" } })));
    app.stop().await;
}

/// MAX_QUERY_BYTES as configured, over GET too (a URL cannot carry 64 KiB).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_query_bytes_is_read_from_the_configuration_and_bounds_get_too() {
    let app = spawn_app_with(Backend::Embedded, |config| config.limits.max_query_bytes = 1000).await;
    let fits = format!("{{ __typename }}{}", " ".repeat(1000 - "{ __typename }".len()));
    let reply = send(get(&app, GRAPHQL_JSON, &[("query", fits.clone())])).await;
    assert_eq!((reply.status, &reply.body), (200, &json!({ "data": { "__typename": "Query" } })));
    let reply = send(get(&app, GRAPHQL_JSON, &[("query", format!("{fits} "))])).await;
    assert_eq!((reply.status, reply.codes()), (400, vec!["QUERY_TOO_LARGE"]), "{}", reply.body);
    assert_eq!(reply.body["errors"][0]["message"], "the query text is larger than 1000 bytes");
    app.stop().await;
}
