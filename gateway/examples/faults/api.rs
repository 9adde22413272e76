//! The API as its clients see it: GraphQL over HTTP (with a bearer token once signed in), each
//! write's answer sorted into what a client can know of it.

use std::{sync::Arc, time::Duration};

use anyhow::Context as _;
use serde_json::{Value, json};

/// Longer than any answer the gateway may take (its own deadline is 3 × `RPC_TIMEOUT_MS`).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The codes that do not say whether a write happened.
const UNKNOWN_CODES: [&str; 3] = ["SERVICE_UNAVAILABLE", "INTERNAL_SERVER_ERROR", "TIMEOUT"];

/// What a client learns from a write's answer.
#[derive(Debug)]
pub enum Answer {
    /// The field's value: it happened.
    Ok(Value),
    /// A definite error (`BAD_USER_INPUT`, `NOT_FOUND`, ...), by its code: it did not happen.
    Failed(String),
    /// `SERVICE_UNAVAILABLE`, `INTERNAL_SERVER_ERROR`, `TIMEOUT`, no answer in time, a lost
    /// connection: it may or may not have happened. Why, in a word.
    Unknown(String),
}

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    token: Option<Arc<str>>,
}

impl Api {
    pub fn anonymous() -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().context("an HTTP client")?;
        Ok(Self { http, token: None })
    }

    pub fn signed_in(&self, token: &str) -> Self {
        Self { http: self.http.clone(), token: Some(token.into()) }
    }

    /// POSTs a document; the JSON body whatever the status (every error of the gateway is in
    /// the GraphQL shape), or why there is none.
    async fn post(&self, gateway: &str, query: &str, variables: &Value, key: Option<&str>) -> Result<Value, String> {
        let mut request =
            self.http.post(format!("{gateway}/graphql")).json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let response = request.send().await.map_err(|error| transport(&error))?;
        let status = response.status();
        response.json().await.map_err(|error| {
            if status.is_success() {
                transport(&error)
            } else {
                format!("HTTP {} without a GraphQL body", status.as_u16())
            }
        })
    }

    /// A mutation whose root field is `field`, sent with `key` as its `Idempotency-Key`.
    pub async fn mutate(&self, gateway: &str, field: &str, query: &str, variables: &Value, key: &str) -> Answer {
        let body = match self.post(gateway, query, variables, Some(key)).await {
            Ok(body) => body,
            Err(reason) => return Answer::Unknown(reason),
        };
        match error_code(&body) {
            Some(code) if UNKNOWN_CODES.contains(&code.as_str()) => Answer::Unknown(code),
            Some(code) => Answer::Failed(code),
            None if body["data"][field].is_null() => Answer::Unknown(format!("no {field} in {body}")),
            None => Answer::Ok(body["data"][field].clone()),
        }
    }

    /// A query's `data`, or the first error's code (or why there was no answer).
    pub async fn query(&self, gateway: &str, query: &str, variables: &Value) -> Result<Value, String> {
        let body = self.post(gateway, query, variables, None).await?;
        match error_code(&body) {
            Some(code) => Err(code),
            None => Ok(body["data"].clone()),
        }
    }

    /// `GET /readyz` answers 200.
    pub async fn ready(&self, gateway: &str) -> bool {
        self.status_ok(&format!("{gateway}/readyz")).await
    }

    /// `GET /healthz` answers 200.
    pub async fn healthy(&self, gateway: &str) -> bool {
        self.status_ok(&format!("{gateway}/healthz")).await
    }

    async fn status_ok(&self, url: &str) -> bool {
        let response = self.http.get(url).timeout(Duration::from_secs(2)).send().await;
        response.is_ok_and(|response| response.status() == 200)
    }

    /// The value of an unlabelled counter on `/metrics`.
    pub async fn metric(&self, gateway: &str, name: &str) -> Option<f64> {
        let response = self.http.get(format!("{gateway}/metrics")).send().await.ok()?;
        let text = response.text().await.ok()?;
        text.lines().find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }
}

/// The first error's `extensions.code`; `None` when the body has no errors.
fn error_code(body: &Value) -> Option<String> {
    let error = body.get("errors")?.get(0)?;
    Some(error["extensions"]["code"].as_str().unwrap_or("an error without a code").to_owned())
}

fn transport(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "client timeout".to_owned()
    } else if error.is_connect() {
        "connection refused".to_owned()
    } else if error.is_decode() {
        "undecodable body".to_owned()
    } else {
        "connection lost".to_owned()
    }
}
