//! `spawn_app()`: the whole API on port 0 with stores of its own, over one of two back ends:
//! embedded (in-process transport, SQLite in a temp folder) or distributed (a RabbitMQ vhost
//! and two PostgreSQL databases of its own, with both workers' real code running).

use std::{sync::atomic::AtomicUsize, time::Duration};

use gateway::{Application, Config};
use rpc::Broker;
use serde_json::{Value, json};
use test_support::{TestDatabase, Vhost};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    RabbitMq,
}

pub struct TestApp {
    pub address: String,
    pub config: Config,
    /// Sends the admin's token with every request (see `admin_token`).
    pub http: reqwest::Client,
    /// Sends no token: a signed-out client.
    pub anonymous_http: reqwest::Client,
    /// The token of an admin the app was started with (`operator_…`, made one by the
    /// operator's command): what [`TestApp::graphql`] sends, so the scenarios that are not about
    /// access may do everything.
    pub admin_token: String,
    shutdown: CancellationToken,
    server: Option<JoinHandle<()>>,
    pub stack: Option<Stack>,
    _data_dir: tempfile::TempDir,
}

/// What the distributed back end runs beside the gateway. Dropping it deletes the vhost and the
/// databases, so they last as long as the test holds its app.
pub struct Stack {
    /// The broker the stack runs on: a vhost of its own on the machine's RabbitMQ, or a private
    /// node's ([`spawn_app_on_broker`]).
    pub amqp_url: String,
    _vhost: Option<Vhost>,
    pub users_db: TestDatabase,
    pub orders_db: TestDatabase,
    pub users_worker: Option<Worker>,
    pub orders_worker: Option<Worker>,
}

pub struct Worker {
    shutdown: CancellationToken,
    handle: JoinHandle<()>,
}

impl Worker {
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.handle.await.expect("worker task panicked");
    }
}

/// The users worker as its binary runs it (`users_worker::Application`), on this broker and
/// database.
pub async fn start_users_worker(url: &str, database_url: &str) -> Worker {
    start_users_worker_on(Broker::amqp(url), database_url).await
}

/// [`start_users_worker`] on a broker of the test's making (several addresses, quorum queues).
pub async fn start_users_worker_on(broker: Broker, database_url: &str) -> Worker {
    let app = users_worker::Application::build(users_worker::Options::with_database(database_url))
        .await
        .expect("users database opens");
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let handle = tokio::spawn(async move { app.run_until_stopped(&broker, token).await.expect("users worker") });
    Worker { shutdown, handle }
}

/// The orders worker as its binary runs it (`orders_worker::Application`), on this broker and
/// database, waiting `timeout` for the users service.
pub async fn start_orders_worker(url: &str, database_url: &str, timeout: Duration) -> Worker {
    start_orders_worker_on(Broker::amqp(url), database_url, timeout).await
}

/// [`start_orders_worker`] on a broker of the test's making (several addresses, quorum queues).
pub async fn start_orders_worker_on(broker: Broker, database_url: &str, timeout: Duration) -> Worker {
    let options = orders_worker::Options {
        rpc_timeout_ms: u64::try_from(timeout.as_millis()).expect("a timeout in milliseconds fits u64"),
        ..orders_worker::Options::with_database(database_url)
    };
    let app = orders_worker::Application::build(options).await.expect("orders database opens");
    let shutdown = CancellationToken::new();
    let token = shutdown.clone();
    let handle = tokio::spawn(async move { app.run_until_stopped(&broker, token).await.expect("orders worker") });
    Worker { shutdown, handle }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

pub async fn spawn_app_with(backend: Backend, configure: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_on(backend, None, configure).await
}

/// The distributed back end on a broker the test brings (a [`test_support::PrivateRabbitMq`]'s
/// URL), instead of a vhost of the machine's.
pub async fn spawn_app_on_broker(amqp_url: &str, configure: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_on(Backend::RabbitMq, Some(amqp_url), configure).await
}

async fn spawn_app_on(backend: Backend, amqp_url: Option<&str>, configure: impl FnOnce(&mut Config)) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::embedded(data_dir.path().to_owned());
    // Gateways of one test share a cache; other tests never see it.
    config.cache_key_prefix = test_support::unique_name("cache", '_');
    // Generous, so a busy test machine does not turn cache reads into bypasses; the Redis
    // outage tests set their own.
    config.cache_timeout_ms = 1000;
    if backend == Backend::RabbitMq {
        config.redis_url = Some(test_redis_url());
        // Gateways of one deployment share it: `second_gateway` copies the config.
        config.auth_secret = Some(format!("test secret {}", uuid::Uuid::now_v7()).parse().unwrap());
    }
    configure(&mut config);
    let stack = match backend {
        Backend::Embedded => None,
        Backend::RabbitMq => {
            let (vhost, amqp_url) = match amqp_url {
                Some(url) => (None, url.to_owned()),
                None => {
                    let vhost = Vhost::create("e2e").await;
                    let url = vhost.url.clone();
                    (Some(vhost), url)
                }
            };
            let (users_db, orders_db) = (
                TestDatabase::create(test_support::Backend::Postgres, "e2e_users").await,
                TestDatabase::create(test_support::Backend::Postgres, "e2e_orders").await,
            );
            // The workers declare the queues as the gateway does (`config.topology`).
            let broker = || Broker::from_url(Some(&amqp_url), config.topology);
            let users_worker = start_users_worker_on(broker(), &users_db.url).await;
            let orders_worker = start_orders_worker_on(broker(), &orders_db.url, config.rpc_timeout()).await;
            config.amqp_url = Some(amqp_url.clone());
            Some(Stack {
                amqp_url,
                _vhost: vhost,
                users_db,
                orders_db,
                users_worker: Some(users_worker),
                orders_worker: Some(orders_worker),
            })
        }
    };
    let mut test_app = start_gateway(config, stack, data_dir).await;
    test_app.wait_until_ready().await;
    test_app.admin_token = test_app.make_admin().await;
    test_app.http = client_for(&test_app.config, Some(&test_app.admin_token));
    test_app
}

async fn start_gateway(config: Config, stack: Option<Stack>, data_dir: tempfile::TempDir) -> TestApp {
    let shutdown = CancellationToken::new();
    let app = Application::build(config.clone(), shutdown.clone()).await.expect("the gateway builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let server = tokio::spawn(async move { app.run_until_stopped().await.expect("the gateway runs") });
    let http = client_for(&config, None);
    // Keeps no connection open between requests: a scenario that counts connections counts
    // the admin's client only.
    let anonymous_http = reqwest::Client::builder().pool_max_idle_per_host(0).build().expect("an HTTP client");
    let admin_token = String::new();
    TestApp {
        address,
        config,
        http,
        anonymous_http,
        admin_token,
        shutdown,
        server: Some(server),
        stack,
        _data_dir: data_dir,
    }
}

/// The test's HTTP client lets a pooled connection go well before the gateway's keep-alive
/// timeout would close it: reusing one the gateway is closing at that moment is a reset, not an
/// answer (the connection tests set that timeout to half a second).
///
/// With `token`, every request carries it as `Authorization: Bearer`.
fn client_for(config: &Config, token: Option<&str>) -> reqwest::Client {
    let keep_alive = Duration::from_millis(config.connections.keep_alive_timeout_ms);
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = token {
        let value =
            reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).expect("a token is a header value");
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    reqwest::Client::builder()
        .pool_idle_timeout(keep_alive / 2)
        .default_headers(headers)
        .build()
        .expect("an HTTP client")
}

pub fn test_redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}

impl TestApp {
    /// Another gateway on the same broker and cache (distributed back end).
    pub async fn second_gateway(&self) -> TestApp {
        self.second_gateway_with(self.config.clone()).await
    }

    /// Another gateway on the same broker and cache, with `config` (this app's, changed).
    pub async fn second_gateway_with(&self, config: Config) -> TestApp {
        let mut app = start_gateway(config, None, tempfile::tempdir().expect("temp dir")).await;
        app.wait_until_ready().await;
        app.admin_token = self.admin_token.clone();
        app.http = client_for(&app.config, Some(&app.admin_token));
        // Let it look the admin's session up now (see `make_admin`); a gateway of another
        // secret refuses the token, which is fine here.
        app.graphql("{ viewer { id } }", json!({})).await;
        app
    }

    /// The users database of this app's users service.
    pub fn users_database_url(&self) -> String {
        match &self.stack {
            Some(stack) => stack.users_db.url.clone(),
            None => gateway::embedded::users_options(&self.config).database_url(),
        }
    }

    /// Runs the operator's `grant-admin` (or `revoke-admin`) on this app's users database.
    pub async fn set_admin(&self, nick_name: &str, admin: bool) {
        let db = users_worker::open_database(&self.users_database_url()).await.expect("the users database opens");
        let outcome = users_worker::admin::set_admin(&db, nick_name, admin).await.expect("the command runs");
        assert!(matches!(outcome, users_worker::admin::Outcome::Changed { .. }), "{outcome:?}");
    }

    /// Signs up a user, makes it an admin, signs it in: its token.
    async fn make_admin(&self) -> String {
        let mut input = new_user_input();
        let nick_name = format!("operator_{}", input["nickName"].as_str().unwrap());
        input["nickName"] = json!(nick_name);
        let body = self
            .graphql_as(
                None,
                "mutation($input: CreateUserInput!) { createUser(input: $input) { id } }",
                json!({ "input": input }),
            )
            .await;
        assert!(body.get("errors").is_none(), "{body}");
        self.set_admin(&nick_name, true).await;
        // The command's `user.updated` waits in the outbox for the users service's relay: let
        // it land before the admin signs in, or it would end the admin's kept session later.
        self.wait_for_events("user.updated", 1.0).await;
        let token = self.login(&nick_name, "correct horse battery").await;
        // The gateway looks a session up once, then keeps it: do it now, so that a scenario
        // counting RPCs counts only its own.
        let body = self.graphql_as(Some(&token), "{ viewer { id } }", json!({})).await;
        assert!(body["data"]["viewer"]["id"].is_string(), "{body}");
        token
    }

    /// `login` with these credentials: the token.
    pub async fn login(&self, login: &str, password: &str) -> String {
        let body = self
            .graphql_as(
                None,
                "mutation($l: String!, $p: String!) { login(login: $l, password: $p) { token } }",
                json!({ "l": login, "p": password }),
            )
            .await;
        body["data"]["login"]["token"].as_str().unwrap_or_else(|| panic!("login failed: {body}")).to_owned()
    }

    /// Signs up a new user and signs it in: the user (with [`USER_FIELDS`]) and its token.
    pub async fn sign_up(&self) -> (Value, String) {
        let user = create_user(self).await;
        let token = self.login(user["nickName"].as_str().unwrap(), "correct horse battery").await;
        (user, token)
    }

    /// Polls `/readyz` until it answers 200 (the broker is connected and the workers answer).
    pub async fn wait_until_ready(&self) {
        for _ in 0..400 {
            let response = self.http.get(format!("{}/readyz", self.address)).send().await;
            if response.is_ok_and(|response| response.status() == 200) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the app never became ready");
    }

    /// POSTs a GraphQL request as the app's admin and returns the JSON body.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        self.graphql_as(Some(&self.admin_token), query, variables).await
    }

    /// POSTs a GraphQL request with this token (none: signed out) and returns the JSON body.
    pub async fn graphql_as(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let mut request = self.anonymous_http.post(format!("{}/graphql", self.address));
        if let Some(token) = token.filter(|token| !token.is_empty()) {
            request = request.bearer_auth(token);
        }
        let response =
            request.json(&json!({ "query": query, "variables": variables })).send().await.expect("request sent");
        assert_eq!(response.status(), 200);
        response.json().await.expect("a JSON body")
    }

    /// The value of one sample of `/metrics`, e.g. `gateway_rpc_requests_total{method="users.get",service="users"}`.
    pub async fn metric(&self, sample: &str) -> f64 {
        let text = self.http.get(format!("{}/metrics", self.address)).send().await.unwrap().text().await.unwrap();
        text.lines().find_map(|line| line.strip_prefix(sample).and_then(|rest| rest.trim().parse().ok())).unwrap_or(0.0)
    }

    /// Waits until this gateway has applied `count` events with this routing key to its cache.
    pub async fn wait_for_events(&self, routing_key: &str, count: f64) {
        let sample = format!("gateway_events_total{{routing_key=\"{routing_key}\"}}");
        for _ in 0..400 {
            if self.metric(&sample).await >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{routing_key} events never reached the gateway");
    }

    pub async fn rpc_count(&self, service: &str, method: &str) -> f64 {
        self.metric(&format!("gateway_rpc_requests_total{{method=\"{method}\",service=\"{service}\"}}")).await
    }

    pub fn stack(&mut self) -> &mut Stack {
        self.stack.as_mut().expect("a distributed back end")
    }

    /// Takes the stack (workers, databases, broker) and the data folder out of the app, so that
    /// [`TestApp::stop`] stops the gateway alone.
    pub fn take_stack(&mut self) -> (Stack, tempfile::TempDir) {
        let stack = self.stack.take().expect("a distributed app");
        let data_dir = std::mem::replace(&mut self._data_dir, tempfile::tempdir().expect("temp dir"));
        (stack, data_dir)
    }

    /// A gateway of `config` on a stack taken from another app ([`TestApp::take_stack`]),
    /// sending `admin_token`; not waited for: the test says when it needs it ready.
    pub async fn start_gateway_on(
        config: Config,
        stack: Stack,
        data_dir: tempfile::TempDir,
        admin_token: String,
    ) -> Self {
        let mut app = start_gateway(config, Some(stack), data_dir).await;
        app.http = client_for(&app.config, Some(&admin_token));
        app.admin_token = admin_token;
        app
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server.await.expect("the gateway stopped cleanly");
        }
        if let Some(stack) = self.stack.as_mut() {
            for worker in [stack.users_worker.take(), stack.orders_worker.take()].into_iter().flatten() {
                worker.stop().await;
            }
        }
    }
}

/// The users every app starts with: its admin (see `TestApp::admin_token`), the oldest user.
pub const ADMINS: i64 = 1;

static NEXT_USER: AtomicUsize = AtomicUsize::new(1);

/// Input for a new valid user, unique within the run.
pub fn new_user_input() -> Value {
    let n = NEXT_USER.fetch_add(1, std::sync::atomic::Ordering::SeqCst) as u64 + std::process::id() as u64 * 1000;
    json!({
        "nickName": format!("user_{n}"),
        "fullName": format!("User Number {n}"),
        "password": "correct horse battery",
        "cpf": test_support::cpf(n),
        "email": format!("User{n}@Example.com"),
        "phoneNumber": format!("+55 (11) 9{:04}-{:04}", n % 10_000, (n * 7) % 10_000),
    })
}

pub const USER_FIELDS: &str = "id nickName fullName cpf email phoneNumber createdAt updatedAt";

pub async fn create_user(app: &TestApp) -> Value {
    let body = app
        .graphql(
            &format!("mutation($input: CreateUserInput!) {{ createUser(input: $input) {{ {USER_FIELDS} }} }}"),
            json!({ "input": new_user_input() }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["createUser"].clone()
}

/// The whole response to `createUser(input: $input) { id }`, error or not.
pub async fn try_create_user(app: &TestApp, input: &Value) -> Value {
    app.graphql("mutation($input: CreateUserInput!) { createUser(input: $input) { id } }", json!({ "input": input }))
        .await
}

pub const ORDER_FIELDS: &str = "id userId itemDescription itemQuantity itemPrice totalValue createdAt updatedAt";

pub async fn create_order(app: &TestApp, user_id: &str, quantity: i64, price: &str) -> Value {
    let body = app
        .graphql(
            &format!("mutation($input: CreateOrderInput!) {{ createOrder(input: $input) {{ {ORDER_FIELDS} }} }}"),
            json!({ "input": { "userId": user_id, "itemDescription": "A thing", "itemQuantity": quantity, "itemPrice": price } }),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    body["data"]["createOrder"].clone()
}

/// The `extensions.code` and `extensions.field` of the first error.
pub fn error_of(body: &Value) -> (String, Option<String>) {
    let error = &body["errors"][0];
    let code = error["extensions"]["code"].as_str().unwrap_or_else(|| panic!("no code in {body}")).to_owned();
    (code, error["extensions"]["field"].as_str().map(str::to_owned))
}

/// A Redis server of one test, on a port of its own, to stop, freeze and restart at will.
pub struct RedisServer {
    pub port: u16,
    child: Option<std::process::Child>,
}

impl RedisServer {
    /// A free port for a server that is not started yet.
    pub fn reserve() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Self { port, child: None }
    }

    pub async fn start() -> Self {
        let mut server = Self::reserve();
        server.run().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Starts (again) on the same port and waits until it answers.
    pub async fn run(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        for _ in 0..200 {
            if let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut reply = [0u8; 7];
                if stream.write_all(b"PING\r\n").await.is_ok() && stream.read_exact(&mut reply).await.is_ok() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("redis-server on port {} never answered", self.port);
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.as_ref().expect("running").id().to_string();
        let status = std::process::Command::new("kill").args([signal, &pid]).status().unwrap();
        assert!(status.success());
    }

    pub fn freeze(&self) {
        self.signal("-STOP");
    }

    pub fn thaw(&self) {
        self.signal("-CONT");
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // Thaw a frozen server first, so it does not linger stopped if the kill fails.
        if let Some(child) = &self.child {
            let _ = std::process::Command::new("kill").args(["-CONT", &child.id().to_string()]).status();
        }
        self.stop();
    }
}
