//! The orders service's PostgreSQL restarts under a running stack: while it is down, writes
//! answer SERVICE_UNAVAILABLE (worth a retry), never INTERNAL_SERVER_ERROR, readiness says the
//! orders service cannot serve, and once it is back everything serves again by itself. The
//! database restarted is a cluster of this test's own ([`PrivatePostgres`]).

use std::time::Duration;

use serde_json::json;
use test_support::PrivatePostgres;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_the_orders_database_restarts_writes_are_unavailable_and_readiness_says_so() {
    let postgres = PrivatePostgres::start().await;
    postgres.create_database("orders").await;
    let mut app = spawn_app_with(Backend::RabbitMq, |config| config.rpc_timeout_ms = 2000).await;
    // The orders service moves to the private database.
    app.stack().orders_worker.take().unwrap().stop().await;
    let url = app.stack().amqp_url.clone();
    app.stack().orders_worker = Some(start_orders_worker(&url, &postgres.url("orders"), Duration::from_secs(2)).await);
    app.wait_until_ready().await;
    let user = create_user(&app).await;
    let id = user["id"].as_str().unwrap();
    create_order(&app, id, 1, "1").await;

    postgres.stop().await;
    let input = json!({ "input": { "userId": id, "itemDescription": "during", "itemQuantity": 1, "itemPrice": "1" } });
    let create = "mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }";
    for _ in 0..3 {
        let body = app.graphql(create, input.clone()).await;
        assert_eq!(error_of(&body).0, "SERVICE_UNAVAILABLE", "{body}");
    }
    let ready = app.http.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    let reason = ready.text().await.unwrap();
    assert!(reason.contains("orders answers: false"), "{reason}");

    postgres.start_again().await;
    app.wait_until_ready().await;
    create_order(&app, id, 1, "1").await;
    let count = app.graphql("query($id: UUID!) { orders(userId: $id) { totalCount } }", json!({ "id": id })).await;
    assert_eq!(count["data"]["orders"]["totalCount"], 2, "only the writes answered ok were made: {count}");
    app.stop().await;
}
