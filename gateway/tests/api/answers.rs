//! Whole answers from the cache: a repeated query is answered from one stored response,
//! without reading a field, and never stale: not after any write through this gateway or
//! another, nor after the cascade; and never another caller's.

use serde_json::{Value, json};

use crate::helpers::*;

const ANSWER_HITS: &str = "gateway_answer_cache_hits_total";
const FIELD_HITS: &str = "gateway_cache_hits_total";

/// A screen's query: a user with their orders, and the orders list with each order's user.
const SCREEN: &str = "query($u: UUID!) {
  user(id: $u) { fullName orders(first: 100) { totalCount nodes { id itemQuantity totalValue } } }
  orders(first: 100, userId: $u) { totalCount nodes { id itemQuantity totalValue user { id fullName } } }
}";

async fn screen(app: &TestApp, user: &str) -> Value {
    let body = app.graphql(SCREEN, json!({ "u": user })).await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"].clone()
}

/// What [`SCREEN`] must answer for a user named `name` with these orders (id, quantity, unit
/// price in cents), oldest first.
fn expected(user: &str, name: &str, orders: &[(String, i64, i64)]) -> Value {
    let total = |quantity: i64, cents: i64| format!("{}.{:02}", quantity * cents / 100, quantity * cents % 100);
    json!({
        "user": {
            "fullName": name,
            "orders": {
                "totalCount": orders.len(),
                "nodes": orders.iter().map(|(id, quantity, cents)| json!({
                    "id": id, "itemQuantity": quantity, "totalValue": total(*quantity, *cents),
                })).collect::<Vec<_>>(),
            },
        },
        "orders": {
            "totalCount": orders.len(),
            "nodes": orders.iter().map(|(id, quantity, cents)| json!({
                "id": id, "itemQuantity": quantity, "totalValue": total(*quantity, *cents),
                "user": { "id": user, "fullName": name },
            })).collect::<Vec<_>>(),
        },
    })
}

pub async fn a_repeated_query_is_answered_whole_without_reading_a_field(app: &TestApp) {
    let events = events_applied(&[app]).await;
    let user = create_user(app).await;
    let id = user["id"].as_str().unwrap();
    for quantity in 1..=3 {
        create_order(app, id, quantity, "2.50").await;
    }
    settle(&[app], events + 4.0).await;
    let first = screen(app, id).await;
    let (answers, fields) = (app.metric(ANSWER_HITS).await, app.metric(FIELD_HITS).await);
    let (users_gets, orders_lists) =
        (app.rpc_count("users", "users.get").await, app.rpc_count("orders", "orders.list").await);
    for _ in 0..5 {
        assert_eq!(screen(app, id).await, first);
    }
    assert_eq!(app.metric(ANSWER_HITS).await - answers, 5.0, "each repeat is one stored answer");
    assert_eq!(app.metric(FIELD_HITS).await, fields, "no field is read for a stored answer");
    assert_eq!(app.rpc_count("users", "users.get").await, users_gets);
    assert_eq!(app.rpc_count("orders", "orders.list").await, orders_lists);
    // Other variables are another answer.
    let other = create_user(app).await;
    let body = screen(app, other["id"].as_str().unwrap()).await;
    assert_eq!(body["user"]["fullName"], other["fullName"]);
    assert_eq!(body["orders"]["totalCount"], 0);
}

/// The events the services sent of writes to users and orders that `apps` (one gateway, or two
/// sharing a cache, either of which may apply one) have applied.
async fn events_applied(apps: &[&TestApp]) -> f64 {
    let mut applied = 0.0;
    for (i, app) in apps.iter().enumerate() {
        if apps[..i].iter().any(|other| std::ptr::eq(*other, *app)) {
            continue;
        }
        for key in ["user.created", "user.updated", "order.created", "order.updated", "order.deleted"] {
            applied += app.metric(&format!("gateway_events_total{{routing_key=\"{key}\"}}")).await;
        }
    }
    applied
}

/// Waits until `apps` applied `count` events: the service's own event of a write makes what
/// it changed stale a second time when it lands, so an answer stored before that is not
/// served after it, and a test counting hits waits for it first.
async fn settle(apps: &[&TestApp], count: f64) {
    for _ in 0..400 {
        if events_applied(apps).await >= count {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the services' events never reached the gateways");
}

/// 100 rounds of read, write, read: every kind of write to what the screen shows (a rename,
/// an order's change, a new order, a deleted one), each read back at once, whole answers
/// served in between. `reader` reads and `writer` writes in even rounds, the other way round
/// in odd ones (the same app twice for one gateway). Asserts that nothing was stale and that
/// the warm reads were stored answers.
async fn hundred_rounds(first: &TestApp, second: &TestApp) {
    let mut events = events_applied(&[first, second]).await;
    let user = create_user(first).await;
    let id = user["id"].as_str().unwrap().to_owned();
    let mut orders: Vec<(String, i64, i64)> = Vec::new();
    for quantity in 1..=2 {
        let order = create_order(first, &id, quantity, "1.25").await;
        orders.push((order["id"].as_str().unwrap().to_owned(), quantity, 125));
    }
    events += 3.0;
    let mut name = user["fullName"].as_str().unwrap().to_owned();
    let (mut stale, mut served) = (0, 0.0);
    for round in 0..100 {
        let (writer, reader) = if round % 2 == 0 { (first, second) } else { (second, first) };
        settle(&[first, second], events).await;
        // The first read stores the answer (or finds it), the second must be served it.
        assert_eq!(screen(reader, &id).await, expected(&id, &name, &orders), "round {round}: the warm read");
        let hits = reader.metric(ANSWER_HITS).await;
        assert_eq!(screen(reader, &id).await, expected(&id, &name, &orders), "round {round}: the stored answer");
        served += reader.metric(ANSWER_HITS).await - hits;
        match round % 4 {
            0 => {
                name = format!("Renamed {round}");
                let body = writer
                    .graphql(
                        "mutation($id: UUID!, $n: String!) { updateUser(id: $id, input: { fullName: $n }) { id } }",
                        json!({ "id": id, "n": name }),
                    )
                    .await;
                assert!(body.get("errors").is_none(), "{body}");
            }
            1 => {
                let (order, quantity, _) = &mut orders[0];
                *quantity = *quantity % 50 + 1;
                let body = writer
                    .graphql(
                        "mutation($id: UUID!, $q: Int!) { updateOrder(id: $id, input: { itemQuantity: $q }) { id } }",
                        json!({ "id": order, "q": quantity }),
                    )
                    .await;
                assert!(body.get("errors").is_none(), "{body}");
            }
            2 => {
                let order = create_order(writer, &id, 3, "0.99").await;
                orders.push((order["id"].as_str().unwrap().to_owned(), 3, 99));
            }
            _ => {
                let (order, ..) = orders.pop().unwrap();
                let body =
                    writer.graphql("mutation($id: UUID!) { deleteOrder(id: $id) }", json!({ "id": order })).await;
                assert_eq!(body["data"]["deleteOrder"], true, "{body}");
            }
        }
        events += 1.0;
        if screen(reader, &id).await != expected(&id, &name, &orders) {
            stale += 1;
        }
    }
    assert_eq!(stale, 0, "stale whole answers out of 100 reads after a write");
    assert_eq!(served, 100.0, "each round's write came after a stored answer was served");
}

pub async fn whole_answers_are_never_stale_after_a_hundred_writes(app: &TestApp) {
    hundred_rounds(app, app).await;
}

/// An answer that read more than a few records of one collection is checked against the
/// collection: 100 rounds of a write to one of 12 users or their orders, each read back at once.
pub async fn whole_answers_of_many_records_are_never_stale_after_a_hundred_writes(app: &TestApp) {
    let mut events = events_applied(&[app]).await;
    let mut rows = Vec::new();
    for _ in 0..12 {
        let user = create_user(app).await;
        let id = user["id"].as_str().unwrap().to_owned();
        let order = create_order(app, &id, 1, "1.00").await;
        rows.push((order["id"].as_str().unwrap().to_owned(), id, 1, user["fullName"].as_str().unwrap().to_owned()));
    }
    events += 24.0;
    let query = "{ orders(first: 100) { nodes { id itemQuantity user { id fullName } } } }";
    let expected = |rows: &[(String, String, i64, String)]| {
        let nodes: Vec<Value> = rows
            .iter()
            .map(|(order, user, quantity, name)| {
                json!({ "id": order, "itemQuantity": quantity, "user": { "id": user, "fullName": name } })
            })
            .collect();
        json!({ "orders": { "nodes": nodes } })
    };
    let (mut stale, mut served) = (0, 0.0);
    for round in 0..100 {
        settle(&[app], events).await;
        assert_eq!(app.graphql(query, json!({})).await["data"], expected(&rows), "round {round}: the warm read");
        let hits = app.metric(ANSWER_HITS).await;
        assert_eq!(app.graphql(query, json!({})).await["data"], expected(&rows), "round {round}: the stored answer");
        served += app.metric(ANSWER_HITS).await - hits;
        let row = &mut rows[round % 12];
        if round % 2 == 0 {
            row.3 = format!("Renamed {round}");
            let body = app
                .graphql(
                    "mutation($id: UUID!, $n: String!) { updateUser(id: $id, input: { fullName: $n }) { id } }",
                    json!({ "id": row.1, "n": row.3 }),
                )
                .await;
            assert!(body.get("errors").is_none(), "{body}");
        } else {
            row.2 = row.2 % 50 + 1;
            let body = app
                .graphql(
                    "mutation($id: UUID!, $q: Int!) { updateOrder(id: $id, input: { itemQuantity: $q }) { id } }",
                    json!({ "id": row.0, "q": row.2 }),
                )
                .await;
            assert!(body.get("errors").is_none(), "{body}");
        }
        events += 1.0;
        if app.graphql(query, json!({})).await["data"] != expected(&rows) {
            stale += 1;
        }
    }
    assert_eq!(stale, 0, "stale whole answers out of 100 reads after a write");
    assert_eq!(served, 100.0);
}

pub async fn whole_answers_are_never_stale_after_the_cascade(app: &TestApp) {
    let events = events_applied(&[app]).await;
    let user = create_user(app).await;
    let id = user["id"].as_str().unwrap();
    settle(&[app], events + 1.0).await;
    let events = events_applied(&[app]).await;
    for quantity in 1..=3 {
        create_order(app, id, quantity, "1.00").await;
    }
    settle(&[app], events + 3.0).await;
    let query = "query($u: UUID!) { orders(userId: $u) { totalCount nodes { id user { id } } } }";
    let warm = app.graphql(query, json!({ "u": id })).await;
    assert_eq!(warm["data"]["orders"]["totalCount"], 3, "{warm}");
    let hits = app.metric(ANSWER_HITS).await;
    assert_eq!(app.graphql(query, json!({ "u": id })).await, warm);
    assert_eq!(app.metric(ANSWER_HITS).await - hits, 1.0, "the answer is stored before the delete");

    let deleted = app.metric("gateway_events_total{routing_key=\"order.deleted\"}").await;
    let body = app.graphql("mutation($id: UUID!) { deleteUser(id: $id) }", json!({ "id": id })).await;
    assert_eq!(body["data"]["deleteUser"], true, "{body}");
    // The orders service deletes the orders on its own and tells of each; once this gateway
    // has heard all three, no answer that read them may be served.
    app.wait_for_events("order.deleted", deleted + 3.0).await;
    let body = app.graphql(query, json!({ "u": id })).await;
    assert_eq!(body["data"]["orders"], json!({ "totalCount": 0, "nodes": [] }), "stale after the cascade: {body}");
}

pub async fn an_answer_is_never_served_to_another_caller(app: &TestApp) {
    let (ana, ana_token) = app.sign_up().await;
    let (bia, bia_token) = app.sign_up().await;
    let viewer = "{ viewer { id nickName } }";
    for _ in 0..2 {
        for (user, token) in [(&ana, &ana_token), (&bia, &bia_token)] {
            let body = app.graphql_as(Some(token), viewer, json!({})).await;
            assert_eq!(body["data"]["viewer"]["id"], user["id"], "{body}");
        }
    }
    // Two admins share one view of the records, never their answers.
    app.set_admin(bia["nickName"].as_str().unwrap(), true).await;
    let bia_admin = app.login(bia["nickName"].as_str().unwrap(), "correct horse battery").await;
    for _ in 0..2 {
        assert_eq!(app.graphql_as(Some(&bia_admin), viewer, json!({})).await["data"]["viewer"]["id"], bia["id"]);
        assert_ne!(app.graphql(viewer, json!({})).await["data"]["viewer"]["id"], bia["id"]);
    }
    // Ana's record, stored for her, reads as nothing for somebody else.
    let query = "query($id: UUID!) { user(id: $id) { id email } }";
    for _ in 0..2 {
        let body = app.graphql_as(Some(&ana_token), query, json!({ "id": ana["id"] })).await;
        assert_eq!(body["data"]["user"]["email"], ana["email"], "{body}");
    }
    let (_, cleo_token) = app.sign_up().await;
    let body = app.graphql_as(Some(&cleo_token), query, json!({ "id": ana["id"] })).await;
    assert_eq!(body["data"]["user"], Value::Null, "{body}");
}

pub async fn mutations_and_failed_queries_are_never_stored(app: &TestApp) {
    let hits = app.metric(ANSWER_HITS).await;
    let user = create_user(app).await;
    let id = user["id"].as_str().unwrap();
    let failing = "query($id: UUID!) { user(id: $id) { id } users(first: 100000) { totalCount } }";
    for _ in 0..3 {
        let body = app.graphql(failing, json!({ "id": id })).await;
        assert!(body.get("errors").is_some(), "{body}");
        let body = app.graphql("{ __typename }", json!({})).await;
        assert_eq!(body["data"]["__typename"], "Query");
    }
    assert_eq!(app.metric(ANSWER_HITS).await, hits, "an answer with an error is not stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_answers_are_never_stale_across_two_gateways_sharing_redis() {
    let first = spawn_app(Backend::RabbitMq).await;
    let second = first.second_gateway().await;
    hundred_rounds(&first, &second).await;
    second.stop().await;
    first.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_off_with_cache_answers_false() {
    let app = spawn_app_with(Backend::RabbitMq, |config| config.cache_answers = false).await;
    let user = create_user(&app).await;
    let id = user["id"].as_str().unwrap();
    for _ in 0..3 {
        screen(&app, id).await;
    }
    assert_eq!(app.metric(ANSWER_HITS).await, 0.0);
    assert!(app.metric(FIELD_HITS).await >= 2.0, "fields are still cached");
    app.stop().await;
}
