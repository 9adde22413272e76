//! The whole stack on a three-node RabbitMQ cluster of the test's own, with quorum queues: a node
//! is killed (`kill -9`) under a write load of idempotent `createOrder`s, and nothing is lost or
//! made twice. Each client retries a request whose outcome it does not know (no answer, or
//! SERVICE_UNAVAILABLE) with the same `Idempotency-Key` until it gets a definite answer; the
//! orders database, read once every writer has stopped, must then hold exactly one order per
//! request, as it was answered.

use std::{
    collections::{HashMap, HashSet},
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use test_support::PrivateRabbitMqCluster;

use crate::helpers::*;

/// Clients sending orders at once, each one request after the other.
const CLIENTS: usize = 4;
/// Orders answered before the node is killed, and again after it, at least.
const ORDERS_BEFORE_THE_KILL: usize = 20;
const ORDERS_AFTER_THE_KILL: usize = 20;
/// The load goes on at least this long after the kill.
const LOAD_AFTER_THE_KILL: Duration = Duration::from_secs(5);
/// How long the load may take to reach either count.
const LOAD_DEADLINE: Duration = Duration::from_secs(120);
/// One logical request's retries: at most this many attempts, within this long.
const MAX_ATTEMPTS: u32 = 30;
const RETRY_FOR: Duration = Duration::from_secs(60);
/// One attempt's HTTP exchange; the gateway answers well before (RPC_TIMEOUT_MS).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);
const RPC_TIMEOUT_MS: u64 = 3000;
/// How long each part of the stack may take to stop once the load is over.
const SHUTDOWN: Duration = Duration::from_secs(60);
const PRICE: &str = "1.25";
const PRICE_CENTS: i64 = 125;

const CREATE_ORDER: &str = "mutation($input: CreateOrderInput!) { createOrder(input: $input) { id userId itemDescription itemQuantity itemPrice totalValue } }";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_node_cluster_loses_a_node_under_load_and_loses_and_duplicates_nothing() {
    // `RUST_LOG=info` (or finer) shows the stack's own logs beside the test's.
    if let Ok(directives) = std::env::var("RUST_LOG") {
        let _ = tracing::subscriber::set_global_default(rpc::process::subscriber(
            Some(&directives),
            false,
            std::io::stderr,
        ));
    }
    let started = Instant::now();
    let cluster = PrivateRabbitMqCluster::start(3).await;
    eprintln!("cluster: 3 nodes up and clustered in {:?}", started.elapsed());
    let mut app = spawn_app_on_broker(&cluster.url_list(), |config| {
        config.topology.queue_type = rpc::amqp::QueueType::Quorum;
        config.rpc_timeout_ms = RPC_TIMEOUT_MS;
    })
    .await;
    let mut users = Vec::new();
    for _ in 0..CLIENTS {
        users.push(create_user(&app).await["id"].as_str().unwrap().to_owned());
    }

    let run = uuid::Uuid::now_v7().simple().to_string();
    let stop = AtomicBool::new(false);
    let answered = AtomicUsize::new(0);
    let load_started = Instant::now();
    let load = Load { app: &app, run: &run, started: load_started, stop: &stop, answered: &answered };
    let clients = users.iter().enumerate().map(|(client, user)| run_client(&load, client, user));
    let controller = async {
        assert!(
            reaches(&answered, ORDERS_BEFORE_THE_KILL).await,
            "only {} orders answered within {LOAD_DEADLINE:?} before any node was killed",
            answered.load(Ordering::SeqCst)
        );
        let before = answered.load(Ordering::SeqCst);
        // Node 0 is the first address of everyone's list: the gateway and both workers are on it.
        cluster.kill(0).await;
        let killed_at = Instant::now();
        eprintln!("cluster: killed node 0 ({}) after {before} orders", cluster.node_name(0));
        let stalled = !reaches(&answered, before + ORDERS_AFTER_THE_KILL).await;
        if stalled {
            // Said once the clients have stopped and every outcome is printed; first, what the
            // cluster holds now.
            eprintln!("cluster: the load stalled after the kill; the broker as node 1 sees it:");
            print_broker(&cluster).await;
            probe(&app, &cluster).await;
        } else {
            tokio::time::sleep(LOAD_AFTER_THE_KILL.saturating_sub(killed_at.elapsed())).await;
        }
        stop.store(true, Ordering::SeqCst);
        (killed_at, before, stalled)
    };
    let (requests, (killed_at, before_the_kill, stalled)) =
        tokio::join!(futures_util::future::join_all(clients), controller);
    let requests: Vec<Request> = requests.into_iter().flatten().collect();

    let count = |wanted: fn(&Outcome) -> bool| requests.iter().filter(|request| wanted(&request.outcome)).count();
    let (ok, failed, unknown) = (
        count(|outcome| matches!(outcome, Outcome::Ok(_))),
        count(|outcome| matches!(outcome, Outcome::Failed(_))),
        count(|outcome| matches!(outcome, Outcome::Unknown(_))),
    );
    let retried = requests.iter().filter(|request| request.attempts > 1).count();
    let attempts: u32 = requests.iter().map(|request| request.attempts).sum();
    let slowest = requests.iter().map(|request| request.took).max().unwrap_or_default();
    let after_kill = requests.iter().filter(|request| request.finished > killed_at).count();
    eprintln!(
        "cluster: node 0 killed at +{:.1}s; {} logical createOrder requests: {ok} ok, {failed} failed, \
         {unknown} unknown; {retried} retried ({attempts} attempts in all); {after_kill} finished after the kill; \
         slowest {slowest:?}",
        (killed_at - load_started).as_secs_f64(),
        requests.len()
    );
    let eventful = requests.iter().filter(|request| request.attempts > 1 || !matches!(request.outcome, Outcome::Ok(_)));
    for request in eventful {
        eprintln!(
            "cluster:   {} {} after {} attempts; earlier: {:?}",
            request.description,
            request.outcome.describe(),
            request.attempts,
            request.errors
        );
    }

    // Every writer stops before the database is read, so nothing can be stored after the check.
    // One that does not stop is left running (and said so below): the audit still says what
    // the database holds.
    let mut stack = app.stack.take().expect("a distributed back end");
    let mut not_stopped = Vec::new();
    for (what, stopped) in [
        ("the gateway", within(SHUTDOWN, app.stop()).await),
        ("the users worker", within(SHUTDOWN, stack.users_worker.take().unwrap().stop()).await),
        ("the orders worker", within(SHUTDOWN, stack.orders_worker.take().unwrap().stop()).await),
    ] {
        match stopped {
            Some(took) => eprintln!("cluster: {what} stopped in {took:?}"),
            None => {
                eprintln!("cluster: {what} did not stop within {SHUTDOWN:?}; the broker as node 1 sees it:");
                print_broker(&cluster).await;
                not_stopped.push(what);
            }
        }
    }
    let stored = stored_orders(&stack.orders_db.url).await;
    let audit = audit(&requests, &stored);
    eprintln!(
        "cluster: {} orders stored; lost {}, duplicated {}, not asked for {}, stored otherwise than answered {}",
        stored.len(),
        audit.lost.len(),
        audit.duplicated.len(),
        audit.stray.len(),
        audit.mismatched.len()
    );

    assert!(audit.lost.is_empty(), "answered but not stored: {:?}", audit.lost);
    assert!(audit.duplicated.is_empty(), "stored more than once: {:?}", audit.duplicated);
    assert!(audit.stray.is_empty(), "stored but never asked for: {:?}", audit.stray);
    assert!(audit.mismatched.is_empty(), "stored otherwise than answered: {:?}", audit.mismatched);
    let not_ok: Vec<_> = requests
        .iter()
        .filter(|request| !matches!(request.outcome, Outcome::Ok(_)))
        .map(|request| format!("{}: {}", request.description, request.outcome.describe()))
        .collect();
    assert!(not_ok.is_empty(), "requests that never got an order: {not_ok:?}");
    assert_eq!(stored.len(), ok, "one stored order per request answered");
    assert!(
        !stalled,
        "the stack stopped serving after the kill: {before_the_kill} orders answered before it, \
         {ok} in all, short of {} more within {LOAD_DEADLINE:?} after it",
        ORDERS_AFTER_THE_KILL
    );
    assert!(not_stopped.is_empty(), "did not stop within {SHUTDOWN:?} after the load: {not_stopped:?}");
    drop(stack);
    drop(cluster);
    eprintln!("cluster: the whole test took {:?}", started.elapsed());
}

/// One logical `createOrder` of the load, retried until its outcome was known.
#[derive(Debug)]
struct Request {
    description: String,
    user_id: String,
    quantity: i64,
    attempts: u32,
    /// The errors of the attempts before the last, as they came.
    errors: Vec<String>,
    outcome: Outcome,
    took: Duration,
    finished: Instant,
}

#[derive(Debug)]
enum Outcome {
    /// The order as `createOrder` answered it.
    Ok(Value),
    /// A definite refusal: its error.
    Failed(String),
    /// Retries ran out without a definite answer: the last error.
    Unknown(String),
}

impl Outcome {
    fn describe(&self) -> String {
        match self {
            Self::Ok(order) => format!("ok (order {})", order["id"]),
            Self::Failed(error) => format!("failed: {error}"),
            Self::Unknown(error) => format!("unknown: {error}"),
        }
    }
}

/// What one attempt came back with.
enum Attempt {
    Answered(Value),
    Refused(String),
    /// No answer, or one that does not say whether the order was made.
    Unknown(String),
}

/// What every client of the load shares.
struct Load<'a> {
    app: &'a TestApp,
    /// In every `Idempotency-Key`, so that no two runs share one.
    run: &'a str,
    started: Instant,
    /// Set when the load is over: each client finishes its request in hand, then stops.
    stop: &'a AtomicBool,
    /// Requests answered with an order so far.
    answered: &'a AtomicUsize,
}

/// Sends orders one after the other until the load stops, each with a key of its own: what each
/// ended as.
async fn run_client(load: &Load<'_>, client: usize, user_id: &str) -> Vec<Request> {
    let mut requests = Vec::new();
    for n in 0_u32.. {
        if load.stop.load(Ordering::SeqCst) {
            break;
        }
        let description = format!("load-{client}-{n}");
        let quantity = i64::from(n % 5 + 1);
        let key = format!("cluster-{}-{client}-{n}", load.run);
        let variables = json!({ "input": {
            "userId": user_id, "itemDescription": description, "itemQuantity": quantity, "itemPrice": PRICE,
        } });
        let started = Instant::now();
        let mut errors = Vec::new();
        let mut attempts = 0;
        let outcome = loop {
            attempts += 1;
            let sent = load.started.elapsed();
            match attempt(load.app, &key, &variables).await {
                Attempt::Answered(order) => break Outcome::Ok(order),
                Attempt::Refused(error) => break Outcome::Failed(error),
                Attempt::Unknown(error) if attempts >= MAX_ATTEMPTS || started.elapsed() >= RETRY_FOR => {
                    break Outcome::Unknown(error);
                }
                Attempt::Unknown(error) => errors.push(format!(
                    "+{:.1}s..+{:.1}s {error}",
                    sent.as_secs_f64(),
                    load.started.elapsed().as_secs_f64()
                )),
            }
            // A short pause, 0.1 s growing to 0.8 s: the stack reconnects to another node meanwhile.
            tokio::time::sleep(Duration::from_millis(100 << (attempts.min(4) - 1))).await;
        };
        if matches!(outcome, Outcome::Ok(_)) {
            load.answered.fetch_add(1, Ordering::SeqCst);
        }
        requests.push(Request {
            description,
            user_id: user_id.to_owned(),
            quantity,
            attempts,
            errors,
            outcome,
            took: started.elapsed(),
            finished: Instant::now(),
        });
    }
    requests
}

/// One POST of the request with its `Idempotency-Key`, as the app's admin.
async fn attempt(app: &TestApp, key: &str, variables: &Value) -> Attempt {
    let response = app
        .http
        .post(format!("{}/graphql", app.address))
        .header("Idempotency-Key", key)
        .timeout(ATTEMPT_TIMEOUT)
        .json(&json!({ "query": CREATE_ORDER, "variables": variables }))
        .send()
        .await;
    let response = match response {
        Ok(response) => response,
        Err(error) => return Attempt::Unknown(format!("transport: {error}")),
    };
    let status = response.status();
    let body: Value = match response.json().await {
        Ok(body) => body,
        Err(error) => return Attempt::Unknown(format!("HTTP {status}, no JSON body: {error}")),
    };
    if status == 200 && body["data"]["createOrder"].is_object() {
        return Attempt::Answered(body["data"]["createOrder"].clone());
    }
    let code = body["errors"][0]["extensions"]["code"].as_str().unwrap_or_default();
    let error = format!("HTTP {status} {code}: {}", body["errors"][0]["message"]);
    if status.is_server_error() || matches!(code, "SERVICE_UNAVAILABLE" | "INTERNAL_SERVER_ERROR" | "TIMEOUT") {
        Attempt::Unknown(error)
    } else {
        Attempt::Refused(format!("{error} ({body})"))
    }
}

/// Awaits `future` for at most `limit`: how long it took, or none.
async fn within(limit: Duration, future: impl Future<Output = ()>) -> Option<Duration> {
    let started = Instant::now();
    tokio::time::timeout(limit, future).await.ok().map(|()| started.elapsed())
}

/// Whether the services answer a client of the test's own, new, on each surviving node, and
/// what the gateway's readiness says: tells a stuck connection of the stack's from a service
/// that no longer answers anyone.
async fn probe(app: &TestApp, cluster: &PrivateRabbitMqCluster) {
    let ready = app.http.get(format!("{}/readyz", app.address)).send().await.map(|response| response.status());
    eprintln!("cluster: the gateway's /readyz: {ready:?}");
    for (node, url) in cluster.urls().into_iter().enumerate().skip(1) {
        let client = rpc::Broker::from_url(Some(&url), app.config.topology)
            .client("cluster-test-probe", Duration::from_millis(RPC_TIMEOUT_MS));
        let connected = Instant::now() + Duration::from_secs(10);
        while !client.is_connected() && Instant::now() < connected {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for service in [rpc::Service::Users, rpc::Service::Orders] {
            let answer = client.ping(service).await;
            eprintln!("cluster: a new client on node {node} pings {}: {answer:?}", service.name());
        }
    }
}

/// What the surviving node 1 holds: queues, consumers, connections.
async fn print_broker(cluster: &PrivateRabbitMqCluster) {
    let queues =
        ["list_queues", "name", "type", "leader", "online", "messages_ready", "messages_unacknowledged", "consumers"];
    let consumers = ["list_consumers", "queue_name", "channel_pid", "active", "activity_status", "prefetch_count"];
    let channels = ["list_channels", "connection", "number", "consumer_count", "messages_unacknowledged"];
    let connections = ["list_connections", "name", "pid", "client_properties"];
    for args in [&queues[..], &consumers, &channels, &connections] {
        let quiet: Vec<&str> = ["-q"].into_iter().chain(args.iter().copied()).collect();
        let output = cluster.rabbitmqctl(1, &quiet).await.unwrap_or_else(|error| error);
        eprintln!("cluster: rabbitmqctl {}:\n{output}", args.join(" "));
    }
}

/// Whether `answered` reaches `count` within [`LOAD_DEADLINE`].
async fn reaches(answered: &AtomicUsize, count: usize) -> bool {
    let deadline = Instant::now() + LOAD_DEADLINE;
    while answered.load(Ordering::SeqCst) < count {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// An order as the orders database holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StoredOrder {
    id: String,
    user_id: String,
    description: String,
    quantity: i64,
    price_cents: i64,
    total_cents: i64,
}

/// Every order of the orders database, read from the database itself: past the gateway, its
/// cache and the services.
async fn stored_orders(database_url: &str) -> Vec<StoredOrder> {
    use sea_orm::EntityTrait;
    let db = orders_worker::open_database(database_url).await.expect("the orders database opens");
    let orders = entities::orders::order::Entity::find().all(&db).await.expect("the orders are read");
    let _ = db.close().await;
    orders
        .into_iter()
        .map(|order| StoredOrder {
            id: order.id.to_string(),
            user_id: order.user_id.to_string(),
            description: order.item_description,
            quantity: i64::from(order.item_quantity),
            price_cents: order.item_price_cents,
            total_cents: order.total_value_cents,
        })
        .collect()
}

/// What the database holds against what the clients asked and were answered.
#[derive(Debug, Default)]
struct Audit {
    /// Requests answered with an order that is not stored (by id).
    lost: Vec<String>,
    /// Descriptions stored on more than one order, with how many.
    duplicated: Vec<(String, usize)>,
    /// Stored orders that no request asked for.
    stray: Vec<StoredOrder>,
    /// Requests whose answer or stored order differs from what was asked.
    mismatched: Vec<String>,
}

fn audit(requests: &[Request], stored: &[StoredOrder]) -> Audit {
    let mut audit = Audit::default();
    let by_id: HashMap<&str, &StoredOrder> = stored.iter().map(|order| (order.id.as_str(), order)).collect();
    let mut per_description: HashMap<&str, usize> = HashMap::new();
    for order in stored {
        *per_description.entry(&order.description).or_default() += 1;
    }
    let mut duplicated: Vec<_> = per_description
        .iter()
        .filter(|(_, count)| **count > 1)
        .map(|(description, count)| ((*description).to_owned(), *count))
        .collect();
    duplicated.sort();
    audit.duplicated = duplicated;
    let asked: HashSet<&str> = requests.iter().map(|request| request.description.as_str()).collect();
    audit.stray = stored.iter().filter(|order| !asked.contains(order.description.as_str())).cloned().collect();
    for request in requests {
        let Outcome::Ok(answer) = &request.outcome else { continue };
        let total_cents = PRICE_CENTS * request.quantity;
        let expected_answer = (
            request.user_id.as_str(),
            request.description.as_str(),
            request.quantity,
            PRICE.to_owned(),
            format!("{}.{:02}", total_cents / 100, total_cents % 100),
        );
        let answered = (
            answer["userId"].as_str().unwrap_or_default(),
            answer["itemDescription"].as_str().unwrap_or_default(),
            answer["itemQuantity"].as_i64().unwrap_or_default(),
            answer["itemPrice"].as_str().unwrap_or_default().to_owned(),
            answer["totalValue"].as_str().unwrap_or_default().to_owned(),
        );
        if answered != expected_answer {
            audit.mismatched.push(format!("{}: answered {answer}", request.description));
        }
        let id = answer["id"].as_str().unwrap_or_default();
        let Some(order) = by_id.get(id) else {
            audit.lost.push(format!("{} (order {id})", request.description));
            continue;
        };
        let expected = StoredOrder {
            id: id.to_owned(),
            user_id: request.user_id.clone(),
            description: request.description.clone(),
            quantity: request.quantity,
            price_cents: PRICE_CENTS,
            total_cents,
        };
        if **order != expected {
            audit.mismatched.push(format!("{}: stored {order:?}", request.description));
        }
    }
    audit
}

/// The audit itself catches what the test is about: an answered order missing, one stored twice.
#[test]
fn the_cluster_audit_finds_a_lost_and_a_duplicated_order() {
    let request = |description: &str, id: &str| Request {
        description: description.to_owned(),
        user_id: "u".to_owned(),
        quantity: 2,
        attempts: 1,
        errors: Vec::new(),
        outcome: Outcome::Ok(json!({
            "id": id, "userId": "u", "itemDescription": description, "itemQuantity": 2,
            "itemPrice": PRICE, "totalValue": "2.50",
        })),
        took: Duration::ZERO,
        finished: Instant::now(),
    };
    let stored = |description: &str, id: &str| StoredOrder {
        id: id.to_owned(),
        user_id: "u".to_owned(),
        description: description.to_owned(),
        quantity: 2,
        price_cents: PRICE_CENTS,
        total_cents: 2 * PRICE_CENTS,
    };
    let requests = [request("load-0-0", "a"), request("load-0-1", "b"), request("load-0-2", "c")];
    let clean = audit(&requests, &[stored("load-0-0", "a"), stored("load-0-1", "b"), stored("load-0-2", "c")]);
    assert!(
        clean.lost.is_empty() && clean.duplicated.is_empty() && clean.stray.is_empty() && clean.mismatched.is_empty()
    );

    let found = audit(&requests, &[stored("load-0-0", "a"), stored("load-0-1", "b"), stored("load-0-1", "d")]);
    assert_eq!(found.lost, ["load-0-2 (order c)"]);
    assert_eq!(found.duplicated, [("load-0-1".to_owned(), 2)]);
    let wrong = audit(&requests[..1], &[StoredOrder { quantity: 3, ..stored("load-0-0", "a") }]);
    assert_eq!(wrong.mismatched.len(), 1, "{wrong:?}");
}
