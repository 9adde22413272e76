//! Issue 14: `userByNickName` of a nickName nobody has is null every time (the cached absence
//! is an absence), and a value that cannot match the nickName rule is neither sent nor cached,
//! so no request makes a cache key or entry bigger than a bound.

use serde_json::json;

use crate::helpers::*;

const BY_NICK: &str = "query($nick: String!) { userByNickName(nickName: $nick) { id } }";

pub async fn a_nick_name_nobody_has_is_null_every_time_until_somebody_takes_it(app: &TestApp) {
    let mut input = new_user_input();
    let nick = format!("{}_free", input["nickName"].as_str().unwrap());
    let sent = app.rpc_count("users", "users.by_nick_name").await;
    for _ in 0..3 {
        let body = app.graphql(BY_NICK, json!({ "nick": nick })).await;
        assert_eq!(body, json!({ "data": { "userByNickName": null } }));
    }
    assert_eq!(app.rpc_count("users", "users.by_nick_name").await - sent, 1.0, "the absence is cached");

    input["nickName"] = json!(nick);
    let created = try_create_user(app, &input).await;
    assert!(created.get("errors").is_none(), "{created}");
    let body = app.graphql(BY_NICK, json!({ "nick": nick.to_uppercase() })).await;
    assert_eq!(body, json!({ "data": { "userByNickName": { "id": created["data"]["createUser"]["id"] } } }));
}

/// The keys under this app's cache prefix, in Redis (the distributed back end's cache).
async fn redis_keys(app: &TestApp) -> Option<(usize, usize)> {
    app.config.redis_url.as_ref()?;
    let client = redis::Client::open(test_redis_url()).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> =
        redis::cmd("KEYS").arg(format!("{}*", app.config.cache_key_prefix)).query_async(&mut connection).await.unwrap();
    Some((keys.len(), keys.iter().map(String::len).max().unwrap_or(0)))
}

pub async fn a_nick_name_that_breaks_the_rule_is_null_and_neither_sent_nor_cached(app: &TestApp) {
    let user = create_user(app).await;
    let nick = user["nickName"].as_str().unwrap();
    // Warm: the cache holds a few keys already.
    assert_eq!(app.graphql(BY_NICK, json!({ "nick": nick })).await["data"]["userByNickName"]["id"], user["id"]);

    let keys = redis_keys(app).await;
    let sent = app.rpc_count("users", "users.by_nick_name").await;
    let misses = app.metric("gateway_cache_misses_total").await;
    let megabyte = "n".repeat(1_000_000);
    let too_long = format!("{nick}{}", "x".repeat(33 - nick.len()));
    for bad in [megabyte.as_str(), &too_long, "ab", "ana maria", "joão", "ana\u{0}", &format!("{nick}!")] {
        let body = app.graphql(BY_NICK, json!({ "nick": bad })).await;
        assert_eq!(body, json!({ "data": { "userByNickName": null } }), "{:.40}", bad);
    }
    assert_eq!(app.rpc_count("users", "users.by_nick_name").await, sent, "nothing sent to the users service");
    assert_eq!(app.metric("gateway_cache_misses_total").await, misses, "the cache was not even read");
    let after = redis_keys(app).await;
    assert_eq!(after, keys, "nothing stored in Redis");
    if let Some((_, longest)) = after {
        assert!(longest < 200, "the longest key is {longest} bytes");
    }
}
