//! The field cache: hits skip the broker, reads are never stale after a write (on one
//! gateway or two), a cold key costs one RPC however many read it, and Redis failing in any
//! way only costs cache misses.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::*;

async fn user_by_id(app: &TestApp, id: &str) -> serde_json::Value {
    let body = app.graphql("query($id: UUID!) { user(id: $id) { id fullName updatedAt } }", json!({ "id": id })).await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["user"].clone()
}

async fn rename(app: &TestApp, id: &str, name: &str) {
    let body = app
        .graphql(
            "mutation($id: UUID!, $name: String!) { updateUser(id: $id, input: { fullName: $name }) { id } }",
            json!({ "id": id, "name": name }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
}

const HITS: &str = "gateway_cache_hits_total";

pub async fn a_cache_hit_skips_the_broker(app: &TestApp) {
    let created = app.metric("gateway_events_total{routing_key=\"user.created\"}").await;
    let user = create_user(app).await;
    let id = user["id"].as_str().unwrap();
    // The service's own `user.created` makes the user stale once more when it lands: after it,
    // nothing does.
    app.wait_for_events("user.created", created + 1.0).await;
    user_by_id(app, id).await;
    // A hit is of the field, or of the whole answer (`answers.rs`).
    let hits = async || app.metric(HITS).await + app.metric("gateway_answer_cache_hits_total").await;
    let (rpcs, before) = (app.rpc_count("users", "users.get").await, hits().await);
    for _ in 0..5 {
        assert_eq!(user_by_id(app, id).await["id"], user["id"]);
    }
    assert_eq!(app.rpc_count("users", "users.get").await, rpcs, "hits do not reach the users service");
    assert_eq!(hits().await - before, 5.0);
}

pub async fn a_hundred_updates_are_each_read_back_fresh(app: &TestApp) {
    let user = create_user(app).await;
    let id = user["id"].as_str().unwrap();
    let mut stale = 0;
    for round in 0..100 {
        user_by_id(app, id).await; // keep the key warm
        let name = format!("Name {round}");
        rename(app, id, &name).await;
        if user_by_id(app, id).await["fullName"] != name.as_str() {
            stale += 1;
        }
    }
    assert_eq!(stale, 0, "stale reads out of 100");
}

pub async fn lists_and_user_orders_are_fresh_after_creates(app: &TestApp) {
    let first = create_user(app).await;
    let users = "{ users { totalCount nodes { id orders { totalCount } } } }";
    // The app's admin is the first user.
    let body = app.graphql(users, json!({})).await;
    assert_eq!(body["data"]["users"]["totalCount"], 2);
    app.graphql(users, json!({})).await; // served from the cache now
    let second = create_user(app).await;
    let body = app.graphql(users, json!({})).await;
    assert_eq!(body["data"]["users"]["totalCount"], 3, "a new user is listed at once: {body}");
    assert_eq!(body["data"]["users"]["nodes"][2]["id"], second["id"]);

    create_order(app, first["id"].as_str().unwrap(), 1, "1").await;
    let body = app.graphql(users, json!({})).await;
    assert_eq!(body["data"]["users"]["nodes"][1]["orders"]["totalCount"], 1, "{body}");
    let orders = "query($id: UUID) { orders(userId: $id) { totalCount } }";
    assert_eq!(app.graphql(orders, json!({ "id": first["id"] })).await["data"]["orders"]["totalCount"], 1);
    create_order(app, first["id"].as_str().unwrap(), 1, "1").await;
    assert_eq!(app.graphql(orders, json!({ "id": first["id"] })).await["data"]["orders"]["totalCount"], 2);
    let body = app.graphql(users, json!({})).await;
    assert_eq!(body["data"]["users"]["nodes"][1]["orders"]["totalCount"], 2);
}

pub async fn a_cold_key_read_by_32_at_once_costs_one_rpc(app: &TestApp) {
    let created = app.metric("gateway_events_total{routing_key=\"user.created\"}").await;
    let user = create_user(app).await;
    // The service's own `user.created` event invalidates the user again when it arrives (the
    // app's admin had one before); let it land first, so all 32 readers see the same generation.
    app.wait_for_events("user.created", created + 1.0).await;
    let id = user["id"].as_str().unwrap().to_owned();
    let before = app.rpc_count("users", "users.get").await;
    let reads = (0..32).map(|_| user_by_id(app, &id));
    let users = futures_util::future::join_all(reads).await;
    assert!(users.iter().all(|found| found["id"] == user["id"]));
    assert_eq!(app.rpc_count("users", "users.get").await - before, 1.0, "one RPC for 32 concurrent readers");
}

/// The cascade with the cache on: the orders were read (and cached) before the delete.
pub async fn the_cascade_reaches_a_warm_cache(app: &TestApp) {
    let user = create_user(app).await;
    let id = user["id"].as_str().unwrap();
    for _ in 0..3 {
        create_order(app, id, 1, "1").await;
    }
    let query = "query($id: UUID!) { orders(userId: $id) { totalCount } user(id: $id) { orders { totalCount } } }";
    for _ in 0..2 {
        let body = app.graphql(query, json!({ "id": id })).await;
        assert_eq!(body["data"]["orders"]["totalCount"], 3);
    }
    app.graphql("mutation($id: UUID!) { deleteUser(id: $id) }", json!({ "id": id })).await;
    let deleted_at = Instant::now();
    loop {
        let body = app.graphql("query($id: UUID!) { orders(userId: $id) { totalCount } }", json!({ "id": id })).await;
        if body["data"]["orders"]["totalCount"] == 0 {
            break;
        }
        assert!(deleted_at.elapsed() < Duration::from_secs(2), "cached orders still listed 2 s after deleteUser");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_sharing_redis_never_read_each_others_writes_stale() {
    let first = spawn_app(Backend::RabbitMq).await;
    let second = first.second_gateway().await;
    let user = create_user(&first).await;
    let id = user["id"].as_str().unwrap();
    let mut stale = 0;
    for round in 0..100 {
        let (writer, reader) = if round % 2 == 0 { (&first, &second) } else { (&second, &first) };
        user_by_id(reader, id).await; // warm the reader's view
        let name = format!("Name {round}");
        rename(writer, id, &name).await;
        if user_by_id(reader, id).await["fullName"] != name.as_str() {
            stale += 1;
        }
    }
    assert_eq!(stale, 0, "stale reads out of 100 across two gateways");
    // And they do share the cache: the second gateway hits what the first cached.
    let other = create_user(&first).await;
    user_by_id(&first, other["id"].as_str().unwrap()).await;
    let before = second.rpc_count("users", "users.get").await;
    user_by_id(&second, other["id"].as_str().unwrap()).await;
    assert_eq!(second.rpc_count("users", "users.get").await, before);
    second.stop().await;
    first.stop().await;
}

async fn app_on(redis: &RedisServer) -> TestApp {
    let url = redis.url();
    spawn_app_with(Backend::RabbitMq, move |config| {
        config.redis_url = Some(url);
        config.cache_timeout_ms = 100;
    })
    .await
}

/// Reads `id` until one read is a cache hit (of a field or of the whole answer): the cache is
/// in use again.
async fn wait_for_a_hit(app: &TestApp, id: &str) {
    let all_hits = async || app.metric(HITS).await + app.metric("gateway_answer_cache_hits_total").await;
    for _ in 0..200 {
        let hits = all_hits().await;
        user_by_id(app, id).await;
        if all_hits().await > hits {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the cache never came back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_costs_misses_not_answers_and_nothing_stale_after_it_thaws() {
    let redis = RedisServer::start().await;
    let app = app_on(&redis).await;
    let user = create_user(&app).await;
    let id = user["id"].as_str().unwrap();
    user_by_id(&app, id).await;
    wait_for_a_hit(&app, id).await;

    redis.freeze();
    let errors = app.metric("gateway_cache_errors_total").await;
    for round in 0..5 {
        let name = format!("While frozen {round}");
        rename(&app, id, &name).await; // its invalidation cannot reach Redis
        assert_eq!(user_by_id(&app, id).await["fullName"], name.as_str());
    }
    assert!(app.metric("gateway_cache_errors_total").await > errors, "the failures are counted");

    redis.thaw();
    wait_for_a_hit(&app, id).await;
    assert_eq!(user_by_id(&app, id).await["fullName"], "While frozen 4", "no stale value after the thaw");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_that_stops_mid_run_and_comes_back_is_used_again() {
    let mut redis = RedisServer::start().await;
    let app = app_on(&redis).await;
    let user = create_user(&app).await;
    let id = user["id"].as_str().unwrap();
    user_by_id(&app, id).await;
    wait_for_a_hit(&app, id).await;

    redis.stop();
    let errors = app.metric("gateway_cache_errors_total").await;
    rename(&app, id, "While stopped").await;
    assert_eq!(user_by_id(&app, id).await["fullName"], "While stopped");
    assert!(app.metric("gateway_cache_errors_total").await > errors);

    redis.run().await;
    wait_for_a_hit(&app, id).await;
    assert_eq!(user_by_id(&app, id).await["fullName"], "While stopped");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_unreachable_at_start_up_is_picked_up_when_it_comes() {
    let mut redis = RedisServer::reserve();
    let app = app_on(&redis).await; // nothing listens on that port yet
    let user = create_user(&app).await;
    let id = user["id"].as_str().unwrap();
    assert_eq!(user_by_id(&app, id).await["id"], user["id"]);
    assert!(app.metric("gateway_cache_errors_total").await > 0.0);

    redis.run().await;
    wait_for_a_hit(&app, id).await;
    app.stop().await;
}

/// Services count and look back only for the selections that show it; a page cached without
/// its count must not answer a later `totalCount` (nor `hasPreviousPage`) with a blank.
pub async fn a_page_cached_without_its_count_still_answers_the_count_later(app: &TestApp) {
    let user = create_user(app).await;
    let user_id = user["id"].as_str().unwrap();
    for price in ["1.00", "2.00", "3.00"] {
        create_order(app, user_id, 1, price).await;
    }
    // Two users: the app's admin, then ours.
    let bare =
        "{ users(first: 2) { nodes { id orders(first: 1) { nodes { id } } } } orders(first: 1) { nodes { id } } }";
    let full = "{ users(first: 2) { totalCount nodes { id orders(first: 1) { totalCount nodes { id } } } }
                  orders(first: 1) { totalCount pageInfo { endCursor } nodes { id } } }";
    for _ in 0..2 {
        let body = app.graphql(bare, json!({})).await;
        assert!(body.get("errors").is_none(), "{body}");
        assert_eq!(body["data"]["orders"]["nodes"].as_array().unwrap().len(), 1, "{body}");
    }
    let body = app.graphql(full, json!({})).await;
    assert!(body.get("errors").is_none(), "{body}");
    assert_eq!(body["data"]["users"]["totalCount"], 2, "{body}");
    assert_eq!(body["data"]["users"]["nodes"][1]["orders"]["totalCount"], 3, "{body}");
    assert_eq!(body["data"]["orders"]["totalCount"], 3, "{body}");
    // Asked for through fragments (as Relay does) and under an alias, it is counted too.
    let fragments = "{ orders(first: 1) { ...Counted } users(first: 1) { ... on UserConnection { n: totalCount } } }
                     fragment Counted on OrderConnection { count: totalCount }";
    let counted = app.graphql(fragments, json!({})).await;
    let counts = (&counted["data"]["orders"]["count"], &counted["data"]["users"]["n"]);
    assert_eq!(counts, (&json!(3), &json!(2)), "{counted}");

    // After a cursor: hasPreviousPage is true whether or not the page was first read without it.
    let cursor = body["data"]["orders"]["pageInfo"]["endCursor"].clone();
    let after = "query($after: String) { orders(first: 1, after: $after) { nodes { id } } }";
    let looked = "query($after: String) { orders(first: 1, after: $after) { pageInfo { hasPreviousPage } } }";
    let body = app.graphql(after, json!({ "after": cursor })).await;
    assert!(body.get("errors").is_none(), "{body}");
    let body = app.graphql(looked, json!({ "after": cursor })).await;
    assert_eq!(body["data"]["orders"]["pageInfo"]["hasPreviousPage"], true, "{body}");
}
