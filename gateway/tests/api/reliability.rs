//! Nothing lost, nothing run twice (`DESIGN.md`, "Outbox, deadlines and outcomes"; issue 16):
//! an event survives the process or the broker failing after its commit, a client's retry with
//! an `Idempotency-Key` changes nothing, and a shared cache hears what changed while no gateway
//! ran.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use rpc::{Broker, Caller, Envelope, EventPublisher, users::DeleteUser};
use serde_json::{Value, json};
use test_support::PrivateRabbitMq;

use crate::helpers::*;

const ORDERS_OF: &str = "query($id: UUID!) { orders(userId: $id, first: 100) { totalCount } }";

async fn orders_of(app: &TestApp, user_id: &str) -> Value {
    app.graphql(ORDERS_OF, json!({ "id": user_id })).await["data"]["orders"]["totalCount"].clone()
}

/// Polls until `user_id` has no orders listed; how long that took. Panics after `within`.
async fn until_no_orders(app: &TestApp, user_id: &str, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if orders_of(app, user_id).await == json!(0) {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "the deleted user's orders were still listed after {within:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A user with three orders, the orders read once (so a cache holds them).
async fn user_with_three_orders(app: &TestApp) -> String {
    let user = create_user(app).await;
    let id = user["id"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        create_order(app, &id, 1, "2.50").await;
    }
    assert_eq!(orders_of(app, &id).await, 3);
    id
}

/// A publisher whose broker is gone: what a process sees that loses the broker at its commit.
struct Unreachable;

#[async_trait::async_trait]
impl EventPublisher for Unreachable {
    async fn publish(&self, _: &[Envelope]) -> anyhow::Result<()> {
        anyhow::bail!("the broker is unreachable")
    }
}

/// The users service's deletion as a worker runs it, with `events` as its publisher: the
/// commit, and whatever the outbox then manages to publish.
async fn delete_as_a_worker(app: &TestApp, user_id: &str, events: Arc<dyn EventPublisher>) -> users_worker::Context {
    delete_as_a_worker_on(&app.users_database_url(), user_id, events).await
}

/// `deleteUser` commits, then its worker dies before publishing `user.deleted` (its relay never
/// runs), and no request is ever redelivered: the next users worker to start publishes the
/// event from the outbox, and the orders go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_whose_worker_died_after_the_commit_still_takes_the_orders() {
    let mut app = spawn_app_with(Backend::RabbitMq, |config| config.rpc_timeout_ms = 1000).await;
    let user = user_with_three_orders(&app).await;
    app.stack().users_worker.take().unwrap().stop().await;

    // The worker that took the request: committed, never published, killed.
    drop(delete_as_a_worker(&app, &user, Arc::new(Unreachable)).await);
    assert_eq!(orders_of(&app, &user).await, 3, "no event went out: the orders are still there");

    // Back after the timeout, with the request long expired: only the outbox remembers.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (url, db) = (app.stack().amqp_url.clone(), app.stack().users_db.url.clone());
    let started = Instant::now();
    app.stack().users_worker = Some(start_users_worker(&url, &db).await);
    let gone = until_no_orders(&app, &user, Duration::from_secs(2)).await;
    eprintln!("orphans gone {:?} after the users worker came back", started.elapsed().max(gone));
    app.stop().await;
}

/// `deleteUser` commits while the broker is down (restarted at the commit): the worker's relay
/// keeps the event and publishes it once the broker is back; the orders go with no retry from
/// any client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_committed_while_the_broker_restarts_still_takes_the_orders() {
    let broker = PrivateRabbitMq::start().await;
    let app = spawn_app_on_broker(&broker.url, |config| config.rpc_timeout_ms = 1000).await;
    let user = user_with_three_orders(&app).await;

    broker.stop_app().await;
    // The worker that took the request commits while the broker is gone, and stays up: its
    // relay retries.
    let ctx = delete_as_a_worker(&app, &user, Broker::amqp(&broker.url).publisher("test-users-worker")).await;
    let relay_stop = tokio_util::sync::CancellationToken::new();
    let relay = tokio::spawn(ctx.outbox.clone().relay(relay_stop.clone()));
    broker.start_app().await;

    app.wait_until_ready().await;
    let gone = until_no_orders(&app, &user, Duration::from_secs(2)).await;
    eprintln!("orphans gone {gone:?} after the stack was ready again");
    relay_stop.cancel();
    relay.await.unwrap();
    app.stop().await;
}

const CREATE_ORDER: &str = "mutation($input: CreateOrderInput!) { createOrder(input: $input) { id totalValue } }";

/// POSTs `query` as `token` with an `Idempotency-Key`.
async fn keyed(app: &TestApp, token: &str, key: &str, query: &str, variables: Value) -> Value {
    let response = app
        .anonymous_http
        .post(format!("{}/graphql", app.address))
        .bearer_auth(token)
        .header("Idempotency-Key", key)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// A client retrying `createOrder` with one key makes one order, however often and however
/// concurrently it retries; the same key with other input is refused; keys are per caller.
pub async fn a_create_order_retried_with_one_key_makes_one_order(app: &TestApp) {
    let (user, token) = app.sign_up().await;
    let input =
        json!({ "input": { "userId": user["id"], "itemDescription": "tea", "itemQuantity": 2, "itemPrice": "1.25" } });
    let key = format!("retry-{}", uuid::Uuid::now_v7());
    let first = keyed(app, &token, &key, CREATE_ORDER, input.clone()).await;
    let order = first["data"]["createOrder"].clone();
    assert_eq!(order["totalValue"], "2.50", "{first}");
    // Ten retries: four one after the other, six at once.
    for _ in 0..4 {
        assert_eq!(keyed(app, &token, &key, CREATE_ORDER, input.clone()).await, first);
    }
    let retries = (0..6).map(|_| keyed(app, &token, &key, CREATE_ORDER, input.clone()));
    for retry in futures_util::future::join_all(retries).await {
        assert_eq!(retry, first);
    }
    let count = app.graphql_as(Some(&token), ORDERS_OF, json!({ "id": user["id"] })).await;
    assert_eq!(count["data"]["orders"]["totalCount"], 1, "{count}");

    // The same key for other input is a client's mistake, and changes nothing.
    let other =
        json!({ "input": { "userId": user["id"], "itemDescription": "coffee", "itemQuantity": 1, "itemPrice": "3" } });
    let refused = keyed(app, &token, &key, CREATE_ORDER, other.clone()).await;
    assert_eq!(error_of(&refused).0, "BAD_USER_INPUT", "{refused}");
    assert!(refused["data"].is_null(), "{refused}");
    let count = app.graphql_as(Some(&token), ORDERS_OF, json!({ "id": user["id"] })).await;
    assert_eq!(count["data"]["orders"]["totalCount"], 1, "{count}");

    // Another caller's key of the same name is theirs alone.
    let (someone, their_token) = app.sign_up().await;
    let theirs = json!({ "input": { "userId": someone["id"], "itemDescription": "tea", "itemQuantity": 2, "itemPrice": "1.25" } });
    let answer = keyed(app, &their_token, &key, CREATE_ORDER, theirs).await;
    assert_ne!(answer["data"]["createOrder"]["id"], order["id"], "{answer}");
    assert!(answer["data"]["createOrder"]["id"].is_string(), "{answer}");

    // Two mutations of one document under one key: each by its response name.
    let two = "mutation($input: CreateOrderInput!) { a: createOrder(input: $input) { id } b: createOrder(input: $input) { id } }";
    let both_key = format!("two-{}", uuid::Uuid::now_v7());
    let both = keyed(app, &token, &both_key, two, input.clone()).await;
    assert_ne!(both["data"]["a"]["id"], both["data"]["b"]["id"], "{both}");
    assert_eq!(keyed(app, &token, &both_key, two, input).await, both);
    let count = app.graphql_as(Some(&token), ORDERS_OF, json!({ "id": user["id"] })).await;
    assert_eq!(count["data"]["orders"]["totalCount"], 3, "{count}");
}

/// A delete retried with its key answers `true` again, as the first time; without a key the
/// second delete finds nothing.
pub async fn a_delete_retried_with_its_key_answers_true_again(app: &TestApp) {
    let (user, token) = app.sign_up().await;
    let input =
        json!({ "input": { "userId": user["id"], "itemDescription": "tea", "itemQuantity": 1, "itemPrice": "1" } });
    let order = app.graphql_as(Some(&token), CREATE_ORDER, input).await["data"]["createOrder"]["id"].clone();
    let delete = "mutation($id: UUID!) { deleteOrder(id: $id) }";
    let key = format!("delete-{}", uuid::Uuid::now_v7());
    for _ in 0..3 {
        let answer = keyed(app, &token, &key, delete, json!({ "id": order })).await;
        assert_eq!(answer["data"]["deleteOrder"], true, "{answer}");
    }
    let unkeyed = app.graphql_as(Some(&token), delete, json!({ "id": order })).await;
    assert_eq!(error_of(&unkeyed).0, "NOT_FOUND", "{unkeyed}");
}

/// An `Idempotency-Key` that is empty, too long or not visible ASCII is a bad request.
pub async fn a_malformed_idempotency_key_is_a_bad_request(app: &TestApp) {
    for key in [String::new(), "k".repeat(256), "tab\tinside".to_owned()] {
        let response = app
            .http
            .post(format!("{}/graphql", app.address))
            .header("Idempotency-Key", &key)
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{key:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["errors"][0]["extensions"]["code"], "BAD_REQUEST", "{body}");
    }
}

/// Through another gateway, a retry with the same key answers the first outcome too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_through_another_gateway_answers_the_first_outcome() {
    let app = spawn_app(Backend::RabbitMq).await;
    let other = app.second_gateway().await;
    let (user, token) = app.sign_up().await;
    let input =
        json!({ "input": { "userId": user["id"], "itemDescription": "tea", "itemQuantity": 3, "itemPrice": "0.10" } });
    let key = format!("across-{}", uuid::Uuid::now_v7());
    let first = keyed(&app, &token, &key, CREATE_ORDER, input.clone()).await;
    assert_eq!(first["data"]["createOrder"]["totalValue"], "0.30", "{first}");
    assert_eq!(keyed(&other, &token, &key, CREATE_ORDER, input).await, first);
    let count = other.graphql_as(Some(&token), ORDERS_OF, json!({ "id": user["id"] })).await;
    assert_eq!(count["data"]["orders"]["totalCount"], 1, "{count}");
    other.stop().await;
    app.stop().await;
}

/// The cascade runs while every gateway is down: the first gateway to start hears it from the
/// shared cache's durable queue before it reads the cache, so it never lists the deleted orders
/// (nor the deleted user), even before it says it is ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cascade_while_no_gateway_runs_is_never_read_stale() {
    let mut app = spawn_app(Backend::RabbitMq).await;
    let user = user_with_three_orders(&app).await;
    let user_query = "query($id: UUID!) { user(id: $id) { id } }";
    // Cached now: the orders page, its count, and the user.
    assert_eq!(orders_of(&app, &user).await, 3);
    assert_eq!(app.graphql(user_query, json!({ "id": user })).await["data"]["user"]["id"], user.as_str());
    let config = app.config.clone();
    let admin_token = app.admin_token.clone();
    let (stack, keep_dir) = app.take_stack();
    app.stop().await;

    // No gateway runs: the users service deletes, the orders service cascades.
    let amqp_url = stack.amqp_url.clone();
    let ctx = delete_as_a_worker_on(&stack.users_db.url, &user, Broker::amqp(&amqp_url).publisher("test")).await;
    ctx.outbox.flush().await.unwrap();
    wait_until_no_orders_stored(&stack.orders_db.url, &user).await;

    let app = TestApp::start_gateway_on(config, stack, keep_dir, admin_token).await;
    // At once, ready or not: reads bypass the cache until its backlog is handled.
    let orders = orders_of(&app, &user).await;
    assert_eq!(orders, 0, "the first read of a restarted gateway listed deleted orders");
    app.wait_until_ready().await;
    assert_eq!(orders_of(&app, &user).await, 0);
    let found = app.graphql(user_query, json!({ "id": user })).await;
    assert!(found["data"]["user"].is_null(), "{found}");
    app.stop().await;
}

async fn delete_as_a_worker_on(
    users_db: &str,
    user_id: &str,
    events: Arc<dyn EventPublisher>,
) -> users_worker::Context {
    let db = users_worker::open_database(users_db).await.unwrap();
    let ctx = users_worker::Context::new(db, events).as_caller(Caller::Service);
    let id = user_id.parse().unwrap();
    assert_eq!(users_worker::handlers::delete(DeleteUser { id }, ctx.clone()).await, Ok(true));
    ctx
}

/// Polls the orders database itself until `user_id` has no orders (the cascade ran).
async fn wait_until_no_orders_stored(orders_db: &str, user_id: &str) {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let db = orders_worker::open_database(orders_db).await.unwrap();
    let user: uuid::Uuid = user_id.parse().unwrap();
    for _ in 0..500 {
        let left = entities::orders::order::Entity::find()
            .filter(entities::orders::order::Column::UserId.eq(user))
            .count(&db)
            .await
            .unwrap();
        if left == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the cascade did not run within 5 s");
}
