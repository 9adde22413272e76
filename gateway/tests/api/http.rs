use serde_json::{Value, json};

use crate::helpers::*;

async fn post(app: &TestApp, accept: &str, body: &str) -> (u16, String, Value) {
    let response = app
        .http
        .post(format!("{}/graphql", app.address))
        .header("content-type", "application/json")
        .header("accept", accept)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, content_type, body)
}

pub async fn responses_follow_the_accept_header(app: &TestApp) {
    let valid = r#"{"query":"{ users { totalCount } }"}"#;
    let invalid = r#"{"query":"{ users { noSuchField } }"}"#;
    let graphql_json = "application/graphql-response+json";
    let (status, content_type, body) = post(app, graphql_json, valid).await;
    assert_eq!((status, content_type.starts_with(graphql_json)), (200, true), "{body}");
    let (status, _, body) = post(app, graphql_json, invalid).await;
    assert_eq!(status, 400, "a document that fails validation is a 400 for graphql-response+json");
    assert_eq!(body["errors"][0]["extensions"]["code"], "GRAPHQL_VALIDATION_FAILED");
    let (status, content_type, body) = post(app, "application/json", invalid).await;
    assert_eq!((status, content_type.starts_with("application/json")), (200, true), "{body}");
    let (status, _, body) = post(app, graphql_json, r#"{"query":"{ users { "}"#).await;
    assert_eq!(status, 400);
    assert_eq!(body["errors"][0]["extensions"]["code"], "GRAPHQL_PARSE_FAILED");
    let (status, _, _) = post(app, "text/html", valid).await;
    assert_eq!(status, 406);
}

pub async fn a_body_that_is_not_json_is_a_bad_request(app: &TestApp) {
    for body in ["{not json", r#"{"variables": {}}"#, "[1, 2]"] {
        let (status, _, _) = post(app, "application/json", body).await;
        assert_eq!(status, 400, "{body}");
    }
}

pub async fn a_mutation_over_get_is_not_allowed(app: &TestApp) {
    let response = app
        .http
        .get(format!("{}/graphql", app.address))
        .query(&[("query", "mutation { deleteUser(id: \"0190b0a0-0000-7000-8000-000000000000\") }")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    let response = app
        .http
        .get(format!("{}/graphql", app.address))
        .query(&[("query", "{ users { totalCount } }")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["data"]["users"]["totalCount"], 1, "the app's admin");
}

pub async fn graphiql_is_served_to_browsers(app: &TestApp) {
    let response = app.http.get(format!("{}/graphql", app.address)).header("accept", "text/html").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    assert!(response.text().await.unwrap().contains("graphiql"));
}

pub async fn health_readiness_and_metrics_answer(app: &TestApp) {
    for path in ["/healthz", "/readyz"] {
        let response = app.http.get(format!("{}{path}", app.address)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    app.graphql("{ users { totalCount } }", json!({})).await;
    assert!(app.rpc_count("users", "users.list").await >= 1.0);
    let text = app.http.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    for name in ["gateway_cache_hits_total", "gateway_cache_misses_total"] {
        assert!(text.contains(name), "{name} missing from /metrics");
    }
}

/// In the document or in a variable, as text or as a number, as an argument or inside an input
/// object: a UUID that is not one is BAD_USER_INPUT on its own field, the same the second time
/// a document is sent (when it is no longer validated), and nothing is written.
pub async fn a_malformed_uuid_is_bad_user_input_on_its_field(app: &TestApp) {
    let user = create_user(app).await;
    let order = create_order(app, user["id"].as_str().unwrap(), 1, "1.00").await;
    let new_order = |user_id: Value| json!({ "input": { "userId": user_id, "itemDescription": "Pen", "itemQuantity": 1, "itemPrice": "1.00" } });
    let cases = [
        ("{ user(id: \"not-a-uuid\") { id } }", json!({}), "id"),
        ("query($id: UUID!) { user(id: $id) { id } }", json!({ "id": "nope" }), "id"),
        ("{ user(id: 5) { id } }", json!({}), "id"),
        ("query($id: UUID!) { order(id: $id) { id } }", json!({ "id": 5 }), "id"),
        ("query($id: UUID) { order(id: $id) { id } }", json!({}), "id"),
        ("query($user: UUID) { orders(userId: $user) { totalCount } }", json!({ "user": "1234" }), "userId"),
        (
            "mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }",
            new_order(json!("nope")),
            "userId",
        ),
        ("mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }", new_order(json!(7)), "userId"),
        ("mutation { updateUser(id: \"x\", input: { fullName: \"Changed\" }) { id } }", json!({}), "id"),
        ("mutation { updateOrder(id: 42, input: { itemQuantity: 9 }) { id } }", json!({}), "id"),
        ("mutation { changePassword(id: \"x\", currentPassword: \"a\", newPassword: \"bbbbbbbb\") }", json!({}), "id"),
        ("mutation { deleteUser(id: \"x\") }", json!({}), "id"),
        ("mutation { deleteOrder(id: \"x\") }", json!({}), "id"),
    ];
    for _ in 0..2 {
        for (query, variables, field) in &cases {
            let body = app.graphql(query, variables.clone()).await;
            assert_eq!(error_of(&body), ("BAD_USER_INPUT".into(), Some((*field).into())), "{query}: {body}");
            let message = body["errors"][0]["message"].as_str().unwrap();
            assert_eq!(message, format!("{field} is not a UUID"), "{query}: {body}");
        }
    }
    let body = app
        .graphql(
            "query($id: UUID!) { user(id: $id) { fullName } orders { totalCount nodes { itemQuantity } } }",
            json!({ "id": user["id"] }),
        )
        .await;
    assert_eq!(body["data"]["user"]["fullName"], user["fullName"], "{body}");
    assert_eq!(body["data"]["orders"]["totalCount"], 1, "{body}");
    assert_eq!(body["data"]["orders"]["nodes"][0]["itemQuantity"], order["itemQuantity"], "{body}");
}

pub async fn no_output_type_has_a_password_field(app: &TestApp) {
    let body = app.graphql("{ __schema { types { name kind fields { name } } } }", json!({})).await;
    for ty in body["data"]["__schema"]["types"].as_array().unwrap() {
        for field in ty["fields"].as_array().into_iter().flatten() {
            let name = field["name"].as_str().unwrap().to_lowercase();
            assert!(!name.contains("password") || ty["name"] == "Mutation", "{}.{name}", ty["name"]);
        }
    }
}

/// The fields of a response come in the order the query selected them (the specification's
/// CollectFields), also when a field that waits on a service is selected before one that does
/// not: async-graphql alone would write them as they finish.
pub async fn fields_come_back_in_the_order_the_query_selected_them(app: &TestApp) {
    let user = create_user(app).await;
    let order = create_order(app, user["id"].as_str().unwrap(), 2, "1.50").await;
    let query = "query($id: UUID!) { o: order(id: $id) { user { orders { totalCount } nickName } ...Ids totalValue } \
                 viewer { id } __typename } fragment Ids on Order { id userId id }";
    let response = app
        .http
        .post(format!("{}/graphql", app.address))
        .json(&json!({ "query": query, "variables": { "id": order["id"] } }))
        .send()
        .await
        .unwrap();
    let text = response.text().await.unwrap();
    let at = |key: &str| text.find(&format!("\"{key}\":")).unwrap_or_else(|| panic!("{key} in {text}"));
    let order_keys = [at("o"), at("user"), at("orders"), at("totalCount"), at("nickName"), at("id"), at("userId")];
    assert!(order_keys.is_sorted(), "{text}");
    assert!(
        at("userId") < at("totalValue") && at("totalValue") < at("viewer") && at("viewer") < at("__typename"),
        "{text}"
    );
}
