//! The hardened edge, through HTTP: every limit and refusal of README's "Limits" and "HTTP".
//! Refused queries cost the services nothing: the RPC counters do not move.
//!
//! HTTP behaviour does not depend on the back end, so these run embedded; only the deadline
//! needs a service that does not answer, which the distributed back end can stage.

use std::time::Instant;

use reqwest::{RequestBuilder, header::HeaderMap};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::*;

const GRAPHQL_JSON: &str = "application/graphql-response+json";

struct Reply {
    status: u16,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    fn code(&self) -> &str {
        self.body["errors"][0]["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no code in {}", self.body))
    }
}

async fn send(request: RequestBuilder) -> Reply {
    let response = request.send().await.expect("request sent");
    let (status, headers) = (response.status().as_u16(), response.headers().clone());
    let body = response.json().await.unwrap_or(Value::Null);
    Reply { status, headers, body }
}

fn graphql_post(app: &TestApp) -> RequestBuilder {
    app.http.post(format!("{}/graphql", app.address))
}

/// POSTs `{query}` as JSON, asking for `application/graphql-response+json`.
async fn query(app: &TestApp, query: &str) -> Reply {
    send(graphql_post(app).header("accept", GRAPHQL_JSON).json(&json!({ "query": query }))).await
}

async fn app_with(configure: impl FnOnce(&mut gateway::Config)) -> TestApp {
    spawn_app_with(Backend::Embedded, configure).await
}

/// Every RPC the gateway has sent, whatever the service and method.
async fn rpcs_sent(app: &TestApp) -> f64 {
    let text = app.http.get(format!("{}/metrics", app.address)).send().await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|line| line.starts_with("gateway_rpc_requests_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Asserts that `query` is refused with `code`, status 400 for graphql-response+json and 200
/// for plain JSON, and that no RPC was sent for it.
async fn assert_refused_for_free(app: &TestApp, text: &str, code: &str) {
    let before = rpcs_sent(app).await;
    let reply = query(app, text).await;
    assert_eq!((reply.status, reply.code()), (400, code), "{}", reply.body);
    assert!(reply.body["data"].is_null(), "{}", reply.body);
    let legacy = send(graphql_post(app).json(&json!({ "query": text }))).await;
    assert_eq!((legacy.status, legacy.code()), (200, code), "{}", legacy.body);
    assert_eq!(rpcs_sent(app).await, before, "a refused query sends no RPC");
}

/// GraphiQL's introspection query: graphql-js's `getIntrospectionQuery` with every option on and
/// its default `typeDepth` of 9, the largest any current client sends.
fn introspection_query() -> String {
    let mut type_ref = String::from("kind name");
    for _ in 0..9 {
        type_ref = format!("kind name ofType {{ {type_ref} }}");
    }
    format!(
        "query IntrospectionQuery {{
          __schema {{
            description
            queryType {{ name kind }} mutationType {{ name kind }} subscriptionType {{ name kind }}
            types {{ ...FullType }}
            directives {{ name description isRepeatable locations args(includeDeprecated: true) {{ ...InputValue }} }}
          }}
        }}
        fragment FullType on __Type {{
          kind name description specifiedByURL isOneOf
          fields(includeDeprecated: true) {{
            name description args(includeDeprecated: true) {{ ...InputValue }} type {{ ...TypeRef }}
            isDeprecated deprecationReason
          }}
          inputFields(includeDeprecated: true) {{ ...InputValue }}
          interfaces {{ ...TypeRef }}
          enumValues(includeDeprecated: true) {{ name description isDeprecated deprecationReason }}
          possibleTypes {{ ...TypeRef }}
        }}
        fragment InputValue on __InputValue {{
          name description type {{ ...TypeRef }} defaultValue isDeprecated deprecationReason
        }}
        fragment TypeRef on __Type {{ {type_ref} }}"
    )
}

/// `{ users(first: 1) { nodes { orders(first: 1) { nodes { user { … id` down to `depth` fields:
/// pages of one, so only its depth can be too much.
fn nested_query(depth: usize) -> String {
    let steps = ["users", "nodes", "orders", "nodes", "user", "orders", "nodes", "user"];
    let path: Vec<&str> = steps.iter().chain(steps[2..].iter().cycle()).take(depth - 1).copied().collect();
    let mut text = String::new();
    for name in &path {
        text.push_str(name);
        text.push_str(if matches!(*name, "users" | "orders") { "(first: 1) { " } else { " { " });
    }
    // A connection's leaf is its count; a node's, its id.
    let leaf = if matches!(path.last(), Some(&"users" | &"orders")) { "totalCount" } else { "id" };
    format!("{{ {text}{leaf} {}}}", "} ".repeat(path.len()))
}

fn aliased_query(aliases: usize) -> String {
    let fields: String = (0..aliases).map(|n| format!("a{n}: users {{ totalCount }} ")).collect();
    format!("{{ {fields}}}")
}

const USER_FIELDS: &str = "id nickName fullName cpf email phoneNumber createdAt updatedAt";
const ORDER_FIELDS: &str = "id userId itemDescription itemQuantity itemPrice totalValue createdAt updatedAt";

/// A page of `users` users, each with a page of `orders` orders, every field, Relay's shape.
fn pages_of_pages(users: u32, orders: u32) -> String {
    let page_info = "pageInfo { hasPreviousPage hasNextPage startCursor endCursor } totalCount";
    format!(
        "{{ users(first: {users}) {{ edges {{ cursor node {{ {USER_FIELDS} \
         orders(first: {orders}) {{ edges {{ cursor node {{ {ORDER_FIELDS} }} }} {page_info} }} }} }} {page_info} }} }}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphiqls_introspection_query_passes_every_default_limit() {
    let app = app_with(|_| {}).await;
    let reply = query(&app, &introspection_query()).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.get("errors").is_none(), "{}", reply.body);
    let types = reply.body["data"]["__schema"]["types"].as_array().unwrap();
    assert!(types.iter().any(|ty| ty["name"] == "User"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_nested_deeper_than_the_limit_are_refused_before_any_rpc() {
    // Texts past MAX_QUERY_BYTES, to reach the checks after it.
    let app = app_with(|config| config.limits.max_query_bytes = config.limits.max_body_bytes).await;
    let reply = query(&app, &nested_query(16)).await;
    assert_eq!(reply.status, 200, "16 levels pass: {}", reply.body);
    assert_refused_for_free(&app, &nested_query(17), "QUERY_TOO_DEEP").await;
    // Thousands of levels are refused from the text, before the parser recurses into them.
    assert_refused_for_free(&app, &nested_query(1000), "QUERY_TOO_DEEP").await;
    assert_refused_for_free(&app, &format!("{}{}", "{ a ".repeat(100_000), "}".repeat(100_000)), "QUERY_TOO_DEEP")
        .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tighter_depth_limit_comes_from_the_configuration() {
    let app = app_with(|config| config.limits.max_depth = 3).await;
    assert_eq!(query(&app, "{ users { nodes { id } } }").await.status, 200);
    assert_refused_for_free(&app, "{ users { nodes { orders { totalCount } } } }", "QUERY_TOO_DEEP").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_fields_cost_their_page_size_and_costly_queries_are_refused_before_any_rpc() {
    let app = app_with(|_| {}).await;
    // 100 users with their first 20 orders, every field: 35 801, within the default 50 000.
    let reply = query(&app, &pages_of_pages(100, 20)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    // The same with 100 orders each costs 171 801.
    assert_refused_for_free(&app, &pages_of_pages(100, 100), "QUERY_TOO_COMPLEX").await;
    // Pages of pages of pages, through `Order.user`: 100 × 100 × 100.
    let cube = "{ orders(first: 100) { nodes { user { orders(first: 100) { nodes { user { orders(first: 100) \
                { totalCount } } } } } } } }";
    assert_refused_for_free(&app, cube, "QUERY_TOO_COMPLEX").await;
    // A variable `first` counts as well.
    let text = "query($first: Int) { users(first: $first) { nodes { id orders(first: $first) { nodes { id } } } } }";
    let variables = |first: i32| json!({ "query": text, "variables": { "first": first } });
    let small = app_with(|config| config.limits.max_complexity = 500).await;
    let reply = send(graphql_post(&small).header("accept", GRAPHQL_JSON).json(&variables(5))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = send(graphql_post(&small).header("accept", GRAPHQL_JSON).json(&variables(50))).await;
    assert_eq!((reply.status, reply.code()), (400, "QUERY_TOO_COMPLEX"), "{}", reply.body);
    // Still so once the document is known to pass validation: the cost is counted every time.
    for first in [5, 50, 5, 50] {
        let reply = send(graphql_post(&small).header("accept", GRAPHQL_JSON).json(&variables(first))).await;
        let expected = if first == 5 { (200, None) } else { (400, Some("QUERY_TOO_COMPLEX")) };
        assert_eq!((reply.status, reply.body["errors"][0]["extensions"]["code"].as_str()), expected, "{}", reply.body);
    }
    small.stop().await;
    app.stop().await;
}

/// Documents are kept once parsed, and skip the validation rules once they passed them: a
/// document that failed them fails the same way every time, and a kept one still has its
/// variables checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_document_is_refused_or_checked_the_same_way_every_time() {
    let app = app_with(|_| {}).await;
    let invalid = "{ users { nodes { id password } } }";
    let first = query(&app, invalid).await;
    assert_eq!((first.status, first.code()), (400, "GRAPHQL_VALIDATION_FAILED"), "{}", first.body);
    for _ in 0..3 {
        let again = query(&app, invalid).await;
        assert_eq!((again.status, again.code()), (400, "GRAPHQL_VALIDATION_FAILED"), "{}", again.body);
        assert_eq!(again.body["errors"][0]["message"], first.body["errors"][0]["message"]);
    }
    let by_id = "query($id: UUID!) { user(id: $id) { id } }";
    let ask = |id: serde_json::Value| json!({ "query": by_id, "variables": { "id": id } });
    for _ in 0..3 {
        let found = send(
            graphql_post(&app).header("accept", GRAPHQL_JSON).json(&ask(json!("00000000-0000-0000-0000-000000000000"))),
        )
        .await;
        assert_eq!((found.status, &found.body["data"]["user"]), (200, &Value::Null), "{}", found.body);
        let malformed = send(graphql_post(&app).header("accept", GRAPHQL_JSON).json(&ask(json!("not-a-uuid")))).await;
        assert_eq!(malformed.code(), "BAD_USER_INPUT", "{}", malformed.body);
        // A required variable left out is the client's error, naming the variable.
        let missing = send(graphql_post(&app).header("accept", GRAPHQL_JSON).json(&json!({ "query": by_id }))).await;
        assert_eq!(missing.code(), "BAD_USER_INPUT", "{}", missing.body);
        assert_eq!(missing.body["errors"][0]["extensions"]["field"], "id", "{}", missing.body);
        assert!(missing.body["data"]["user"].is_null(), "{}", missing.body);
    }
    // A variable of the wrong kind is the client's value too, before and after its document
    // is kept (then only the variables are checked, in other words).
    let paged = "query($n: Int) { users(first: $n) { totalCount } }";
    for n in [json!("abc"), json!(5), json!("abc"), json!(1.5)] {
        let reply = send(graphql_post(&app).json(&json!({ "query": paged, "variables": { "n": n } }))).await;
        if n == json!(5) {
            assert_eq!(reply.body["data"]["users"]["totalCount"], 1, "the app's admin: {}", reply.body);
        } else {
            let errors = reply.body["errors"].as_array().unwrap_or_else(|| panic!("no errors in {}", reply.body));
            assert!(errors.iter().all(|error| error["extensions"]["code"] == "BAD_USER_INPUT"), "{n}: {}", reply.body);
        }
    }
    app.stop().await;
}

/// A document sent before is checked against its variables as a new one is: a value of the
/// wrong kind deep in an input is BAD_USER_INPUT on its field, and no field of the document
/// runs, however often the document ran before with good variables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_document_with_a_value_of_the_wrong_kind_runs_no_field() {
    let app = app_with(|_| {}).await;
    let user = create_user(&app).await;
    let two = "mutation($id: UUID!, $name: UpdateUserInput!, $order: CreateOrderInput!) { \
               updateUser(id: $id, input: $name) { fullName } createOrder(input: $order) { id } }";
    let ask = |full_name: &str, quantity: Value| {
        let order =
            json!({ "userId": user["id"], "itemDescription": "Pen", "itemQuantity": quantity, "itemPrice": "1.00" });
        json!({ "query": two, "variables": { "id": user["id"], "name": { "fullName": full_name }, "order": order } })
    };
    for round in 0..3 {
        let good = send(graphql_post(&app).json(&ask(&format!("Good {round}"), json!(2)))).await;
        assert_eq!(good.body["data"]["updateUser"]["fullName"], format!("Good {round}"), "{}", good.body);
        for quantity in [json!("2"), json!(2.5), json!(null), json!({ "n": 2 })] {
            let bad = send(graphql_post(&app).json(&ask("Never written", quantity.clone()))).await;
            assert_eq!(bad.code(), "BAD_USER_INPUT", "{quantity}: {}", bad.body);
            assert_eq!(bad.body["errors"][0]["extensions"]["field"], "itemQuantity", "{quantity}: {}", bad.body);
            assert!(bad.body["data"].is_null(), "{quantity}: {}", bad.body);
        }
        let name = query(&app, &format!("{{ user(id: \"{}\") {{ fullName }} }}", user["id"].as_str().unwrap())).await;
        assert_eq!(name.body["data"]["user"]["fullName"], format!("Good {round}"), "{}", name.body);
    }
    let orders = query(&app, "{ orders { totalCount } }").await;
    assert_eq!(orders.body["data"]["orders"]["totalCount"], 3, "{}", orders.body);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_out_of_bounds_stays_bad_user_input_rather_than_too_complex() {
    let app = app_with(|_| {}).await;
    let reply = query(&app, "{ users(first: 2000000000) { nodes { id } } }").await;
    assert_eq!((reply.status, reply.code()), (200, "BAD_USER_INPUT"), "{}", reply.body);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_aliases_are_refused_before_any_rpc() {
    // Texts past MAX_QUERY_BYTES, to reach the checks after it.
    let app = app_with(|config| config.limits.max_query_bytes = config.limits.max_body_bytes).await;
    let thirty: String = (0..30).map(|n| format!("a{n}: totalCount ")).collect();
    assert_eq!(query(&app, &format!("{{ users {{ {thirty} }} }}")).await.status, 200);
    assert_refused_for_free(&app, &format!("{{ users {{ {thirty} more: totalCount }} }}"), "TOO_MANY_ALIASES").await;
    assert_refused_for_free(&app, &aliased_query(1000), "TOO_MANY_ALIASES").await;
    // Guessing passwords in bulk: a thousand tries in one request.
    let id = "0190b0a0-0000-7000-8000-000000000000";
    let guesses: String = (0..1000)
        .map(|n| {
            format!(
                "g{n}: changePassword(id: \"{id}\", currentPassword: \"guess{n}\", newPassword: \"owned-for-good\") "
            )
        })
        .collect();
    assert_refused_for_free(&app, &format!("mutation {{ {guesses}}}"), "TOO_MANY_ALIASES").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_root_fields_are_refused_before_any_rpc() {
    let app = app_with(|_| {}).await;
    let fields = |count: usize| "users { totalCount } ".repeat(count);
    assert_eq!(query(&app, &format!("{{ {} }}", fields(20))).await.status, 200);
    assert_refused_for_free(&app, &format!("{{ {} }}", fields(21)), "TOO_MANY_ROOT_FIELDS").await;
    // Fragments at the root count too.
    let text = format!("{{ ...F ...F }} fragment F on Query {{ {} }}", fields(11));
    assert_refused_for_free(&app, &text, "TOO_MANY_ROOT_FIELDS").await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragments_that_double_at_every_level_are_refused_before_any_rpc() {
    let app = app_with(|_| {}).await;
    // Expanded, 2^30 `users` fields.
    let mut text = String::from("{ ...F0 }");
    for level in 0..30 {
        text.push_str(&format!(" fragment F{level} on Query {{ ...F{next} ...F{next} }}", next = level + 1));
    }
    text.push_str(" fragment F30 on Query { users { totalCount } }");
    let reply = query(&app, &text).await;
    assert!(["QUERY_TOO_COMPLEX", "QUERY_TOO_DEEP"].contains(&reply.code()), "{}", reply.body);
    assert_refused_for_free(
        &app,
        "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }",
        "GRAPHQL_VALIDATION_FAILED",
    )
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_are_refused_with_413() {
    let app = app_with(|_| {}).await;
    // The default limit, 1 MiB: whitespace is valid JSON around the request.
    let request = r#"{"query":"{ __typename }"}"#;
    let padded = |size: usize| format!("{request}{}", " ".repeat(size - request.len()));
    let reply = send(graphql_post(&app).header("content-type", "application/json").body(padded(1024 * 1024))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = send(graphql_post(&app).header("content-type", "application/json").body(padded(1024 * 1024 + 1))).await;
    assert_eq!((reply.status, reply.code()), (413, "PAYLOAD_TOO_LARGE"), "{}", reply.body);
    assert!(reply.headers["content-type"].to_str().unwrap().starts_with("application/json"));
    app.stop().await;

    // Without a declared length, the read stops at the limit.
    let app = app_with(|config| config.limits.max_body_bytes = 1000).await;
    assert_eq!(post_chunked(&app, &padded(1000)).await, 200);
    assert_eq!(post_chunked(&app, &padded(1001)).await, 413);
    app.stop().await;
}

/// POSTs `body` with `Transfer-Encoding: chunked` (no length declared); answers the status.
async fn post_chunked(app: &TestApp, body: &str) -> u16 {
    let address = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let mut request = format!(
        "POST /graphql HTTP/1.1\r\nhost: {address}\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    for chunk in body.as_bytes().chunks(100) {
        request.push_str(&format!("{:x}\r\n{}\r\n", chunk.len(), std::str::from_utf8(chunk).unwrap()));
    }
    request.push_str("0\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    // The server may close as soon as it has answered; what it answered is all we need.
    let _ = stream.read_to_end(&mut response).await;
    let status_line = String::from_utf8_lossy(&response).lines().next().unwrap_or_default().to_owned();
    status_line.split(' ').nth(1).and_then(|status| status.parse().ok()).unwrap_or_else(|| panic!("{status_line:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_over_the_limit_are_refused_with_400() {
    let app = app_with(|_| {}).await;
    let batch = |size: usize| Value::Array(vec![json!({ "query": "{ users { totalCount } }" }); size]);
    let reply = send(graphql_post(&app).json(&batch(10))).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.as_array().map(Vec::len), Some(10));
    let before = rpcs_sent(&app).await;
    let reply = send(graphql_post(&app).header("accept", GRAPHQL_JSON).json(&batch(11))).await;
    assert_eq!((reply.status, reply.code()), (400, "BATCH_TOO_LARGE"), "{}", reply.body);
    let reply = send(graphql_post(&app).json(&batch(11))).await;
    assert_eq!((reply.status, reply.code()), (400, "BATCH_TOO_LARGE"), "{}", reply.body);
    assert_eq!(rpcs_sent(&app).await, before);
    // Each operation of a batch meets the limits on its own.
    let mixed = json!([{ "query": "{ users { totalCount } }" }, { "query": aliased_query(31) }]);
    let reply = send(graphql_post(&app).json(&mixed)).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body[0]["data"]["users"]["totalCount"], 1, "the app's admin: {}", reply.body);
    assert_eq!(reply.body[1]["errors"][0]["extensions"]["code"], "TOO_MANY_ALIASES", "{}", reply.body);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_deadline_answers_504_with_a_timeout_error() {
    // A service that does not answer, with a long RPC timeout: only the request's own
    // deadline can end the wait.
    // The deadline is another gateway's: the first one's set-up (signing its admin up, with
    // argon2) may take longer than 300 ms on a busy machine.
    let mut app = spawn_app_with(Backend::RabbitMq, |config| config.rpc_timeout_ms = 60_000).await;
    let mut config = app.config.clone();
    config.limits.request_timeout_ms = 300;
    let hurried = app.second_gateway_with(config).await;
    app.stack().users_worker.take().unwrap().stop().await;
    let started = Instant::now();
    let reply = query(&hurried, "{ users { totalCount } }").await;
    println!("a request with a 300 ms deadline answered in {:?}", started.elapsed());
    assert_eq!((reply.status, reply.code()), (504, "TIMEOUT"), "{}", reply.body);
    assert!(reply.body["errors"][0]["extensions"]["requestId"].is_string());
    hurried.stop().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutations_over_get_are_405_with_allow_post_whichever_operation_is_named() {
    let app = app_with(|_| {}).await;
    let document = "query Count { users { totalCount } } \
                    mutation Delete { deleteUser(id: \"0190b0a0-0000-7000-8000-000000000000\") }";
    let get = |operation: &str| {
        app.http.get(format!("{}/graphql", app.address)).query(&[("query", document), ("operationName", operation)])
    };
    let before = rpcs_sent(&app).await;
    let reply = send(get("Delete")).await;
    assert_eq!((reply.status, reply.code()), (405, "METHOD_NOT_ALLOWED"));
    assert_eq!(reply.headers["allow"], "POST");
    assert_eq!(rpcs_sent(&app).await, before);
    let reply = send(get("Count")).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["data"]["users"]["totalCount"], 1, "the app's admin");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_a_form_could_send_are_refused_with_415_unless_a_preflight_is_forced() {
    let app = app_with(|_| {}).await;
    // A new user each time: a refused POST must not create it, an accepted one must.
    let create_user = || {
        let query = "mutation($input: CreateUserInput!) { createUser(input: $input) { id } }";
        json!({ "query": query, "variables": { "input": new_user_input() } }).to_string()
    };
    let before = rpcs_sent(&app).await;
    for content_type in [
        Some("text/plain"),
        Some("text/plain;charset=UTF-8"),
        Some("multipart/form-data; boundary=x"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let post = || {
            let request = graphql_post(&app).body(create_user());
            match content_type {
                Some(content_type) => request.header("content-type", content_type),
                None => request,
            }
        };
        let reply = send(post()).await;
        assert_eq!((reply.status, reply.code()), (415, "UNSUPPORTED_MEDIA_TYPE"), "{content_type:?}");
        let reply = send(post().header("graphql-preflight", "")).await;
        assert_eq!(reply.status, 415, "an empty preflight header does not count: {content_type:?}");
    }
    assert_eq!(rpcs_sent(&app).await, before, "no refused POST reached a service");

    for (header, value) in
        [("apollo-require-preflight", "true"), ("x-apollo-operation-name", "Create"), ("graphql-preflight", "1")]
    {
        let request = graphql_post(&app).header("content-type", "text/plain").header(header, value).body(create_user());
        let reply = send(request).await;
        assert_eq!(reply.status, 200, "{header}: {}", reply.body);
        assert!(reply.body["data"]["createUser"]["id"].is_string(), "{header}: {}", reply.body);
    }
    let users = app.graphql("{ users { totalCount } }", json!({})).await;
    assert_eq!(users["data"]["users"]["totalCount"], 4, "the app's admin and the three with a preflight header");
    for content_type in ["application/json", "application/json; charset=utf-8", "Application/JSON", GRAPHQL_JSON] {
        let reply =
            send(graphql_post(&app).header("content-type", content_type).body(r#"{"query":"{ __typename }"}"#)).await;
        assert_eq!(reply.status, 200, "{content_type}");
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graphql_response_json_clients_get_400_for_requests_that_cannot_run() {
    let app = app_with(|_| {}).await;
    let post = |body: &str| graphql_post(&app).header("content-type", "application/json").body(body.to_owned());
    for (body, code) in [
        ("{not json", "BAD_REQUEST"),
        (r#"{"query": 42}"#, "BAD_REQUEST"),
        (r#"{"variables": {}}"#, "BAD_REQUEST"),
        (r#"{"query": "{ users { "}"#, "GRAPHQL_PARSE_FAILED"),
        (r#"{"query": "{ users { nope } }"}"#, "GRAPHQL_VALIDATION_FAILED"),
        (r#"{"query": "query A { __typename } query B { __typename }"}"#, "GRAPHQL_VALIDATION_FAILED"),
    ] {
        let reply = send(post(body).header("accept", GRAPHQL_JSON)).await;
        assert_eq!((reply.status, reply.code()), (400, code), "{body}: {}", reply.body);
    }
    let reply = send(post(r#"{"query": "{ users { "}"#).header("accept", "application/json")).await;
    assert_eq!((reply.status, reply.code()), (200, "GRAPHQL_PARSE_FAILED"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_response_has_a_request_id_and_every_error_carries_it() {
    let app = app_with(|_| {}).await;
    let reply = query(&app, "{ users { nope } }").await;
    let id = reply.headers["x-request-id"].to_str().unwrap().to_owned();
    let uuid = uuid::Uuid::parse_str(&id).expect("a generated id is a UUID");
    assert_eq!(uuid.get_version_num(), 7);
    assert_eq!(reply.body["errors"][0]["extensions"]["requestId"], id.as_str());

    let reply = send(graphql_post(&app).header("x-request-id", "trace-42.a_b:c").body("{}")).await;
    assert_eq!(reply.headers["x-request-id"], "trace-42.a_b:c", "a sane id is kept");
    assert_eq!(reply.body["errors"][0]["extensions"]["requestId"], "trace-42.a_b:c");
    for insane in ["has space", "<script>", &"x".repeat(129), ""] {
        let reply = send(graphql_post(&app).header("x-request-id", insane).json(&json!({ "query": "{ nope }" }))).await;
        let id = reply.headers["x-request-id"].to_str().unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{insane:?} is replaced, not echoed");
        assert_eq!(reply.body["errors"][0]["extensions"]["requestId"], id);
    }
    let health = app.http.get(format!("{}/healthz", app.address)).send().await.unwrap();
    assert!(health.headers().contains_key("x-request-id"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_and_graphiql_can_be_turned_off() {
    let app = app_with(|config| {
        config.limits.introspection = false;
        config.limits.graphiql = false;
    })
    .await;
    assert_refused_for_free(&app, &introspection_query(), "INTROSPECTION_DISABLED").await;
    assert_refused_for_free(&app, "{ __type(name: \"User\") { name } }", "INTROSPECTION_DISABLED").await;
    let reply = query(&app, "{ __typename users { totalCount } }").await;
    assert_eq!(reply.status, 200, "__typename is not introspection: {}", reply.body);
    let reply = send(app.http.get(format!("{}/graphql", app.address)).header("accept", "text/html")).await;
    assert_eq!((reply.status, reply.code()), (404, "NOT_FOUND"));
    app.stop().await;
}

/// Not an assertion on time (machines differ): prints how long the two classic attacks take
/// to be refused, end to end over HTTP. `cargo test -p gateway --test api hardening -- --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deepest_and_the_most_aliased_queries_are_refused_without_running() {
    let app = app_with(|_| {}).await;
    for (name, text, code) in [
        ("a depth-1000 query", nested_query(1000), "QUERY_TOO_DEEP"),
        ("a depth-17 query", nested_query(17), "QUERY_TOO_DEEP"),
        ("a 1000-alias query", aliased_query(1000), "TOO_MANY_ALIASES"),
    ] {
        // The first request warms the connection; the best of the rest is the measurement.
        let mut best = std::time::Duration::MAX;
        for _ in 0..20 {
            let started = Instant::now();
            let reply = query(&app, &text).await;
            best = best.min(started.elapsed());
            assert_eq!(reply.code(), code, "{}", reply.body);
        }
        println!("{name} ({} bytes) is refused in {best:?}", text.len());
    }
    app.stop().await;
}
