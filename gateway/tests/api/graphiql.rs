//! GraphiQL offline (API.md, "Browsers and clients"): the page at `GET /graphql` names only
//! the gateway's own assets, each answers with its type and cache headers and 304 when the
//! browser has it, and the page carries a Content-Security-Policy that keeps it that way.
//! The same in Chromium with no network: clients/test/graphiql.test.js.

use reqwest::{StatusCode, header};

use crate::helpers::{Backend, TestApp, spawn_app};

const IMMUTABLE: &str = "public, max-age=31536000, immutable";

async fn page(app: &TestApp) -> (reqwest::header::HeaderMap, String) {
    let response = app.http.get(format!("{}/graphql", app.address)).header("accept", "text/html").send().await.unwrap();
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    (headers, response.text().await.unwrap())
}

/// The values of every `name="..."` attribute in the HTML.
fn attributes<'a>(html: &'a str, name: &str) -> Vec<&'a str> {
    let needle = format!(" {name}=\"");
    html.match_indices(&needle)
        .map(|(at, _)| {
            let rest = &html[at + needle.len()..];
            &rest[..rest.find('"').expect("a closed attribute")]
        })
        .collect()
}

/// The assets the page names: its scripts' `src` and its stylesheets' `href`.
fn assets(html: &str) -> Vec<String> {
    let mut assets: Vec<String> = attributes(html, "src").into_iter().map(str::to_owned).collect();
    assets.extend(attributes(html, "href").into_iter().filter(|href| !href.starts_with("data:")).map(str::to_owned));
    assets
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_names_only_assets_of_the_gateway_and_has_a_csp() {
    let app = spawn_app(Backend::Embedded).await;
    let (headers, html) = page(&app).await;
    assert!(headers[header::CONTENT_TYPE].to_str().unwrap().starts_with("text/html"));
    assert_eq!(headers[header::CACHE_CONTROL], "no-cache", "revalidated, so new asset names are seen");
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    for directive in ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"] {
        assert!(csp.split(';').any(|part| part.trim() == directive), "the CSP has {directive}: {csp}");
    }
    assert!(!csp.contains("unsafe-eval") && !csp.contains("http"), "{csp}");
    assert!(html.contains("<title>GraphQL over RabbitMQ</title>"));

    for url in attributes(&html, "src").into_iter().chain(attributes(&html, "href")) {
        assert!(
            (url.starts_with('/') && !url.starts_with("//")) || url.starts_with("data:"),
            "the page names {url}, which is not the gateway's"
        );
    }
    assert!(!html.contains("http://") && !html.contains("https://"), "{html}");
    // No inline script (the CSP would block it): every <script> has a src.
    assert_eq!(html.matches("<script").count(), attributes(&html, "src").len(), "{html}");
    let assets = assets(&html);
    assert_eq!(assets.len(), 6, "two stylesheets and four scripts: {assets:?}");
    for expected in ["graphiql.", "react.", "react-dom.", "init.", "page."] {
        assert!(assets.iter().any(|asset| asset.starts_with(&format!("/graphiql/{expected}"))), "{expected}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_assets_are_immutable_with_a_strong_etag_and_304_when_unchanged() {
    let app = spawn_app(Backend::Embedded).await;
    let (_, html) = page(&app).await;
    for asset in assets(&html) {
        let url = format!("{}{asset}", app.address);
        let response = app.http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{asset}");
        let headers = response.headers().clone();
        let content_type = headers[header::CONTENT_TYPE].to_str().unwrap();
        let expected = if asset.ends_with(".js") { "text/javascript" } else { "text/css" };
        assert!(content_type.starts_with(expected), "{asset}: {content_type}");
        assert_eq!(headers[header::CACHE_CONTROL], IMMUTABLE, "{asset}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{asset}");
        let etag = headers[header::ETAG].to_str().unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2, "a strong ETag: {etag}");
        assert!(asset.contains(etag.trim_matches('"')), "{asset} is named by its content's hash {etag}");
        let body = response.bytes().await.unwrap();
        assert!(body.len() > 100, "{asset} has {} bytes", body.len());
        assert_eq!(headers[header::CONTENT_LENGTH], body.len().to_string().as_str());

        for if_none_match in [etag.clone(), format!("W/{etag}"), format!("\"other\", {etag}"), "*".to_owned()] {
            let response = app.http.get(&url).header(header::IF_NONE_MATCH, &if_none_match).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::NOT_MODIFIED, "{asset} with If-None-Match: {if_none_match}");
            assert_eq!(response.headers()[header::ETAG], etag.as_str());
            assert_eq!(response.headers()[header::CACHE_CONTROL], IMMUTABLE);
            assert!(response.bytes().await.unwrap().is_empty());
        }
        let response = app.http.get(&url).header(header::IF_NONE_MATCH, "\"other\"").send().await.unwrap();
        assert_eq!(response.status(), 200, "{asset} with another ETag");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiql_serves_nothing_else_under_its_path() {
    let app = spawn_app(Backend::Embedded).await;
    for path in ["/graphiql/graphiql.min.js", "/graphiql/nothing.js", "/graphiql/LICENSE.react", "/graphiql/README.md"]
    {
        let response = app.http.get(format!("{}{path}", app.address)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert_ne!(response.headers().get(header::CACHE_CONTROL).map(|value| value.to_str().unwrap()), Some(IMMUTABLE));
    }
    app.stop().await;
}
