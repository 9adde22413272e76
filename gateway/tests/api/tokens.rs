//! Tokens (`API.md`, "Identity and access"): forged, tampered, expired, revoked by `logout`,
//! by `changePassword` and by `deleteUser`, or signed with another deployment's secret, a token
//! is UNAUTHENTICATED; over the distributed back end, on every gateway of the deployment.

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, error_of, spawn_app, spawn_app_with};

const VIEWER: &str = "{ viewer { id } }";

/// The viewer's id a token gets, or the error code.
async fn viewer(app: &TestApp, token: &str) -> Result<String, String> {
    let body = app.graphql_as(Some(token), VIEWER, json!({})).await;
    match body["data"]["viewer"]["id"].as_str() {
        Some(id) => Ok(id.to_owned()),
        None => Err(error_of(&body).0),
    }
}

/// Polls `app` until `token` is refused there; how long that took from `since`.
async fn until_refused(app: &TestApp, token: &str, since: Instant) -> Duration {
    for _ in 0..500 {
        if viewer(app, token).await == Err("UNAUTHENTICATED".to_owned()) {
            return since.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("the token still worked {:?} after it was revoked", since.elapsed());
}

/// A token with its payload's `sub` changed, the signature left as it was.
fn tampered(token: &str, field: &str, value: Value) -> String {
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut claims: Value = serde_json::from_slice(&engine.decode(&parts[1]).unwrap()).unwrap();
    claims[field] = value;
    parts[1] = engine.encode(serde_json::to_vec(&claims).unwrap());
    parts.join(".")
}

/// Forged, tampered and malformed tokens, on one gateway of either back end.
pub async fn forged_tampered_and_malformed_tokens_are_unauthenticated(app: &TestApp) {
    let (user, token) = app.sign_up().await;
    let (other, _) = app.sign_up().await;
    assert_eq!(viewer(app, &token).await, Ok(user["id"].as_str().unwrap().to_owned()));
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = token.split('.').nth(1).unwrap();
    let forged = [
        // Someone else's id in a real token's payload.
        tampered(&token, "sub", other["id"].clone()),
        // A later expiry.
        tampered(&token, "exp", json!(4_102_444_800_i64)),
        // The signature of another token.
        format!("{}.{}", token.rsplit_once('.').unwrap().0, "A".repeat(43)),
        // No signature at all, `alg: none`.
        format!("{}.{payload}.", engine.encode(br#"{"alg":"none","typ":"JWT"}"#)),
        // HS256 with an empty key.
        "eyJhbGciOiJIUzI1NiJ9.e30.ZRrHA1JJJW8opsbCGfG_HACGpVUMN_a9IV7pAx_Zmeo".to_owned(),
        "not a token".to_owned(),
    ];
    for forged in &forged {
        let body = app.graphql_as(Some(forged), VIEWER, json!({})).await;
        assert_eq!(error_of(&body).0, "UNAUTHENTICATED", "{forged}: {body}");
        // And no data field answers for it either.
        let query = "query($id: UUID!) { user(id: $id) { id } }";
        let body = app.graphql_as(Some(forged), query, json!({ "id": other["id"] })).await;
        assert_eq!(error_of(&body).0, "UNAUTHENTICATED", "{forged}: {body}");
    }
    // Another scheme than Bearer.
    let response = app
        .anonymous_http
        .post(format!("{}/graphql", app.address))
        .header("authorization", format!("Basic {token}"))
        .json(&json!({ "query": VIEWER }))
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(&response.json::<Value>().await.unwrap()).0, "UNAUTHENTICATED");
    // A refused token does not keep anyone from signing in or up.
    let body = app
        .graphql_as(
            Some("not a token"),
            "mutation($l: String!) { login(login: $l, password: \"correct horse battery\") { user { id } } }",
            json!({ "l": user["email"] }),
        )
        .await;
    assert_eq!(body["data"]["login"]["user"]["id"], user["id"], "{body}");
    // The real one still works.
    assert!(viewer(app, &token).await.is_ok());
}

/// A token lives TOKEN_TTL_SECONDS, then is UNAUTHENTICATED.
pub async fn an_expired_token_is_unauthenticated(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.token_ttl_seconds = 1).await;
    let (user, token) = app.sign_up().await;
    let issued = Instant::now();
    assert_eq!(viewer(&app, &token).await, Ok(user["id"].as_str().unwrap().to_owned()));
    let refused_after = until_refused(&app, &token, issued).await;
    assert!(refused_after >= Duration::from_millis(900), "refused after {refused_after:?}, before it expired");
    let body = app.graphql_as(Some(&token), VIEWER, json!({})).await;
    assert_eq!(body["errors"][0]["message"], "the token has expired: sign in again", "{body}");
    app.stop().await;
}

/// Over RabbitMQ with two gateways: a token of another deployment (another AUTH_SECRET) works on
/// neither; `logout`, `changePassword` and `deleteUser` end tokens on both at once, on the
/// gateway that ran them before it answers, on the other as soon as the event reaches it.
#[tokio::test]
async fn revoked_tokens_and_tokens_of_another_secret_are_unauthenticated_on_every_gateway() {
    let app = spawn_app(Backend::RabbitMq).await;
    let second = app.second_gateway().await;
    // The same services, another secret: a deployment whose tokens are not ours.
    let mut foreign_config = app.config.clone();
    foreign_config.auth_secret = Some("another deployment's secret, 32+ bytes".parse().unwrap());
    let foreign = spawn_foreign(&app, foreign_config).await;

    let (user, _) = app.sign_up().await;
    let nick = user["nickName"].as_str().unwrap();
    let foreign_token = foreign.login(nick, "correct horse battery").await;
    assert!(viewer(&foreign, &foreign_token).await.is_ok(), "it works where it was signed");
    for gateway in [&app, &second] {
        assert_eq!(viewer(gateway, &foreign_token).await, Err("UNAUTHENTICATED".to_owned()));
    }

    // logout: that token ends, the user's others go on.
    let (kept, ended) =
        (app.login(nick, "correct horse battery").await, app.login(nick, "correct horse battery").await);
    for gateway in [&app, &second] {
        assert!(viewer(gateway, &ended).await.is_ok());
    }
    let body = app.graphql_as(Some(&ended), "mutation { logout }", json!({})).await;
    assert_eq!(body["data"]["logout"], true, "{body}");
    let answered = Instant::now();
    assert_eq!(viewer(&app, &ended).await, Err("UNAUTHENTICATED".to_owned()), "at once where it ran");
    let lag = until_refused(&second, &ended, answered).await;
    println!("logout reached the other gateway {lag:?} after it was answered");
    for gateway in [&app, &second] {
        assert!(viewer(gateway, &kept).await.is_ok(), "the user's other token goes on");
    }

    // changePassword: every token of the user ends, this one too.
    let tokens = [kept, app.login(nick, "correct horse battery").await];
    for token in &tokens {
        assert!(viewer(&second, token).await.is_ok());
    }
    let change = "mutation($id: UUID!) { changePassword(id: $id, currentPassword: \"correct horse battery\", newPassword: \"a new passphrase\") }";
    let body = app.graphql_as(Some(&tokens[0]), change, json!({ "id": user["id"] })).await;
    assert_eq!(body["data"]["changePassword"], true, "{body}");
    let answered = Instant::now();
    for token in &tokens {
        assert_eq!(viewer(&app, token).await, Err("UNAUTHENTICATED".to_owned()), "at once where it ran");
        let lag = until_refused(&second, token, answered).await;
        println!("changePassword reached the other gateway {lag:?} after it was answered");
    }
    // The new password signs in; the old does not.
    let token = second.login(nick, "a new passphrase").await;
    let body = app
        .graphql_as(
            None,
            "mutation($l: String!) { login(login: $l, password: \"correct horse battery\") { token } }",
            json!({ "l": nick }),
        )
        .await;
    assert_eq!(error_of(&body).0, "UNAUTHENTICATED", "{body}");

    // deleteUser: every token of the user ends.
    let tokens = [token, second.login(nick, "a new passphrase").await];
    assert!(viewer(&app, &tokens[1]).await.is_ok());
    let body = second
        .graphql_as(Some(&tokens[0]), "mutation($id: UUID!) { deleteUser(id: $id) }", json!({ "id": user["id"] }))
        .await;
    assert_eq!(body["data"]["deleteUser"], true, "{body}");
    let answered = Instant::now();
    for token in &tokens {
        assert_eq!(viewer(&second, token).await, Err("UNAUTHENTICATED".to_owned()), "at once where it ran");
        let lag = until_refused(&app, token, answered).await;
        println!("deleteUser reached the other gateway {lag:?} after it was answered");
    }

    foreign.stop().await;
    second.stop().await;
    app.stop().await;
}

/// A gateway on `app`'s broker and services with `config` (its own secret).
async fn spawn_foreign(app: &TestApp, config: gateway::Config) -> TestApp {
    app.second_gateway_with(config).await
}
