//! The live-updates benchmark of `scripts/bench-live.sh` (issue 17): subscribers of
//! `orderChanges` spread over gateways, `updateOrder` driven at a fixed rate, and for each
//! change what it cost to deliver.
//!
//! ```sh
//! cargo run --release -p gateway --example live_bench -- \
//!     --gateways http://127.0.0.1:8001,http://127.0.0.1:8002 --pids 1234,1235 \
//!     --users 100 --subscribers 1000 --rate 200 --seconds 30 --scenario spread
//! ```
//!
//! 1. Signs up `--users` users (`createUser` + `login`), each with one order (`createOrder`).
//! 2. Opens `--subscribers` WebSockets (`graphql-transport-ws`: `connection_init` with the
//!    user's token, `connection_ack`, `subscribe` to `orderChanges`), subscriber `i` for user
//!    `i % users` on gateway `(i / users) % gateways`: every user's subscribers are spread evenly
//!    over the gateways. Waits until every gateway's `gateway_websocket_operations` counts its
//!    own, then until every subscriber got one warm-up change of its user's order.
//! 3. Drives `updateOrder` at `--rate` for `--seconds`, open loop (update `k` is sent at
//!    `k / rate` whatever the answers before it did), update `k` on order `k % users` through
//!    gateway `k % gateways`, each as the order's owner.
//! 4. Records every delivery and matches it to its change by position: a subscriber's n-th
//!    delivery after the warm-up announces the n-th change of its order in commit order (the
//!    gateway keeps commit order per record; a delivery does not name its change, and the
//!    order it carries is the order as the gateway read it, possibly after a later change).
//!    Latency: its receive time less that change's `updatedAt` (the orders service sets it
//!    under the row's lock just before its commit, on this machine's clock).
//! 5. Prints one JSON line on stdout (progress goes to stderr): latency percentiles, expected
//!    and received deliveries, missing and extra ones, the achieved change rate, the reads the
//!    gateways sent per change (`gateway_rpc_requests_total` deltas of `orders.get` and
//!    `users.get`, summed over the gateways), the memory per connection (each gateway's VmRSS
//!    with its subscribers connected less before, over its subscribers; `--pids`), and the CPU
//!    the gateways, the load generator and the machine used over the changes.
//!
//! With `LIVE_BENCH_DEBUG` set it also prints, on stderr, the commit times of the first order's
//! changes and what its first three subscribers received.

// The result is one `json!` of many fields.
#![recursion_limit = "256"]

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{Context as _, bail, ensure};
use clap::Parser;
use futures_util::{SinkExt, StreamExt, stream};
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::{Message, client::IntoClientRequest, http::HeaderValue};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
struct Args {
    /// The gateways' base URLs, comma separated (`http://127.0.0.1:8000`).
    #[arg(long, env = "LIVE_BENCH_GATEWAYS", value_delimiter = ',', required = true)]
    gateways: Vec<String>,
    /// The gateways' process ids, in the same order, for their memory (VmRSS); none: not measured.
    #[arg(long, env = "LIVE_BENCH_PIDS", value_delimiter = ',')]
    pids: Vec<u32>,
    /// Users to sign up, each with one order.
    #[arg(long, default_value_t = 100)]
    users: usize,
    /// Subscribers (one WebSocket and one subscription each), spread over the users.
    #[arg(long, default_value_t = 1000)]
    subscribers: usize,
    /// `updateOrder` calls per second.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// How long the updates are driven.
    #[arg(long, default_value_t = 30.0)]
    seconds: f64,
    /// The scenario's name, echoed in the result.
    #[arg(long, default_value = "live")]
    scenario: String,
    /// What the users' nicknames start with (letters and digits); unique per run of a stack.
    #[arg(long, default_value = "lb")]
    prefix: String,
    /// Added to each user's number for its CPF and phone number; unique per run of a stack.
    #[arg(long, default_value_t = 0)]
    user_offset: u64,
    /// WebSockets being opened at once.
    #[arg(long, default_value_t = 32)]
    connect_concurrency: usize,
    /// How long at most to wait for late deliveries once the last update answered (the wait
    /// ends sooner once all came, or none came for 3 s).
    #[arg(long, default_value_t = 30.0)]
    drain_seconds: f64,
}

const PASSWORD: &str = "live-bench-password";
const SUBSCRIPTION: &str =
    "subscription { orderChanges { kind orderId order { id totalValue updatedAt user { nickName } } } }";
const UPDATE: &str =
    "mutation($id: UUID!, $q: Int!) { updateOrder(id: $id, input: { itemQuantity: $q }) { id updatedAt } }";

/// A user of the run, with its one order.
struct User {
    nick: String,
    token: String,
    order_id: String,
}

/// One change a subscriber received.
struct Delivery {
    order: usize,
    updated_us: i64,
    received_us: i64,
}

/// What one subscriber saw.
#[derive(Default)]
struct Seen {
    deliveries: Vec<Delivery>,
    /// `next` payloads that were not a good change of this subscriber's user's order.
    bad: u64,
    /// The creation of its user's order, heard when the subscription began before the
    /// gateway heard of it: not counted.
    created: u64,
    /// The first thing that went wrong with the socket: an `error` frame, a close, a failure.
    failure: Option<String>,
}

/// What the subscribers share with the driver.
struct Shared {
    order_of: HashMap<String, usize>,
    /// Deliveries received, per subscriber.
    received: Vec<AtomicU32>,
    subscribed: AtomicU64,
    failed: AtomicBool,
    stop: CancellationToken,
}

fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

fn parse_time_us(text: &str) -> anyhow::Result<i64> {
    Ok(chrono::DateTime::parse_from_rfc3339(text).with_context(|| format!("a DateTime: {text}"))?.timestamp_micros())
}

/// A valid CPF for `n` (its nine first digits `1` then `n`'s last eight), check digits computed.
fn cpf(n: u64) -> String {
    let mut digits: Vec<u64> =
        format!("1{:08}", n % 100_000_000).bytes().map(|digit| u64::from(digit - b'0')).collect();
    for _ in 0..2 {
        let sum: u64 = digits.iter().rev().zip(2..).map(|(digit, weight)| digit * weight).sum();
        digits.push(if sum % 11 < 2 { 0 } else { 11 - sum % 11 });
    }
    digits.iter().map(u64::to_string).collect()
}

struct Api {
    http: reqwest::Client,
}

impl Api {
    /// POSTs one GraphQL request; the `data`, or an error with the whole body.
    async fn graphql(
        &self,
        gateway: &str,
        token: Option<&str>,
        query: &str,
        variables: Value,
    ) -> anyhow::Result<Value> {
        let mut request =
            self.http.post(format!("{gateway}/graphql")).json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let body: Value = request.send().await?.json().await?;
        if body.get("errors").is_some() || body.get("data").is_none_or(Value::is_null) {
            bail!("{body}");
        }
        Ok(body["data"].clone())
    }

    async fn sign_up(&self, gateway: &str, nick: String, n: u64) -> anyhow::Result<User> {
        let input = json!({
            "nickName": nick,
            "fullName": format!("Live Bench {nick}"),
            "password": PASSWORD,
            "cpf": cpf(n),
            "email": format!("{nick}@bench.example.com"),
            "phoneNumber": format!("+551197{:07}", n % 10_000_000),
        });
        let data = self
            .graphql(
                gateway,
                None,
                "mutation($input: CreateUserInput!) { createUser(input: $input) { id } }",
                json!({ "input": input }),
            )
            .await
            .with_context(|| format!("createUser {nick}"))?;
        let user_id = data["createUser"]["id"].as_str().context("createUser gave no id")?.to_owned();
        let data = self
            .graphql(
                gateway,
                None,
                "mutation($l: String!, $p: String!) { login(login: $l, password: $p) { token } }",
                json!({ "l": nick, "p": PASSWORD }),
            )
            .await
            .with_context(|| format!("login {nick}"))?;
        let token = data["login"]["token"].as_str().context("login gave no token")?.to_owned();
        let input = json!({ "userId": user_id, "itemDescription": format!("live bench item of {nick}"), "itemQuantity": 1, "itemPrice": "10.50" });
        let data = self
            .graphql(
                gateway,
                Some(&token),
                "mutation($input: CreateOrderInput!) { createOrder(input: $input) { id } }",
                json!({ "input": input }),
            )
            .await
            .with_context(|| format!("createOrder for {nick}"))?;
        let order_id = data["createOrder"]["id"].as_str().context("createOrder gave no id")?.to_owned();
        Ok(User { nick, token, order_id })
    }

    async fn metrics(&self, gateway: &str) -> anyhow::Result<Metrics> {
        let text = self.http.get(format!("{gateway}/metrics")).send().await?.error_for_status()?.text().await?;
        Ok(Metrics::parse(&text))
    }

    /// `updateOrder` of `order_id` to quantity `q`: the `updatedAt` it answered, in µs.
    async fn update(&self, gateway: &str, user: &User, q: u64) -> anyhow::Result<i64> {
        let data = self.graphql(gateway, Some(&user.token), UPDATE, json!({ "id": user.order_id, "q": q })).await?;
        parse_time_us(data["updateOrder"]["updatedAt"].as_str().context("updateOrder gave no updatedAt")?)
    }
}

/// A gateway's Prometheus text, by series (`name{labels}`).
#[derive(Default, Clone)]
struct Metrics(HashMap<String, f64>);

impl Metrics {
    fn parse(text: &str) -> Self {
        let series = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .filter_map(|line| {
                let (name, value) = line.rsplit_once(' ')?;
                Some((name.to_owned(), value.parse().ok()?))
            })
            .collect();
        Self(series)
    }

    fn get(&self, name: &str) -> f64 {
        self.0.get(name).copied().unwrap_or(0.0)
    }

    /// `gateway_rpc_requests_total` by its `method` label.
    fn rpcs(&self) -> HashMap<String, f64> {
        let mut by_method = HashMap::new();
        for (series, value) in &self.0 {
            let Some(labels) = series.strip_prefix("gateway_rpc_requests_total{") else { continue };
            let method = labels
                .split(',')
                .find_map(|label| label.strip_prefix("method=\""))
                .map(|m| m.trim_end_matches(['"', '}']));
            *by_method.entry(method.unwrap_or("?").to_owned()).or_insert(0.0) += value;
        }
        by_method
    }
}

/// CPU time a process used so far (user and system), in clock ticks (`/proc/<pid>/stat`;
/// Linux's USER_HZ, 100 a second).
fn cpu_ticks(pid: &str) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("process {pid}"))?;
    // The fields after the command's name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')').context("a stat line")?.1.split_whitespace().collect();
    Ok(fields.get(11).context("utime")?.parse::<u64>()? + fields.get(12).context("stime")?.parse::<u64>()?)
}

/// The machine's CPU ticks so far: (busy, all), from `/proc/stat`.
fn machine_ticks() -> anyhow::Result<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().context("a cpu line")?;
    let ticks: Vec<u64> = line.split_whitespace().skip(1).map(str::parse).collect::<Result<_, _>>()?;
    // user nice system idle iowait irq softirq steal ...
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    let all: u64 = ticks.iter().take(8).sum();
    Ok((all - idle, all))
}

/// VmRSS of a process, in KiB.
fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).with_context(|| format!("process {pid}"))?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:")).context("no VmRSS")?;
    Ok(line.split_whitespace().nth(1).context("VmRSS value")?.parse()?)
}

/// One subscriber: opens its socket, subscribes, then records what comes until told to stop.
async fn subscriber(
    index: usize,
    gateway: String,
    user: usize,
    token: String,
    nick: String,
    shared: Arc<Shared>,
    opening: Arc<Semaphore>,
) -> Seen {
    let mut seen = Seen::default();
    let result = subscribe_and_read(index, &gateway, user, &token, &nick, &shared, &opening, &mut seen).await;
    if let Err(error) = result {
        seen.failure.get_or_insert_with(|| format!("{error:#}"));
    }
    if seen.failure.is_some() {
        shared.failed.store(true, Ordering::Relaxed);
    }
    seen
}

#[allow(clippy::too_many_arguments)]
async fn subscribe_and_read(
    index: usize,
    gateway: &str,
    user: usize,
    token: &str,
    nick: &str,
    shared: &Shared,
    opening: &Semaphore,
    seen: &mut Seen,
) -> anyhow::Result<()> {
    let permit = opening.acquire().await?;
    let url = format!("{}/graphql", gateway.replacen("http://", "ws://", 1));
    let mut request = url.as_str().into_client_request()?;
    request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_static("graphql-transport-ws"));
    let (mut socket, _) = tokio_tungstenite::connect_async_with_config(request, None, true).await.context("connect")?;
    let init = json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } });
    socket.send(Message::Text(init.to_string().into())).await?;
    loop {
        let message =
            tokio::time::timeout(Duration::from_secs(30), socket.next()).await.context("no connection_ack")?;
        match message {
            Some(Ok(Message::Text(text))) => {
                let frame: Value = serde_json::from_str(text.as_str())?;
                match frame["type"].as_str() {
                    Some("connection_ack") => break,
                    Some("ping") => socket.send(Message::Text(json!({ "type": "pong" }).to_string().into())).await?,
                    _ => bail!("before connection_ack: {text}"),
                }
            }
            Some(Ok(Message::Close(frame))) => bail!("closed before connection_ack: {frame:?}"),
            Some(Ok(_)) => {}
            Some(Err(error)) => return Err(error.into()),
            None => bail!("gone before connection_ack"),
        }
    }
    let subscribe = json!({ "id": "1", "type": "subscribe", "payload": { "query": SUBSCRIPTION } });
    socket.send(Message::Text(subscribe.to_string().into())).await?;
    drop(permit);
    shared.subscribed.fetch_add(1, Ordering::Relaxed);
    loop {
        let message = tokio::select! {
            () = shared.stop.cancelled() => break,
            message = socket.next() => message,
        };
        let received_us = now_us();
        let text = match message {
            Some(Ok(Message::Text(text))) => text,
            Some(Ok(Message::Close(frame))) => bail!("closed by the gateway: {frame:?}"),
            Some(Ok(_)) => continue,
            Some(Err(error)) => return Err(error.into()),
            None => bail!("the socket ended"),
        };
        let frame: Value = serde_json::from_str(text.as_str())?;
        match frame["type"].as_str() {
            Some("next") => {
                let change = &frame["payload"]["data"]["orderChanges"];
                if change["kind"] == "CREATED"
                    && change["orderId"].as_str().and_then(|id| shared.order_of.get(id)) == Some(&user)
                {
                    seen.created += 1;
                    continue;
                }
                let good = frame["payload"].get("errors").is_none()
                    && change["kind"] == "UPDATED"
                    && change["order"]["user"]["nickName"] == nick;
                let order = change["orderId"].as_str().and_then(|id| shared.order_of.get(id)).copied();
                let updated = change["order"]["updatedAt"].as_str().map(parse_time_us).transpose().ok().flatten();
                match (good, order, updated) {
                    (true, Some(order), Some(updated_us)) if order == user => {
                        seen.deliveries.push(Delivery { order, updated_us, received_us });
                        shared.received[index].fetch_add(1, Ordering::Relaxed);
                    }
                    _ => {
                        if seen.bad == 0 {
                            eprintln!("subscriber {index}: unexpected change: {text}");
                        }
                        seen.bad += 1;
                    }
                }
            }
            Some("ping") => socket.send(Message::Text(json!({ "type": "pong" }).to_string().into())).await?,
            Some("pong") => {}
            _ => bail!("unexpected frame: {text}"),
        }
    }
    // Completes the subscription and closes; what the gateway still sends is not counted.
    let complete = json!({ "id": "1", "type": "complete" });
    let _ = socket.send(Message::Text(complete.to_string().into())).await;
    let _ = tokio::time::timeout(Duration::from_secs(3), socket.close(None)).await;
    Ok(())
}

/// The `q`-th quantile (0..=1) of sorted values.
fn quantile(sorted: &[i64], q: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(us: i64) -> f64 {
    (us as f64 / 10.0).round() / 100.0
}

/// One update sent by the driver.
struct Update {
    order: usize,
    /// What it answered: `updatedAt` in µs, or the error.
    result: anyhow::Result<i64>,
    took: Duration,
    /// How late it was sent after its slot in the schedule.
    late: Duration,
}

/// Sends `count` updates at `rate`, open loop; update `k` goes to order `k % users` through
/// gateway `k % gateways`, setting quantity `quantity(k)`.
async fn drive(
    api: &Arc<Api>,
    gateways: &[String],
    users: &Arc<Vec<User>>,
    count: usize,
    rate: f64,
    quantity: impl Fn(usize) -> u64,
) -> (Vec<Update>, Duration) {
    let start = tokio::time::Instant::now();
    let mut sent = Vec::with_capacity(count);
    for k in 0..count {
        let slot = start + Duration::from_secs_f64(k as f64 / rate);
        tokio::time::sleep_until(slot).await;
        let late = tokio::time::Instant::now().saturating_duration_since(slot);
        let (api, users, gateway, q) = (api.clone(), users.clone(), gateways[k % gateways.len()].clone(), quantity(k));
        let order = k % users.len();
        sent.push(tokio::spawn(async move {
            let began = Instant::now();
            let result = api.update(&gateway, &users[order], q).await;
            Update { order, result, took: began.elapsed(), late }
        }));
    }
    let sending = start.elapsed();
    let mut updates = Vec::with_capacity(count);
    for task in sent {
        updates.push(task.await.expect("an update task does not panic"));
    }
    (updates, sending)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    ensure!(!args.gateways.is_empty(), "--gateways: at least one");
    ensure!(args.pids.is_empty() || args.pids.len() == args.gateways.len(), "--pids: one per gateway");
    ensure!(args.users >= 1 && args.subscribers >= args.users, "--subscribers: at least one per user");
    ensure!(args.rate > 0.0 && args.seconds > 0.0, "--rate and --seconds: above 0");
    ensure!(args.prefix.chars().all(|c| c.is_ascii_alphanumeric()), "--prefix: letters and digits");
    let gateways: Vec<String> = args.gateways.iter().map(|g| g.trim_end_matches('/').to_owned()).collect();
    let g = gateways.len();
    let api = Arc::new(Api {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .timeout(Duration::from_secs(30))
            .tcp_nodelay(true)
            .build()?,
    });
    let log = |message: String| eprintln!("[live_bench {}] {message}", args.scenario);

    // 1. Users and their orders: createUser and login hash a password each (argon2id).
    log(format!("signing up {} users, each with one order", args.users));
    let signed_up: Vec<anyhow::Result<User>> = stream::iter(0..args.users)
        .map(|i| {
            let api = api.clone();
            let gateway = gateways[i % g].clone();
            let nick = format!("{}{i:04}", args.prefix);
            let n = args.user_offset + i as u64;
            async move { api.sign_up(&gateway, nick, n).await }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    let mut users = signed_up.into_iter().collect::<anyhow::Result<Vec<User>>>()?;
    users.sort_by(|a, b| a.nick.cmp(&b.nick));
    let users = Arc::new(users);
    let order_of: HashMap<String, usize> =
        users.iter().enumerate().map(|(i, user)| (user.order_id.clone(), i)).collect();

    // 2. Subscribers.
    let gateway_of = |i: usize| (i / args.users) % g;
    let mut per_gateway = vec![0usize; g];
    for i in 0..args.subscribers {
        per_gateway[gateway_of(i)] += 1;
    }
    let rss_before: Vec<u64> = args.pids.iter().map(|pid| rss_kib(*pid)).collect::<anyhow::Result<_>>()?;
    let mut operations_before = Vec::new();
    for gateway in &gateways {
        operations_before.push(api.metrics(gateway).await?.get("gateway_websocket_operations"));
    }
    log(format!("opening {} subscribers ({per_gateway:?} per gateway)", args.subscribers));
    let shared = Arc::new(Shared {
        order_of,
        received: (0..args.subscribers).map(|_| AtomicU32::new(0)).collect(),
        subscribed: AtomicU64::new(0),
        failed: AtomicBool::new(false),
        stop: CancellationToken::new(),
    });
    let opening = Arc::new(Semaphore::new(args.connect_concurrency.max(1)));
    let opened_at = Instant::now();
    let tasks: Vec<_> = (0..args.subscribers)
        .map(|i| {
            let user = i % args.users;
            tokio::spawn(subscriber(
                i,
                gateways[gateway_of(i)].clone(),
                user,
                users[user].token.clone(),
                users[user].nick.clone(),
                shared.clone(),
                opening.clone(),
            ))
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    while shared.subscribed.load(Ordering::Relaxed) < args.subscribers as u64 {
        if shared.failed.load(Ordering::Relaxed) || Instant::now() > deadline {
            shared.stop.cancel();
            for task in tasks {
                if let Some(failure) = task.await?.failure {
                    bail!("a subscriber failed: {failure}");
                }
            }
            bail!("the subscribers did not all subscribe within 120 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Every gateway runs its subscriptions.
    loop {
        let mut running = Vec::new();
        for gateway in &gateways {
            running.push(api.metrics(gateway).await?.get("gateway_websocket_operations"));
        }
        let all = (0..g).all(|i| running[i] - operations_before[i] >= per_gateway[i] as f64);
        if all {
            break;
        }
        ensure!(Instant::now() < deadline, "gateway_websocket_operations {running:?}, expected {per_gateway:?} more");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let connect_seconds = opened_at.elapsed().as_secs_f64();
    let rss_after: Vec<u64> = args.pids.iter().map(|pid| rss_kib(*pid)).collect::<anyhow::Result<_>>()?;
    log(format!("all subscribed in {connect_seconds:.1} s; a warm-up change of each order"));

    // Warm-up: one change of each order, until every subscriber got its own.
    let (warmup, _) = drive(&api, &gateways, &users, args.users, args.rate, |_| 2).await;
    let mut warmup_times: HashSet<(usize, i64)> = HashSet::new();
    for update in warmup {
        warmup_times.insert((update.order, update.result.context("a warm-up update")?));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while shared.received.iter().any(|n| n.load(Ordering::Relaxed) == 0) {
        ensure!(!shared.failed.load(Ordering::Relaxed), "a subscriber failed during the warm-up");
        if Instant::now() > deadline {
            let waiting = shared.received.iter().filter(|n| n.load(Ordering::Relaxed) == 0).count();
            bail!("{waiting} subscribers got no warm-up change within 30 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let rss_warm: Vec<u64> = args.pids.iter().map(|pid| rss_kib(*pid)).collect::<anyhow::Result<_>>()?;

    // 3. The measured changes.
    let cpu_pids: Vec<String> = args.pids.iter().map(u32::to_string).chain(["self".to_owned()]).collect();
    let cpu_before: Vec<u64> = cpu_pids.iter().map(|pid| cpu_ticks(pid)).collect::<anyhow::Result<_>>()?;
    let machine_before = machine_ticks()?;
    let mut before = Vec::new();
    for gateway in &gateways {
        before.push(api.metrics(gateway).await?);
    }
    let count = (args.rate * args.seconds).round().max(1.0) as usize;
    let received_before: u64 = shared.received.iter().map(|n| u64::from(n.load(Ordering::Relaxed))).sum();
    log(format!("driving {count} updates at {}/s", args.rate));
    let users_n = args.users;
    let (updates, sending) =
        drive(&api, &gateways, &users, count, args.rate, move |k| 3 + ((k / users_n) % 997) as u64).await;
    let subscribers_of_user = |user: usize| (0..args.subscribers).filter(|i| i % args.users == user).count() as u64;
    let mut expected_by_order: Vec<HashSet<i64>> = vec![HashSet::new(); args.users];
    let mut write_errors = Vec::new();
    let mut write_us: Vec<i64> = Vec::new();
    let max_late = updates.iter().map(|u| u.late).max().unwrap_or_default();
    for update in &updates {
        match &update.result {
            Ok(updated_us) => {
                expected_by_order[update.order].insert(*updated_us);
                write_us.push(update.took.as_micros() as i64);
            }
            Err(error) => write_errors.push(format!("{error:#}")),
        }
    }
    let expected: u64 = (0..args.users).map(|u| expected_by_order[u].len() as u64 * subscribers_of_user(u)).sum();
    // Late deliveries: until all came, or none came for 3 s, or the drain time is up.
    let drain_deadline = Instant::now() + Duration::from_secs_f64(args.drain_seconds);
    let (mut last, mut last_change) = (0, Instant::now());
    loop {
        let got = shared.received.iter().map(|n| u64::from(n.load(Ordering::Relaxed))).sum::<u64>() - received_before;
        if got >= expected || Instant::now() > drain_deadline || last_change.elapsed() > Duration::from_secs(3) {
            break;
        }
        if got != last {
            (last, last_change) = (got, Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Events the gateways apply after their subscribers were told (deliveries, reads) settle.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut after = Vec::new();
    for gateway in &gateways {
        after.push(api.metrics(gateway).await?);
    }
    let rss_end: Vec<u64> = args.pids.iter().map(|pid| rss_kib(*pid)).collect::<anyhow::Result<_>>()?;
    let cpu_after: Vec<u64> = cpu_pids.iter().map(|pid| cpu_ticks(pid)).collect::<anyhow::Result<_>>()?;
    let machine_after = machine_ticks()?;
    shared.stop.cancel();
    let mut seen = Vec::with_capacity(tasks.len());
    for task in tasks {
        seen.push(task.await?);
    }

    // 4. What each subscriber got, against what it should have. A delivery does not say which
    // change it announces: its `order` is the order as it was when the gateway read it, once
    // for all its subscribers, which may be after a later change of the same order committed
    // (the later state then comes twice, the earlier never). So the changes are matched by
    // position: each subscriber's first delivery is the warm-up's, and its n-th after that
    // announces the n-th change of its order in commit order (`updatedAt` order: an update
    // sets it while holding the row's lock), which the gateway promises to keep.
    let commits: Vec<Vec<i64>> = expected_by_order
        .iter()
        .map(|times| {
            let mut times: Vec<i64> = times.iter().copied().collect();
            times.sort_unstable();
            times
        })
        .collect();
    let (mut missing, mut extra, mut older, mut later_state, mut unknown, mut out_of_order, mut bad, mut created) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    let mut latencies: Vec<i64> = Vec::with_capacity(expected as usize);
    let mut state_latencies: Vec<i64> = Vec::with_capacity(expected as usize);
    let mut failures: Vec<String> = Vec::new();
    for (i, seen) in seen.iter().enumerate() {
        let user = i % args.users;
        let (commits, warm) = (&commits[user], &warmup_times);
        bad += seen.bad;
        created += seen.created;
        if let Some(failure) = &seen.failure {
            failures.push(format!("subscriber {i} on gateway {}: {failure}", gateway_of(i)));
        }
        let Some((first, measured)) = seen.deliveries.split_first() else {
            missing += commits.len() as u64;
            continue;
        };
        if !warm.contains(&(first.order, first.updated_us)) {
            // Its warm-up change carried a later state than the warm-up's: impossible, as the
            // measured changes start once every warm-up change was delivered.
            unknown += 1;
        }
        missing += commits.len().saturating_sub(measured.len()) as u64;
        extra += measured.len().saturating_sub(commits.len()) as u64;
        let mut last = first.updated_us;
        for (delivery, &commit) in measured.iter().zip(commits) {
            if delivery.updated_us < last {
                out_of_order += 1;
            }
            last = last.max(delivery.updated_us);
            if commits.binary_search(&delivery.updated_us).is_err() {
                unknown += 1;
            }
            match delivery.updated_us.cmp(&commit) {
                // Older than the change it stands for: a change announced twice (or a stale read).
                std::cmp::Ordering::Less => older += 1,
                std::cmp::Ordering::Greater => later_state += 1,
                std::cmp::Ordering::Equal => {}
            }
            latencies.push(delivery.received_us - commit);
            state_latencies.push(delivery.received_us - delivery.updated_us);
        }
    }
    if std::env::var_os("LIVE_BENCH_DEBUG").is_some() {
        eprintln!("debug: commits of order 0: {:?}", commits[0]);
        for (i, seen) in seen.iter().enumerate().filter(|(i, _)| i % args.users == 0).take(3) {
            let got: Vec<(i64, i64)> = seen.deliveries.iter().map(|d| (d.updated_us, d.received_us)).collect();
            eprintln!("debug: subscriber {i} got (updatedAt, received) {got:?}");
        }
    }
    state_latencies.sort_unstable();
    latencies.sort_unstable();
    write_us.sort_unstable();
    let received = latencies.len() as u64;
    let changes = write_us.len() as u64;
    let all_commits: Vec<i64> = commits.iter().flatten().copied().collect();
    let commit_span_s = (all_commits.iter().max().unwrap_or(&0) - all_commits.iter().min().unwrap_or(&0)) as f64 / 1e6;
    let achieved_rate = if commit_span_s > 0.0 { (changes.saturating_sub(1)) as f64 / commit_span_s } else { 0.0 };

    // Reads: what the gateways sent over the measured changes.
    let mut rpcs: HashMap<String, f64> = HashMap::new();
    let mut reads_by_gateway = Vec::new();
    let (mut deliveries_metric, mut cache_hits, mut cache_misses) = (0.0, 0.0, 0.0);
    for i in 0..g {
        let (b, a) = (before[i].rpcs(), after[i].rpcs());
        let mut reads = 0.0;
        for (method, value) in &a {
            let delta = value - b.get(method).copied().unwrap_or(0.0);
            *rpcs.entry(method.clone()).or_insert(0.0) += delta;
            if method == "orders.get" || method == "users.get" {
                reads += delta;
            }
        }
        reads_by_gateway.push(reads);
        let delta = |name: &str| after[i].get(name) - before[i].get(name);
        deliveries_metric += delta("gateway_subscription_deliveries_total");
        cache_hits += delta("gateway_cache_hits_total");
        cache_misses += delta("gateway_cache_misses_total");
    }
    rpcs.retain(|_, delta| *delta > 0.0);
    let reads = rpcs.get("orders.get").copied().unwrap_or(0.0) + rpcs.get("users.get").copied().unwrap_or(0.0);
    let per_change = |value: f64| if changes > 0 { (value / changes as f64 * 1000.0).round() / 1000.0 } else { 0.0 };

    let memory: Vec<Value> = (0..args.pids.len())
        .map(|i| {
            let grown = rss_after[i] as f64 - rss_before[i] as f64;
            json!({
                "gateway": gateways[i], "subscribers": per_gateway[i],
                "rss_before_kib": rss_before[i], "rss_subscribed_kib": rss_after[i],
                "rss_after_first_change_kib": rss_warm[i], "rss_end_kib": rss_end[i],
                "kib_per_connection": (grown / per_gateway[i].max(1) as f64 * 10.0).round() / 10.0,
            })
        })
        .collect();
    // CPU over the changes and their deliveries, in ms per change (100 ticks a second).
    let cpu_ms_per_change: Vec<f64> =
        (0..cpu_pids.len()).map(|i| per_change((cpu_after[i] - cpu_before[i]) as f64 * 10.0)).collect();
    let (busy, all) = (machine_after.0 - machine_before.0, machine_after.1 - machine_before.1);
    let machine_busy = if all > 0 { (busy as f64 / all as f64 * 1000.0).round() / 10.0 } else { 0.0 };
    // Over every gateway's subscribers: with them connected, and once each got a change.
    let per_connection = |rss: &[u64]| {
        if args.pids.is_empty() {
            return Value::Null;
        }
        let grown: f64 = (0..args.pids.len()).map(|i| rss[i] as f64 - rss_before[i] as f64).sum();
        json!((grown / args.subscribers as f64 * 10.0).round() / 10.0)
    };
    let (kib_per_connection, kib_per_connection_after_first_change) =
        (per_connection(&rss_after), per_connection(&rss_warm));
    let result = json!({
        "scenario": args.scenario,
        "gateways": g,
        "users": args.users,
        "subscribers": args.subscribers,
        "subscribers_per_gateway": per_gateway,
        "target_rate": args.rate,
        "seconds": args.seconds,
        "connect_seconds": (connect_seconds * 10.0).round() / 10.0,
        "updates_sent": count,
        "changes": changes,
        "write_errors": write_errors.len(),
        "first_write_error": write_errors.first(),
        "sending_seconds": (sending.as_secs_f64() * 100.0).round() / 100.0,
        "max_send_lateness_ms": ms(max_late.as_micros() as i64),
        "achieved_rate": (achieved_rate * 10.0).round() / 10.0,
        "write_p50_ms": ms(quantile(&write_us, 0.5)),
        "write_p99_ms": ms(quantile(&write_us, 0.99)),
        "expected_deliveries": expected,
        "received_deliveries": received,
        "missing": missing,
        "duplicates": extra,
        "older_than_change": older,
        "later_state": later_state,
        "unknown_state": unknown,
        "out_of_order": out_of_order,
        "bad_payloads": bad,
        "creations_seen": created,
        "subscriber_failures": failures.len(),
        "first_subscriber_failure": failures.first(),
        "deliveries_metric": deliveries_metric,
        "latency_p50_ms": ms(quantile(&latencies, 0.5)),
        "latency_p99_ms": ms(quantile(&latencies, 0.99)),
        "latency_max_ms": ms(latencies.last().copied().unwrap_or(0)),
        "state_latency_p50_ms": ms(quantile(&state_latencies, 0.5)),
        "state_latency_p99_ms": ms(quantile(&state_latencies, 0.99)),
        "rpcs": rpcs,
        "reads": reads,
        "reads_per_change": per_change(reads),
        "reads_per_change_by_gateway": reads_by_gateway.iter().map(|r| per_change(*r)).collect::<Vec<_>>(),
        "cache_hits_per_change": per_change(cache_hits),
        "cache_misses_per_change": per_change(cache_misses),
        "kib_per_connection": kib_per_connection,
        "kib_per_connection_after_first_change": kib_per_connection_after_first_change,
        "memory": memory,
        "gateway_cpu_ms_per_change": cpu_ms_per_change[..args.pids.len()],
        "bench_cpu_ms_per_change": cpu_ms_per_change[args.pids.len()],
        "machine_busy_percent": machine_busy,
    });
    log(format!(
        "{changes} changes at {achieved_rate:.1}/s; deliveries {received}/{expected} (missing {missing}, duplicates {extra}, {later_state} with a later state); \
         latency p50 {} ms, p99 {} ms; {} reads per change",
        ms(quantile(&latencies, 0.5)),
        ms(quantile(&latencies, 0.99)),
        per_change(reads)
    ));
    println!("{result}");
    Ok(())
}
