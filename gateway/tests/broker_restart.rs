//! RabbitMQ restarts under a running stack: the gateway and both workers reconnect by
//! themselves and serve again. Restarting the broker disturbs every test using it, so this
//! binary runs alone, after the others (`scripts/test.sh`).
#![cfg(feature = "embedded")]
#![allow(clippy::unwrap_used)]

#[path = "api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use helpers::*;
use serde_json::json;
use test_support::rabbitmqctl;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "restarts RabbitMQ; scripts/test.sh runs it alone"]
async fn after_a_broker_restart_the_gateway_and_workers_recover_by_themselves() {
    let app = spawn_app_with(Backend::RabbitMq, |config| config.rpc_timeout_ms = 1000).await;
    let user = create_user(&app).await;

    rabbitmqctl(&["stop_app"]).await;
    let body = app.graphql("{ users { totalCount } }", json!({})).await;
    assert_eq!(error_of(&body).0, "SERVICE_UNAVAILABLE", "{body}");
    let ready = app.http.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    rabbitmqctl(&["start_app"]).await;
    rabbitmqctl(&["await_startup"]).await;

    // Everyone reconnects with backoff (at most 5 s apart); readiness says when.
    app.wait_until_ready().await;
    let body = app.graphql("{ users { nodes { id } } }", json!({})).await;
    assert_eq!(body["data"]["users"]["nodes"][0]["id"], user["id"], "{body}");
    let order = create_order(&app, user["id"].as_str().unwrap(), 2, "1.25").await;
    assert_eq!(order["totalValue"], "2.50");
    app.stop().await;
}
