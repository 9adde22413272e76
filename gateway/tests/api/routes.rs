//! Issue 14: every route answers the GraphQL error shape (an unknown path, `GET /`, a method a
//! path does not take, `OPTIONS` without CORS, a query string that does not read); `data` is
//! absent when an operation could not run; and a failed field's null goes where the GraphQL
//! specification's "Handling Field Errors" puts it.

use reqwest::{Method, Response};
use serde_json::{Value, json};

use crate::helpers::*;

const ID: &str = "routes-test-1";

async fn send(app: &TestApp, method: Method, path: &str) -> Response {
    app.http.request(method, format!("{}{path}", app.address)).header("x-request-id", ID).send().await.unwrap()
}

/// Status, `Allow`, and the JSON body of a response that must be a GraphQL error.
async fn error_shape(response: Response) -> (u16, Option<String>, Value) {
    let status = response.status().as_u16();
    let allow = response.headers().get("allow").map(|value| value.to_str().unwrap().to_owned());
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/json"), "{status}: {content_type}");
    (status, allow, response.json().await.unwrap())
}

fn error_body(message: &str, code: &str) -> Value {
    json!({ "errors": [{ "message": message, "extensions": { "code": code, "requestId": ID } }] })
}

#[tokio::test]
async fn unknown_paths_and_the_root_are_not_found_naming_the_endpoint() {
    let app = spawn_app(Backend::Embedded).await;
    for (method, path) in
        [(Method::GET, "/"), (Method::POST, "/"), (Method::GET, "/nope/deeper"), (Method::DELETE, "/x")]
    {
        let (status, _, body) = error_shape(send(&app, method, path).await).await;
        let message = format!("there is nothing at {path}: the GraphQL endpoint is /graphql");
        assert_eq!((status, body), (404, error_body(&message, "NOT_FOUND")), "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_method_a_path_does_not_take_is_405_with_allow() {
    let app = spawn_app(Backend::Embedded).await;
    for (method, path, allowed) in [
        (Method::DELETE, "/graphql", "GET,HEAD,POST"),
        (Method::PUT, "/graphql", "GET,HEAD,POST"),
        (Method::POST, "/healthz", "GET,HEAD"),
        (Method::PATCH, "/metrics", "GET,HEAD"),
    ] {
        let (status, allow, body) = error_shape(send(&app, method.clone(), path).await).await;
        let message = format!("{method} is not allowed here");
        assert_eq!((status, allow.as_deref(), body), (405, Some(allowed), error_body(&message, "METHOD_NOT_ALLOWED")));
    }
    app.stop().await;
}

/// Without CORS configured, no preflight applies: 405 in the GraphQL shape (see `http.rs`).
#[tokio::test]
async fn options_without_cors_is_405_in_the_graphql_shape() {
    let app = spawn_app(Backend::Embedded).await;
    let response = app
        .http
        .request(Method::OPTIONS, format!("{}/graphql", app.address))
        .header("x-request-id", ID)
        .header("origin", "http://localhost:5173")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    let (status, allow, body) = error_shape(response).await;
    let message = "OPTIONS answers CORS preflights only, from the origins in CORS_ALLOWED_ORIGINS";
    assert_eq!(
        (status, allow.as_deref(), body),
        (405, Some("GET,HEAD,POST"), error_body(message, "METHOD_NOT_ALLOWED"))
    );
    app.stop().await;
}

#[tokio::test]
async fn a_query_string_that_does_not_read_is_a_bad_request_in_the_graphql_shape() {
    let app = spawn_app(Backend::Embedded).await;
    let (status, _, body) = error_shape(send(&app, Method::GET, "/graphql?query=%7Ba%7D&query=%7Bb%7D").await).await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["extensions"], json!({ "code": "BAD_REQUEST", "requestId": ID }), "{body}");
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("duplicate field `query`"), "{body}");
    app.stop().await;
}

async fn post_json(app: &TestApp, body: Value) -> Value {
    let response = app.http.post(format!("{}/graphql", app.address)).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

#[tokio::test]
async fn an_operation_that_could_not_run_has_no_data_key() {
    let app = spawn_app(Backend::Embedded).await;
    for query in ["{ users {", "{ nope }", "{ users(first: \"ten\") { totalCount } }"] {
        let body = post_json(&app, json!({ "query": query })).await;
        assert!(body.get("data").is_none(), "{query}: {body}");
        assert_eq!(body["errors"].as_array().map(Vec::len), Some(1), "{query}: {body}");
        let url = format!("{}/graphql", app.address);
        let by_get: Value = app.http.get(&url).query(&[("query", query)]).send().await.unwrap().json().await.unwrap();
        assert!(by_get.get("data").is_none(), "GET {query}: {by_get}");
    }
    // In a batch, only the operation that failed loses its `data`.
    let batch =
        post_json(&app, json!([{ "query": "{ __typename }" }, { "query": "{ nope }" }, { "query": "{ x" }])).await;
    assert_eq!(batch[0], json!({ "data": { "__typename": "Query" } }));
    for failed in [&batch[1], &batch[2]] {
        let keys: Vec<_> = failed.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["errors"], "{batch}");
    }
    app.stop().await;
}

/// `createUser` is `User!`: its null goes up to `data`, present and null since it ran.
pub async fn a_failed_non_null_root_mutation_field_makes_data_null(app: &TestApp) {
    let mut bad = new_user_input();
    bad["cpf"] = json!("111.111.111-11");
    let body = app
        .graphql(
            "mutation($good: CreateUserInput!, $bad: CreateUserInput!) { \
             a: createUser(input: $good) { id } b: createUser(input: $bad) { id } }",
            json!({ "good": new_user_input(), "bad": bad }),
        )
        .await;
    assert_eq!(body.as_object().unwrap().get("data"), Some(&Value::Null), "{body}");
    let errors = body["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["path"], json!(["b"]));
    assert_eq!(error_of(&body), ("BAD_USER_INPUT".to_owned(), Some("cpf".to_owned())));
}

pub async fn a_uuid_argument_of_any_wrong_kind_is_null_with_an_error_on_its_field(app: &TestApp) {
    let user = create_user(app).await;
    let id = user["id"].as_str().unwrap();
    for wrong in ["true", "[\"x\"]", "{ id: 1 }", "RED", "1.5"] {
        let query = format!("{{ a: user(id: {wrong}) {{ id }} b: user(id: \"{id}\") {{ id }} }}");
        let body = app.graphql(&query, json!({})).await;
        assert_eq!(body["data"].to_string(), json!({ "a": null, "b": { "id": id } }).to_string(), "{wrong}: {body}");
        let errors = body["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{wrong}: {body}");
        assert_eq!(errors[0]["path"], json!(["a"]), "{wrong}: {body}");
        assert_eq!(error_of(&body), ("BAD_USER_INPUT".to_owned(), Some("id".to_owned())), "{wrong}: {body}");
    }
}
