//! RabbitMQ restarts under a running stack: the gateway and both workers reconnect by
//! themselves and serve again. The broker restarted is a node of this test's own
//! ([`PrivateRabbitMq`]): the machine's serves the other tests running beside it.
use serde_json::json;
use test_support::PrivateRabbitMq;

use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_broker_restart_the_gateway_and_workers_recover_by_themselves() {
    let broker = PrivateRabbitMq::start().await;
    let app = spawn_app_on_broker(&broker.url, |config| config.rpc_timeout_ms = 1000).await;
    let user = create_user(&app).await;

    broker.stop_app().await;
    let body = app.graphql("{ users { totalCount } }", json!({})).await;
    assert_eq!(error_of(&body).0, "SERVICE_UNAVAILABLE", "{body}");
    let ready = app.http.get(format!("{}/readyz", app.address)).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    broker.start_app().await;

    // Everyone reconnects with backoff (at most 5 s apart); readiness says when.
    app.wait_until_ready().await;
    let body = app.graphql("{ users { nodes { id } } }", json!({})).await;
    // After the app's admin.
    assert_eq!(body["data"]["users"]["nodes"][1]["id"], user["id"], "{body}");
    let order = create_order(&app, user["id"].as_str().unwrap(), 2, "1.25").await;
    assert_eq!(order["totalValue"], "2.50");
    app.stop().await;
}
