use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;

pub async fn an_order_totals_exactly(app: &TestApp) {
    let user = create_user(app).await;
    let order = create_order(app, user["id"].as_str().unwrap(), 7, "0.1").await;
    assert_eq!(order["itemPrice"], "0.10");
    assert_eq!(order["totalValue"], "0.70");
    assert_eq!(order["userId"], user["id"]);
    let order = create_order(app, user["id"].as_str().unwrap(), 3, "19.9").await;
    assert_eq!((order["itemPrice"].as_str(), order["totalValue"].as_str()), (Some("19.90"), Some("59.70")));
    let body = app
        .graphql(&format!("{{ order(id: \"{}\") {{ {ORDER_FIELDS} }} }}", order["id"].as_str().unwrap()), json!({}))
        .await;
    assert_eq!(body["data"]["order"], order);
}

pub async fn money_stays_exact_at_the_bounds(app: &TestApp) {
    let user = create_user(app).await;
    let id = user["id"].as_str().unwrap();
    let order = create_order(app, id, 1_000_000, "999999999.99").await;
    assert_eq!(order["totalValue"], "999999999990000.00");
    let order = create_order(app, id, 1, "1000000000").await;
    assert_eq!(order["totalValue"], "1000000000.00");
    let order = create_order(app, id, 1, "0").await;
    assert_eq!(order["totalValue"], "0.00");
}

pub async fn every_invalid_order_field_is_refused_and_nothing_is_created(app: &TestApp) {
    let user = create_user(app).await;
    let create = "mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }";
    let valid = json!({ "userId": user["id"], "itemDescription": "Pen", "itemQuantity": 1, "itemPrice": "1.00" });
    let cases = [
        ("itemDescription", json!("  ")),
        ("itemDescription", json!("x".repeat(501))),
        ("itemQuantity", json!(0)),
        ("itemQuantity", json!(1_000_001)),
        ("itemQuantity", json!(99_999_999_999_i64)),
        ("itemQuantity", json!(-99_999_999_999_i64)),
        ("itemQuantity", json!("2")),
        ("itemQuantity", json!(1.5)),
        ("itemPrice", json!("1000000000.01")),
        ("itemPrice", json!("1.234")),
        ("itemPrice", json!("-1")),
        ("itemPrice", json!("abc")),
        ("itemPrice", json!(19.9)),
        ("itemPrice", json!(20)),
    ];
    for (field, value) in cases {
        let mut input = valid.clone();
        input[field] = value.clone();
        let body = app.graphql(create, json!({ "input": input })).await;
        assert_eq!(error_of(&body), ("BAD_USER_INPUT".into(), Some(field.into())), "{field} = {value}: {body}");
    }
    // A GraphQL number literal is refused too.
    let literal = format!(
        "mutation {{ createOrder(input: {{ userId: \"{}\", itemDescription: \"Pen\", itemQuantity: 1, itemPrice: 1.5 }}) {{ id }} }}",
        user["id"].as_str().unwrap()
    );
    let body = app.graphql(&literal, json!({})).await;
    assert_eq!(error_of(&body), ("BAD_USER_INPUT".into(), Some("itemPrice".into())), "{body}");
    let body = app.graphql("{ orders { totalCount } }", json!({})).await;
    assert_eq!(body["data"]["orders"]["totalCount"], 0);
}

pub async fn an_order_for_a_missing_user_is_refused_on_user_id(app: &TestApp) {
    let body = app
        .graphql(
            "mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }",
            json!({ "input": { "userId": uuid::Uuid::now_v7(), "itemDescription": "Pen", "itemQuantity": 1, "itemPrice": "1" } }),
        )
        .await;
    assert_eq!(error_of(&body), ("BAD_USER_INPUT".into(), Some("userId".into())), "{body}");
}

pub async fn orders_are_listed_filtered_and_paged(app: &TestApp) {
    let (a, b) = (create_user(app).await, create_user(app).await);
    let mut of_a = Vec::new();
    for i in 0..3 {
        of_a.push(create_order(app, a["id"].as_str().unwrap(), i + 1, "2.50").await["id"].clone());
        create_order(app, b["id"].as_str().unwrap(), 1, "1").await;
    }
    let query = "query($user: UUID, $after: String) { orders(first: 2, userId: $user, after: $after) { totalCount nodes { id userId } pageInfo { hasNextPage endCursor } } }";
    let body = app.graphql(query, json!({ "user": a["id"] })).await;
    let orders = &body["data"]["orders"];
    assert_eq!(orders["totalCount"], 3, "{body}");
    assert_eq!(orders["nodes"].as_array().unwrap().iter().map(|o| o["id"].clone()).collect::<Vec<_>>(), of_a[..2]);
    assert_eq!(orders["pageInfo"]["hasNextPage"], true);
    let body = app.graphql(query, json!({ "user": a["id"], "after": orders["pageInfo"]["endCursor"] })).await;
    assert_eq!(body["data"]["orders"]["nodes"][0]["id"], of_a[2]);
    assert_eq!(body["data"]["orders"]["pageInfo"]["hasNextPage"], false);
    let body = app.graphql("{ orders { totalCount } }", json!({})).await;
    assert_eq!(body["data"]["orders"]["totalCount"], 6);
}

pub async fn an_order_update_recomputes_the_total(app: &TestApp) {
    let user = create_user(app).await;
    let order = create_order(app, user["id"].as_str().unwrap(), 2, "10").await;
    let update = format!(
        "mutation($id: UUID!, $input: UpdateOrderInput!) {{ updateOrder(id: $id, input: $input) {{ {ORDER_FIELDS} }} }}"
    );
    let body =
        app.graphql(&update, json!({ "id": order["id"], "input": { "itemQuantity": 3, "itemPrice": "0.33" } })).await;
    let updated = &body["data"]["updateOrder"];
    assert_eq!((updated["itemPrice"].as_str(), updated["totalValue"].as_str()), (Some("0.33"), Some("0.99")), "{body}");
    assert_eq!(updated["itemDescription"], order["itemDescription"]);
    let body = app.graphql(&update, json!({ "id": order["id"], "input": { "itemPrice": 5 } })).await;
    assert_eq!(error_of(&body), ("BAD_USER_INPUT".into(), Some("itemPrice".into())));
    let body = app.graphql(&update, json!({ "id": uuid::Uuid::now_v7(), "input": { "itemQuantity": 1 } })).await;
    assert_eq!(error_of(&body).0, "NOT_FOUND");
}

pub async fn a_deleted_order_is_gone(app: &TestApp) {
    let user = create_user(app).await;
    let order = create_order(app, user["id"].as_str().unwrap(), 1, "1").await;
    let delete = "mutation($id: UUID!) { deleteOrder(id: $id) }";
    assert_eq!(app.graphql(delete, json!({ "id": order["id"] })).await["data"]["deleteOrder"], true);
    assert_eq!(error_of(&app.graphql(delete, json!({ "id": order["id"] })).await).0, "NOT_FOUND");
    let body =
        app.graphql(&format!("{{ order(id: \"{}\") {{ id }} }}", order["id"].as_str().unwrap()), json!({})).await;
    assert!(body["data"]["order"].is_null());
}

pub async fn a_hundred_orders_with_their_users_cost_one_rpc_each(app: &TestApp) {
    let mut users = Vec::new();
    for _ in 0..10 {
        users.push(create_user(app).await);
    }
    for i in 0..100 {
        create_order(app, users[i % 10]["id"].as_str().unwrap(), 1, "1.00").await;
    }
    let (orders_before, users_before) =
        (app.rpc_count("orders", "orders.list").await, app.rpc_count("users", "users.get").await);
    let body = app.graphql("{ orders(first: 100) { nodes { id user { id nickName } } } }", json!({})).await;
    let nodes = body["data"]["orders"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 100, "{body}");
    assert!(nodes.iter().all(|order| order["user"]["id"].is_string()));
    assert_eq!(app.rpc_count("orders", "orders.list").await - orders_before, 1.0);
    assert_eq!(app.rpc_count("users", "users.get").await - users_before, 1.0, "one users RPC for all 100 orders");
}

pub async fn users_with_their_orders_cost_one_orders_rpc(app: &TestApp) {
    for i in 0..5 {
        let user = create_user(app).await;
        for _ in 0..i {
            create_order(app, user["id"].as_str().unwrap(), 1, "1").await;
        }
    }
    let before = app.rpc_count("orders", "orders.of_users").await;
    let body =
        app.graphql("{ users { nodes { id orders(first: 3) { totalCount nodes { userId } } } } }", json!({})).await;
    let users = body["data"]["users"]["nodes"].as_array().unwrap();
    let counts: Vec<i64> = users.iter().map(|user| user["orders"]["totalCount"].as_i64().unwrap()).collect();
    // The app's admin first, with no orders.
    assert_eq!(counts, vec![0, 0, 1, 2, 3, 4], "{body}");
    assert_eq!(users[5]["orders"]["nodes"].as_array().unwrap().len(), 3);
    assert!(
        users.iter().all(|user| user["orders"]["nodes"].as_array().unwrap().iter().all(|o| o["userId"] == user["id"]))
    );
    assert_eq!(app.rpc_count("orders", "orders.of_users").await - before, 1.0);
}

pub async fn deleting_a_user_deletes_their_orders_within_two_seconds(app: &TestApp) {
    let (gone, kept) = (create_user(app).await, create_user(app).await);
    for _ in 0..3 {
        create_order(app, gone["id"].as_str().unwrap(), 1, "1").await;
    }
    create_order(app, kept["id"].as_str().unwrap(), 1, "1").await;
    let body = app.graphql("mutation($id: UUID!) { deleteUser(id: $id) }", json!({ "id": gone["id"] })).await;
    assert_eq!(body["data"]["deleteUser"], true);
    let deleted_at = Instant::now();
    let query = "query($id: UUID) { orders(userId: $id) { totalCount } }";
    // Poll until the cascade is visible; the contract gives it two seconds.
    loop {
        let body = app.graphql(query, json!({ "id": gone["id"] })).await;
        if body["data"]["orders"]["totalCount"] == 0 {
            break;
        }
        assert!(deleted_at.elapsed() < Duration::from_secs(2), "orders still listed 2 s after deleteUser");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let body = app.graphql(query, json!({ "id": kept["id"] })).await;
    assert_eq!(body["data"]["orders"]["totalCount"], 1, "other users' orders stay");
    let body = app
        .graphql(
            "mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }",
            json!({ "input": { "userId": gone["id"], "itemDescription": "Pen", "itemQuantity": 1, "itemPrice": "1" } }),
        )
        .await;
    assert_eq!(error_of(&body), ("BAD_USER_INPUT".into(), Some("userId".into())));
}
