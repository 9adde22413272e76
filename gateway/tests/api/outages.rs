//! One service down does not take the API down (distributed back end only).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;

const TIMEOUT_MS: u64 = 1000;

async fn app_with_short_timeout() -> TestApp {
    spawn_app_with(Backend::RabbitMq, |config| config.rpc_timeout_ms = TIMEOUT_MS).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_orders_worker_down_users_are_served_and_orders_fail_alone() {
    let mut app = app_with_short_timeout().await;
    let user = create_user(&app).await;
    create_order(&app, user["id"].as_str().unwrap(), 1, "1").await;

    app.stack().orders_worker.take().unwrap().stop().await;
    let started = Instant::now();
    let body = app.graphql("{ users { nodes { id } } }", json!({})).await;
    // After the app's admin.
    assert_eq!(body["data"]["users"]["nodes"][1]["id"], user["id"]);
    assert!(started.elapsed() < Duration::from_millis(TIMEOUT_MS / 2), "a users-only query does not wait for orders");

    let started = Instant::now();
    let body = app.graphql("{ users { nodes { id orders { totalCount } } } }", json!({})).await;
    let elapsed = started.elapsed();
    assert_eq!(body["data"]["users"]["nodes"][1]["id"], user["id"], "{body}");
    assert!(body["data"]["users"]["nodes"][1]["orders"].is_null());
    assert_eq!(error_of(&body).0, "SERVICE_UNAVAILABLE");
    assert!(elapsed < Duration::from_millis(TIMEOUT_MS * 2), "answered in {elapsed:?}");

    // The worker comes back; the gateway serves orders again without being touched.
    let (url, db) = {
        let stack = app.stack();
        (stack.amqp_url.clone(), stack.orders_db.url.clone())
    };
    app.stack().orders_worker = Some(start_orders_worker(&url, &db, Duration::from_millis(TIMEOUT_MS)).await);
    app.wait_until_ready().await;
    let body = app.graphql("{ users { nodes { orders { totalCount } } } }", json!({})).await;
    assert_eq!(body["data"]["users"]["nodes"][1]["orders"]["totalCount"], 1, "{body}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_users_worker_down_orders_are_served_and_users_fail_alone() {
    let mut app = app_with_short_timeout().await;
    let user = create_user(&app).await;
    let order = create_order(&app, user["id"].as_str().unwrap(), 2, "3.50").await;

    app.stack().users_worker.take().unwrap().stop().await;
    let started = Instant::now();
    let body = app.graphql("{ orders { nodes { id totalValue user { id } } } }", json!({})).await;
    let elapsed = started.elapsed();
    let node = &body["data"]["orders"]["nodes"][0];
    assert_eq!((&node["id"], &node["totalValue"]), (&order["id"], &json!("7.00")), "{body}");
    assert!(node["user"].is_null());
    assert_eq!(error_of(&body).0, "SERVICE_UNAVAILABLE");
    assert!(elapsed < Duration::from_millis(TIMEOUT_MS * 2), "answered in {elapsed:?}");

    let (url, db) = {
        let stack = app.stack();
        (stack.amqp_url.clone(), stack.users_db.url.clone())
    };
    app.stack().users_worker = Some(start_users_worker(&url, &db).await);
    app.wait_until_ready().await;
    let body = app.graphql("{ orders { nodes { user { id } } } }", json!({})).await;
    assert_eq!(body["data"]["orders"]["nodes"][0]["user"]["id"], user["id"], "{body}");
    app.stop().await;
}
