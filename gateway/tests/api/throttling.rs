//! Guessing is bounded (`API.md`, "Identity and access"): failed `login` and `changePassword`
//! attempts count per account and per client address, each attempt, also inside one batch or
//! under aliases; past the limit TOO_MANY_REQUESTS with `extensions.retryAfter`, on every
//! gateway alike. The default limit is 5 failures per account in 15 minutes.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, error_of, spawn_app, spawn_app_with};

const LOGIN: &str = "mutation($l: String!, $p: String!) { login(login: $l, password: $p) { token } }";
const PER_ACCOUNT: usize = 5;

async fn login(app: &TestApp, login: &str, password: &str) -> Value {
    app.graphql_as(None, LOGIN, json!({ "l": login, "p": password })).await
}

#[track_caller]
fn assert_too_many(body: &Value) {
    assert_eq!(error_of(body).0, "TOO_MANY_REQUESTS", "{body}");
    let retry_after = body["errors"][0]["extensions"]["retryAfter"].as_u64().unwrap_or_else(|| panic!("{body}"));
    assert!((1..=900).contains(&retry_after), "{body}");
}

/// Five wrong passwords, then the sixth attempt is refused, the right password too; another
/// account is not concerned; an unknown login is limited the same way, so the limit tells
/// nothing about which logins exist.
pub async fn the_attempt_past_the_limit_on_an_account_is_too_many_requests(app: &TestApp) {
    let (user, _) = app.sign_up().await;
    let (bystander, _) = app.sign_up().await;
    let nick = user["nickName"].as_str().unwrap();
    for attempt in 1..=PER_ACCOUNT {
        // The nickName in another case and the email are the same account.
        let login_as = if attempt % 2 == 0 { user["email"].as_str().unwrap().to_owned() } else { nick.to_uppercase() };
        let body = login(app, &login_as, "wrong password").await;
        assert_eq!(error_of(&body).0, "UNAUTHENTICATED", "attempt {attempt}: {body}");
        assert_eq!(body["errors"][0]["message"], "invalid login or password");
    }
    assert_too_many(&login(app, nick, "wrong password").await);
    assert_too_many(&login(app, nick, "correct horse battery").await);
    // changePassword counts against the same account.
    let token_of_bystander = app.login(bystander["nickName"].as_str().unwrap(), "correct horse battery").await;
    assert!(!token_of_bystander.is_empty(), "another account signs in");

    let unknown = "nobody_has_this_login";
    for _ in 0..PER_ACCOUNT {
        let body = login(app, unknown, "wrong password").await;
        assert_eq!(error_of(&body).0, "UNAUTHENTICATED", "{body}");
        assert_eq!(body["errors"][0]["message"], "invalid login or password");
    }
    assert_too_many(&login(app, unknown, "wrong password").await);
}

/// A wrong currentPassword counts as a failed attempt on the account: the sixth is refused.
/// A right one does not count.
pub async fn failed_password_changes_are_limited_too(app: &TestApp) {
    let (user, token) = app.sign_up().await;
    let change = "mutation($id: UUID!, $c: String!) { changePassword(id: $id, currentPassword: $c, newPassword: \"the next passphrase\") }";
    for attempt in 1..=PER_ACCOUNT {
        let body =
            app.graphql_as(Some(&token), change, json!({ "id": user["id"], "c": format!("guess {attempt}") })).await;
        assert_eq!(error_of(&body).0, "UNAUTHENTICATED", "attempt {attempt}: {body}");
    }
    let body = app.graphql_as(Some(&token), change, json!({ "id": user["id"], "c": "correct horse battery" })).await;
    assert_too_many(&body);
    assert_too_many(&login(app, user["nickName"].as_str().unwrap(), "correct horse battery").await);
}

/// Aliases of one operation and operations of one batch each count: one HTTP request of eight
/// guesses gets five UNAUTHENTICATED and three TOO_MANY_REQUESTS.
pub async fn every_attempt_of_a_batch_and_of_aliases_counts(app: &TestApp) {
    let (user, _) = app.sign_up().await;
    let nick = user["nickName"].as_str().unwrap();
    let aliases: String =
        (0..8).map(|n| format!("a{n}: login(login: $l, password: \"guess {n}\") {{ token }} ")).collect();
    let body = app.graphql_as(None, &format!("mutation($l: String!) {{ {aliases} }}"), json!({ "l": nick })).await;
    let codes: Vec<&str> =
        body["errors"].as_array().unwrap().iter().map(|e| e["extensions"]["code"].as_str().unwrap()).collect();
    assert_eq!(codes, [["UNAUTHENTICATED"; 5].as_slice(), &["TOO_MANY_REQUESTS"; 3]].concat(), "{body}");

    let (user, _) = app.sign_up().await;
    let nick = user["nickName"].as_str().unwrap();
    let batch: Vec<Value> =
        (0..8).map(|n| json!({ "query": LOGIN, "variables": { "l": nick, "p": format!("guess {n}") } })).collect();
    let response = app.anonymous_http.post(format!("{}/graphql", app.address)).json(&batch).send().await.unwrap();
    let answers: Vec<Value> = response.json().await.unwrap();
    let codes: Vec<String> = answers.iter().map(|answer| error_of(answer).0).collect();
    assert_eq!(codes, [vec!["UNAUTHENTICATED".to_owned(); 5], vec!["TOO_MANY_REQUESTS".to_owned(); 3]].concat());
}

/// Failures on many accounts from one address are limited too (LOGIN_MAX_FAILURES_PER_ADDRESS,
/// here 4): the fifth, on yet another account, is refused.
#[tokio::test]
async fn failures_from_one_address_on_many_accounts_are_limited() {
    let app = spawn_app_with(Backend::Embedded, |config| config.login_limits.per_address = 4).await;
    for n in 0..4 {
        let body = login(&app, &format!("somebody_{n}"), "wrong password").await;
        assert_eq!(error_of(&body).0, "UNAUTHENTICATED", "{body}");
    }
    assert_too_many(&login(&app, "somebody_else", "wrong password").await);
    app.stop().await;
}

/// Over RabbitMQ: the attempts of several clients on two gateways count into one limit.
#[tokio::test]
async fn attempts_through_several_clients_and_two_gateways_share_one_limit() {
    let app = spawn_app(Backend::RabbitMq).await;
    let second = app.second_gateway().await;
    let (user, _) = app.sign_up().await;
    let nick = user["nickName"].as_str().unwrap();
    for attempt in 0..PER_ACCOUNT {
        // A new HTTP client (a connection of its own) each time, on either gateway.
        let gateway = if attempt % 2 == 0 { &app } else { &second };
        let client = reqwest::Client::new();
        let body: Value = client
            .post(format!("{}/graphql", gateway.address))
            .json(&json!({ "query": LOGIN, "variables": { "l": nick, "p": "wrong password" } }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(error_of(&body).0, "UNAUTHENTICATED", "attempt {attempt}: {body}");
    }
    for gateway in [&app, &second] {
        assert_too_many(&login(gateway, nick, "correct horse battery").await);
    }
    second.stop().await;
    app.stop().await;
}
