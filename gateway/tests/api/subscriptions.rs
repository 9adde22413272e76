//! Live updates over real RabbitMQ, PostgreSQL and Redis (`API.md`, "Live updates"): two
//! gateways on one stack, subscribers on each, writes through either, the cascade, a stalled
//! subscriber and a broker restart. The client is graphql-transport-ws over tokio-tungstenite
//! (`live_client`); the `graphql-ws` library's own suite is `clients/test/subscriptions.test.js`.
use std::collections::HashSet;

use serde_json::{Value, json};
use test_support::PrivateRabbitMq;

use crate::{
    helpers::*,
    live_client::{LiveClient, WAIT, wait_for_subscriptions},
};

const ORDER_CHANGES: &str = "subscription($userId: UUID) { orderChanges(userId: $userId) { kind orderId userId order { totalValue user { nickName } } } }";

const UPDATE_ORDER: &str =
    "mutation($id: UUID!, $q: Int) { updateOrder(id: $id, input: { itemQuantity: $q }) { totalValue } }";

async fn create_order_as(app: &TestApp, token: &str, user_id: &str, quantity: i64) -> String {
    let body = app
        .graphql_as(
            Some(token),
            "mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }",
            json!({ "input": { "userId": user_id, "itemDescription": "A lamp", "itemQuantity": quantity, "itemPrice": "2.50" } }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["createOrder"]["id"].as_str().unwrap().to_owned()
}

async fn update_order_as(app: &TestApp, token: &str, id: &str, quantity: i64) {
    let body = app.graphql_as(Some(token), UPDATE_ORDER, json!({ "id": id, "q": quantity })).await;
    assert!(body.get("errors").is_none(), "{body}");
}

/// Reads `client`'s changes of operation `id` until one says `total`: a change made after the
/// subscription, so that what the gateway heard of the record before (its creation, when it
/// came after the subscription) is behind the client then.
/// (A creation heard late reads the order as it is by then: an UPDATED is what to wait for.)
async fn read_until_total(client: &mut LiveClient, id: &str, total: &str) {
    for _ in 0..10 {
        let payload = client.next(id).await;
        if change(&payload)["kind"] == "UPDATED" && change(&payload)["order"]["totalValue"] == total {
            return;
        }
    }
    panic!("no change with total {total} came");
}

fn change(payload: &Value) -> &Value {
    assert!(payload.get("errors").is_none(), "{payload}");
    &payload["data"]["orderChanges"]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_through_either_gateway_reaches_the_subscribers_of_both_and_no_one_else() {
    let a = spawn_app(Backend::RabbitMq).await;
    let b = a.second_gateway().await;
    let (user, token) = a.sign_up().await;
    let (other, other_token) = a.sign_up().await;
    let user_id = user["id"].as_str().unwrap();
    let nick_name = user["nickName"].as_str().unwrap();
    let mut on_a = LiveClient::connect(&a, Some(&token)).await;
    let mut on_b = LiveClient::connect(&b, Some(&token)).await;
    on_a.subscribe("mine", ORDER_CHANGES, json!({})).await;
    on_b.subscribe("mine", ORDER_CHANGES, json!({})).await;
    wait_for_subscriptions(&a, 1.0).await;
    wait_for_subscriptions(&b, 1.0).await;

    // Another user's order first: what arrives next must be our own.
    create_order_as(&a, &other_token, other["id"].as_str().unwrap(), 1).await;
    let order_id = create_order_as(&b, &token, user_id, 2).await;
    for client in [&mut on_a, &mut on_b] {
        let payload = client.next("mine").await;
        assert_eq!(
            change(&payload),
            &json!({ "kind": "CREATED", "orderId": order_id, "userId": user_id,
                     "order": { "totalValue": "5.00", "user": { "nickName": nick_name } } }),
        );
        // The fields in the order the query selected them.
        let text = client.last_text();
        let at = |field: &str| text.find(&format!("\"{field}\":")).unwrap_or_else(|| panic!("{field} in {text}"));
        assert!(at("kind") < at("orderId") && at("orderId") < at("userId") && at("userId") < at("order"), "{text}");
    }
    update_order_as(&a, &token, &order_id, 3).await;
    for client in [&mut on_a, &mut on_b] {
        let payload = client.next("mine").await;
        assert_eq!(
            (&change(&payload)["kind"], &change(&payload)["order"]["totalValue"]),
            (&json!("UPDATED"), &json!("7.50"))
        );
    }
    let body =
        b.graphql_as(Some(&token), "mutation($id: UUID!) { deleteOrder(id: $id) }", json!({ "id": order_id })).await;
    assert_eq!(body["data"]["deleteOrder"], true, "{body}");
    for client in [&mut on_a, &mut on_b] {
        let payload = client.next("mine").await;
        assert_eq!((&change(&payload)["kind"], &change(&payload)["order"]), (&json!("DELETED"), &Value::Null));
    }

    // Signing out through one gateway closes the token's sockets on both.
    let body = b.graphql_as(Some(&token), "mutation { logout }", json!({})).await;
    assert_eq!(body["data"]["logout"], true, "{body}");
    assert_eq!(on_a.closed().await.0, 4401);
    assert_eq!(on_b.closed().await.0, 4401);
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_is_read_once_for_all_the_subscribers_of_a_gateway() {
    let a = spawn_app(Backend::RabbitMq).await;
    let b = a.second_gateway().await;
    let (user, token) = a.sign_up().await;
    let order_id = create_order_as(&b, &token, user["id"].as_str().unwrap(), 1).await;
    let mut subscribers = Vec::new();
    for _ in 0..20 {
        let mut client = LiveClient::connect(&a, Some(&token)).await;
        client.subscribe("1", ORDER_CHANGES, json!({})).await;
        subscribers.push(client);
    }
    wait_for_subscriptions(&a, 20.0).await;
    update_order_as(&b, &token, &order_id, 2).await;
    for client in &mut subscribers {
        read_until_total(client, "1", "5.00").await;
    }
    let (orders_before, users_before) =
        (a.rpc_count("orders", "orders.get").await, a.rpc_count("users", "users.get").await);
    // Through the other gateway: gateway `a` reads only for its subscribers.
    update_order_as(&b, &token, &order_id, 4).await;
    for client in &mut subscribers {
        let payload = client.next("1").await;
        assert_eq!(change(&payload)["order"]["totalValue"], "10.00", "{payload}");
    }
    let orders_read = a.rpc_count("orders", "orders.get").await - orders_before;
    let users_read = a.rpc_count("users", "users.get").await - users_before;
    assert_eq!(orders_read, 1.0, "one read of the order for 20 subscribers");
    assert!(users_read <= 1.0, "at most one read of its user for 20 subscribers: {users_read}");
    b.stop().await;
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cascade_s_deletions_reach_an_admin_and_the_deleted_user_s_socket_closes() {
    let app = spawn_app(Backend::RabbitMq).await;
    let (user, token) = app.sign_up().await;
    let user_id = user["id"].as_str().unwrap();
    let mut orders = HashSet::new();
    for quantity in 1..=3 {
        orders.insert(create_order_as(&app, &token, user_id, quantity).await);
    }
    let mut admin = LiveClient::connect(&app, Some(&app.admin_token)).await;
    admin.subscribe("theirs", ORDER_CHANGES, json!({ "userId": user_id })).await;
    let mut own = LiveClient::connect(&app, Some(&token)).await;
    own.subscribe("mine", ORDER_CHANGES, json!({})).await;
    wait_for_subscriptions(&app, 2.0).await;
    let newest = orders.iter().max().unwrap().clone();
    update_order_as(&app, &token, &newest, 10).await;
    read_until_total(&mut admin, "theirs", "25.00").await;
    read_until_total(&mut own, "mine", "25.00").await;
    // The other two orders' creations may still be on their way: skipped below.

    let body =
        app.graphql_as(Some(&token), "mutation($id: UUID!) { deleteUser(id: $id) }", json!({ "id": user_id })).await;
    assert_eq!(body["data"]["deleteUser"], true, "{body}");
    let mut deleted = HashSet::new();
    while deleted.len() < 3 {
        let payload = admin.next("theirs").await;
        assert_eq!(change(&payload)["userId"], user_id);
        match change(&payload)["kind"].as_str() {
            Some("DELETED") => assert!(deleted.insert(change(&payload)["orderId"].as_str().unwrap().to_owned())),
            Some("CREATED") => assert_ne!(change(&payload)["orderId"], newest.as_str(), "heard before"),
            _ => panic!("{payload}"),
        }
    }
    assert_eq!(deleted, orders);
    assert_eq!(own.closed().await.0, 4401, "the deleted user's session ended");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_does_not_read_is_dropped_and_the_others_never_wait() {
    let app = spawn_app_with(Backend::RabbitMq, |config| {
        config.live.subscriber_buffer = 4;
        // The stalled client answers no ping either: that rule is not the one under test.
        config.live.keepalive_seconds = 0;
    })
    .await;
    let (user, token) = app.sign_up().await;
    let body = app
        .graphql_as(
            Some(&token),
            "mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }",
            json!({ "input": { "userId": user["id"], "itemDescription": "a".repeat(500), "itemQuantity": 1, "itemPrice": "2.50" } }),
        )
        .await;
    let order_id = body["data"]["createOrder"]["id"].as_str().unwrap_or_else(|| panic!("{body}")).to_owned();
    // A small receive buffer; then nothing is read from it. Each change it follows is some
    // 14 KB (the 500 characters twenty times over), so the kernel's buffers fill soon.
    let mut stalled = LiveClient::open(&app, Some(4096)).await;
    stalled.init(Some(&token)).await;
    assert_eq!(stalled.message().await["type"], "connection_ack");
    let copies: String =
        (0..20).map(|i| format!(" copy{i}: order {{ id itemDescription totalValue updatedAt }}")).collect();
    stalled.subscribe("wide", &format!("subscription {{ orderChanges {{ kind{copies} }} }}"), json!({})).await;
    let mut reader = LiveClient::connect(&app, Some(&token)).await;
    reader.subscribe("1", ORDER_CHANGES, json!({})).await;
    wait_for_subscriptions(&app, 2.0).await;
    update_order_as(&app, &token, &order_id, 100).await;
    read_until_total(&mut reader, "1", "250.00").await;

    let dropped = "gateway_websocket_closes_total{code=\"1013\"}";
    let mut changes = 0;
    while app.metric(dropped).await < 1.0 {
        assert!(changes < 2_000, "the stalled subscriber was never dropped");
        changes += 1;
        update_order_as(&app, &token, &order_id, changes % 50 + 1).await;
        // Every change reaches the subscriber that reads, each before the next write.
        let payload = tokio::time::timeout(WAIT, reader.next("1")).await.expect("the reader is not held up");
        assert_eq!(change(&payload)["kind"], "UPDATED");
    }
    assert_eq!(app.metric("gateway_subscriptions").await, 1.0, "only the stalled subscriber was dropped");
    update_order_as(&app, &token, &order_id, 99).await;
    assert_eq!(change(&reader.next("1").await)["order"]["totalValue"], "247.50");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_broker_restart_subscribers_are_told_to_reconnect_and_then_hear_every_change() {
    let broker = PrivateRabbitMq::start().await;
    let app = spawn_app_on_broker(&broker.url, |config| config.rpc_timeout_ms = 1000).await;
    let (user, token) = app.sign_up().await;
    let user_id = user["id"].as_str().unwrap();
    let mut client = LiveClient::connect(&app, Some(&token)).await;
    client.subscribe("1", ORDER_CHANGES, json!({})).await;
    wait_for_subscriptions(&app, 1.0).await;
    let order_id = create_order_as(&app, &token, user_id, 1).await;
    assert_eq!(change(&client.next("1").await)["kind"], "CREATED");

    broker.stop_app().await;
    broker.start_app().await;
    app.wait_until_ready().await;
    // Changes may have gone by while the gateway's queue was gone: the socket says so.
    let (code, reason) = client.closed().await;
    assert_eq!(code, 1012, "{reason}");

    let mut again = LiveClient::connect(&app, Some(&token)).await;
    again.subscribe("1", ORDER_CHANGES, json!({})).await;
    wait_for_subscriptions(&app, 1.0).await;
    update_order_as(&app, &token, &order_id, 2).await;
    let payload = again.next("1").await;
    assert_eq!(
        (&change(&payload)["kind"], &change(&payload)["order"]["totalValue"]),
        (&json!("UPDATED"), &json!("5.00"))
    );
    app.stop().await;
}

#[tokio::test]
async fn a_socket_closes_when_its_token_expires_and_a_subscription_over_http_is_refused() {
    let app = spawn_app_with(Backend::Embedded, |config| config.token_ttl_seconds = 2).await;
    let (_, token) = app.sign_up().await;
    let mut client = LiveClient::connect(&app, Some(&token)).await;
    client.subscribe("1", ORDER_CHANGES, json!({})).await;
    let (code, reason) = client.closed().await;
    assert_eq!((code, reason.as_str()), (4401, "the token has expired: sign in again"));

    let body = app.graphql("subscription { orderChanges { kind } }", json!({})).await;
    assert_eq!(error_of(&body).0, "BAD_REQUEST", "{body}");
    app.stop().await;
}

#[tokio::test]
async fn a_socket_runs_at_most_its_limit_of_operations_and_refuses_a_message_too_large() {
    let app = spawn_app_with(Backend::Embedded, |config| {
        config.live.max_subscriptions = 2;
        config.limits.max_body_bytes = 4096;
    })
    .await;
    let (_, token) = app.sign_up().await;
    let mut client = LiveClient::connect(&app, Some(&token)).await;
    client.subscribe("1", ORDER_CHANGES, json!({})).await;
    client.subscribe("2", ORDER_CHANGES, json!({})).await;
    client.subscribe("3", ORDER_CHANGES, json!({})).await;
    let refused = client.message().await;
    assert_eq!((&refused["type"], &refused["id"]), (&json!("error"), &json!("3")), "{refused}");
    assert_eq!(refused["payload"][0]["extensions"]["code"], "TOO_MANY_REQUESTS", "{refused}");
    // The socket stays open: one completed, another may start.
    client.send(json!({ "id": "1", "type": "complete" })).await;
    client.subscribe("3", "{ viewer { id } }", json!({})).await;
    assert!(client.next("3").await["data"]["viewer"]["id"].is_string());
    assert_eq!(client.message().await, json!({ "id": "3", "type": "complete" }));

    client.subscribe("4", &format!("{{ viewer {{ id }} }} # {}", "x".repeat(5000)), json!({})).await;
    assert_eq!(client.closed().await.0, 1009);
    app.stop().await;
}

#[tokio::test]
async fn the_gateway_pings_and_closes_a_socket_that_answers_nothing() {
    let app = spawn_app_with(Backend::Embedded, |config| config.live.keepalive_seconds = 1).await;
    let mut client = LiveClient::connect(&app, None).await;
    assert_eq!(client.raw_message().await, json!({ "type": "ping" }));
    let (code, reason) = client.closed().await;
    assert_eq!((code, reason.as_str()), (1001, "no answer to the keep-alive ping"));
    // One that answers stays open past several pings.
    let mut answering = LiveClient::connect(&app, None).await;
    answering.subscribe("1", "subscription { userChanges { kind } }", json!({})).await;
    let refused = answering.next("1").await;
    assert_eq!(refused["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{refused}");
    assert_eq!(answering.message().await, json!({ "id": "1", "type": "complete" }));
    for _ in 0..3 {
        assert_eq!(answering.raw_message().await, json!({ "type": "ping" }));
        answering.send(json!({ "type": "pong" })).await;
    }
    app.stop().await;
}
