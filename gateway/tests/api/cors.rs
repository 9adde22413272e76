//! CORS (API.md, "Browsers and clients"): what a browser app on an allowed origin needs from a
//! preflight and from the answers, nothing for any other origin, and the configuration refused
//! at start-up when it is wrong. The same in Chromium: clients/test/cors.test.js.

use clap::Parser as _;
use gateway::{Application, Config, http::cors::parse_origin};
use reqwest::{Method, Response, header::HeaderMap};
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::helpers::{Backend, TestApp, spawn_app_with};

const APP: &str = "http://localhost:5173";
const OTHER: &str = "http://localhost:5174";

async fn app_allowing(origins: &str) -> TestApp {
    let origins: Vec<_> = origins.split(',').map(|origin| parse_origin(origin).unwrap()).collect();
    spawn_app_with(Backend::Embedded, |config| config.cors_allowed_origins = origins).await
}

async fn preflight(app: &TestApp, origin: &str) -> Response {
    app.http
        .request(Method::OPTIONS, format!("{}/graphql", app.address))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type, authorization, apollo-require-preflight")
        .send()
        .await
        .unwrap()
}

async fn post(app: &TestApp, origin: &str) -> Response {
    app.http
        .post(format!("{}/graphql", app.address))
        .header("origin", origin)
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap()
}

/// A header's comma-separated items, lower case.
fn items(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|value| value.to_str().unwrap().split(','))
        .map(|item| item.trim().to_ascii_lowercase())
        .filter(|item| !item.is_empty())
        .collect()
}

fn cors_headers(headers: &HeaderMap) -> Vec<String> {
    headers.keys().map(|name| name.as_str().to_owned()).filter(|name| name.starts_with("access-control-")).collect()
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_gets_what_apollo_and_urql_need() {
    let app = app_allowing(&format!("{APP},https://admin.example.com")).await;
    let response = preflight(&app, APP).await;
    assert!([200, 204].contains(&response.status().as_u16()), "{}", response.status());
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], APP, "echoed, not *");
    assert_eq!(headers["access-control-allow-credentials"], "true");
    assert!(items(headers, "vary").contains(&"origin".to_owned()), "{headers:?}");
    let methods = items(headers, "access-control-allow-methods");
    assert!(methods.contains(&"get".to_owned()) && methods.contains(&"post".to_owned()), "{methods:?}");
    let allowed = items(headers, "access-control-allow-headers");
    for name in [
        "content-type",
        "authorization",
        "apollo-require-preflight",
        "x-apollo-operation-name",
        "graphql-preflight",
        "x-request-id",
    ] {
        assert!(allowed.contains(&name.to_owned()), "{name} in {allowed:?}");
    }
    assert_eq!(headers["access-control-max-age"], "600");
    // The second origin of the list is echoed for itself.
    let response = preflight(&app, "https://admin.example.com").await;
    assert_eq!(response.headers()["access-control-allow-origin"], "https://admin.example.com");
    app.stop().await;
}

#[tokio::test]
async fn answers_to_an_allowed_origin_carry_its_allow_origin_and_expose_the_request_id() {
    let app = app_allowing(APP).await;
    let by_get = app
        .http
        .get(format!("{}/graphql", app.address))
        .query(&[("query", "{ __typename }")])
        .header("origin", APP)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    for response in [post(&app, APP).await, by_get] {
        assert_eq!(response.status(), 200);
        let headers = response.headers();
        assert_eq!(headers["access-control-allow-origin"], APP);
        assert_eq!(headers["access-control-allow-credentials"], "true");
        assert!(items(headers, "vary").contains(&"origin".to_owned()), "{headers:?}");
        assert_eq!(items(headers, "access-control-expose-headers"), ["x-request-id"]);
        assert_eq!(response.json::<serde_json::Value>().await.unwrap(), json!({ "data": { "__typename": "Query" } }));
    }
    app.stop().await;
}

#[tokio::test]
async fn another_origin_gets_no_access_control_header_and_its_preflight_fails() {
    let app = app_allowing(APP).await;
    let response = preflight(&app, OTHER).await;
    assert_eq!(response.status(), 405, "not 2xx: the browser stops there");
    assert_eq!(cors_headers(response.headers()), Vec::<String>::new());
    assert!(items(response.headers(), "vary").contains(&"origin".to_owned()));
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "METHOD_NOT_ALLOWED", "{body}");

    let response = post(&app, OTHER).await;
    assert_eq!(response.status(), 200, "the server answers; the browser keeps it from the page");
    assert_eq!(cors_headers(response.headers()), Vec::<String>::new());
    app.stop().await;
}

#[tokio::test]
async fn a_star_allows_any_origin_without_credentials() {
    let app = app_allowing("*").await;
    for response in [preflight(&app, OTHER).await, post(&app, OTHER).await] {
        assert!(response.status().is_success(), "{}", response.status());
        let headers = response.headers();
        assert_eq!(headers["access-control-allow-origin"], "*");
        assert!(headers.get("access-control-allow-credentials").is_none(), "{headers:?}");
    }
    app.stop().await;
}

#[tokio::test]
async fn without_cors_configured_no_origin_gets_an_access_control_header() {
    let app = spawn_app_with(Backend::Embedded, |_| {}).await;
    for response in [preflight(&app, APP).await, post(&app, APP).await] {
        assert_eq!(cors_headers(response.headers()), Vec::<String>::new(), "{}", response.status());
    }
    app.stop().await;
}

#[tokio::test]
async fn an_invalid_origin_or_a_star_among_origins_is_refused_at_start_up() {
    let parse = |value: &str| Config::try_parse_from(["gateway", "--cors-allowed-origins", value]).map(drop);
    let error = parse("http://localhost:5173/").unwrap_err().to_string();
    assert!(error.contains("\"http://localhost:5173/\" is not an origin") && error.contains("trailing /"), "{error}");
    let error = parse("localhost:5173").unwrap_err().to_string();
    assert!(error.contains("scheme://host[:port]"), "{error}");
    assert!(parse("http://localhost:5173, https://app.example.com").is_ok());

    let data_dir = tempfile::tempdir().unwrap();
    let mut config = Config::embedded(data_dir.path().to_owned());
    config.cors_allowed_origins = vec![parse_origin("*").unwrap(), parse_origin(APP).unwrap()];
    let error = Application::build(config, CancellationToken::new()).await.err().expect("refused").to_string();
    assert!(error.contains("CORS_ALLOWED_ORIGINS is either * alone"), "{error}");
}
