//! Issue 14: a field that fails is `null` (or its nearest nullable parent is), never a missing
//! key and never a `null` where the schema says there cannot be one; and an input error is one
//! error, with its field.

use serde_json::{Value, json};

use crate::helpers::*;

/// The one error of `body`, checked for its path and code.
fn the_error(body: &Value, path: Value, code: &str) -> Value {
    let errors = body["errors"].as_array().unwrap_or_else(|| panic!("no errors in {body}"));
    assert_eq!(errors.len(), 1, "{body}");
    assert_eq!(errors[0]["path"], path, "{body}");
    assert_eq!(errors[0]["extensions"]["code"], code, "{body}");
    errors[0].clone()
}

pub async fn a_failing_user_orders_is_null_and_its_user_stays_in_the_list(app: &TestApp) {
    // The app's admin is the first user: the list starts after it, at ours.
    let first = app.graphql("{ users(first: 1) { pageInfo { endCursor } } }", json!({})).await;
    let after = json!({ "after": first["data"]["users"]["pageInfo"]["endCursor"] });
    let user = create_user(app).await;
    // Only the failing field selected: the user object must still be there, with the key.
    let query = "query($after: String) { users(after: $after) { nodes { orders(first: 101) { totalCount } } } }";
    let body = app.graphql(query, after.clone()).await;
    assert_eq!(body["data"], json!({ "users": { "nodes": [{ "orders": null }] } }), "{body}");
    let error = the_error(&body, json!(["users", "nodes", 0, "orders"]), "BAD_USER_INPUT");
    assert_eq!(error["extensions"]["field"], "first");

    let query = "query($after: String) { users(after: $after) { nodes { id orders(first: 101) { totalCount } } } }";
    let body = app.graphql(query, after).await;
    assert_eq!(body["data"], json!({ "users": { "nodes": [{ "id": user["id"], "orders": null }] } }), "{body}");
    the_error(&body, json!(["users", "nodes", 0, "orders"]), "BAD_USER_INPUT");

    // A failing root field next to one that works: both keys.
    let body = app.graphql("{ users(first: 1) { totalCount } orders(first: 101) { totalCount } }", json!({})).await;
    assert_eq!(body["data"], json!({ "users": { "totalCount": 2 }, "orders": null }), "{body}");
    the_error(&body, json!(["orders"]), "BAD_USER_INPUT");
}

pub async fn a_variable_of_the_wrong_kind_is_one_error_with_its_field(app: &TestApp) {
    for (query, variables) in [
        ("query($f: Int) { users(first: $f) { totalCount } }", json!({ "f": "ten" })),
        ("query($f: Int) { orders(first: $f) { totalCount } }", json!({ "f": "ten" })),
        ("query($f: Int) { users { nodes { orders(first: $f) { totalCount } } } }", json!({ "f": "ten" })),
        ("{ users(first: \"ten\") { totalCount } }", json!({})),
    ] {
        let body = app.graphql(query, variables).await;
        let errors = body["errors"].as_array().unwrap_or_else(|| panic!("no errors in {body}"));
        assert_eq!(errors.len(), 1, "{query}: {body}");
        assert_eq!(error_of(&body), ("BAD_USER_INPUT".to_owned(), Some("first".to_owned())), "{query}: {body}");
    }
}

/// `-0` is an `Int` literal (the grammar's IntValue: `-`? then `0`), and its value is 0.
///
/// async-graphql's parser hands the literal's text to serde_json, which reads `-0` as the float
/// -0.0, and its `Int` then refuses a float. So the text scan before parsing
/// (`request/limits.rs`) reads the token `-0` as ` 0`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minus_zero_is_an_int_literal() {
    let app = spawn_app(Backend::Embedded).await;
    create_user(&app).await;
    let body = app.graphql("{ users(first: -0) { totalCount nodes { id } } }", json!({})).await;
    assert_eq!(body, json!({ "data": { "users": { "totalCount": 2, "nodes": [] } } }));
    app.stop().await;
}

/// `-0` in JSON variables is an `Int` too, as it is in the document: JSON has one kind of number,
/// and serde_json reads `-0` as the float -0.0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minus_zero_in_variables_is_an_int() {
    let app = spawn_app(Backend::Embedded).await;
    create_user(&app).await;
    let query = "query($n: Int) { users(first: $n) { totalCount nodes { id } } }";
    let body = app.graphql(query, serde_json::from_str(r#"{ "n": -0 }"#).unwrap()).await;
    assert_eq!(body, json!({ "data": { "users": { "totalCount": 2, "nodes": [] } } }));
    app.stop().await;
}

const TIMEOUT_MS: u64 = 1000;

/// The users service down: every field that needs it is `null`, key present, one error each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_users_service_down_its_fields_are_null_not_missing() {
    let mut app = spawn_app_with(Backend::RabbitMq, |config| config.rpc_timeout_ms = TIMEOUT_MS).await;
    let user = create_user(&app).await;
    let id = user["id"].as_str().unwrap().to_owned();
    let order = create_order(&app, &id, 1, "1").await;
    // Cached while the service is up, so only what is asked afresh below needs it.
    app.graphql("{ orders(first: 1) { totalCount } }", json!({})).await;
    app.graphql("{ orders { nodes { id } } }", json!({})).await;
    app.stack().users_worker.take().unwrap().stop().await;

    let body = app
        .graphql("query($id: UUID!) { orders(first: 1) { totalCount } user(id: $id) { id } }", json!({ "id": id }))
        .await;
    assert_eq!(body["data"], json!({ "orders": { "totalCount": 1 }, "user": null }), "{body}");
    the_error(&body, json!(["user"]), "SERVICE_UNAVAILABLE");

    let body = app.graphql("{ orders { nodes { id user { id } } } }", json!({})).await;
    assert_eq!(body["data"], json!({ "orders": { "nodes": [{ "id": order["id"], "user": null }] } }), "{body}");
    the_error(&body, json!(["orders", "nodes", 0, "user"]), "SERVICE_UNAVAILABLE");

    // Only the failing field under each node: the node keeps its key, it is not null.
    let body = app.graphql("{ orders { nodes { user { id } } } }", json!({})).await;
    assert_eq!(body["data"], json!({ "orders": { "nodes": [{ "user": null }] } }), "{body}");

    let body = app.graphql("{ userByNickName(nickName: \"somebody\") { id } users { totalCount } }", json!({})).await;
    assert_eq!(body["data"], json!({ "userByNickName": null, "users": null }), "{body}");
    assert_eq!(body["errors"].as_array().map(Vec::len), Some(2), "{body}");
    app.stop().await;
}
