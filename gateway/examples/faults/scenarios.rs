//! The scenarios, one fault each, and the [`Harness`] they share: the private instances, the
//! deployment's environment and the admin's token. Each scenario starts a stack of its own
//! (its log folder and cache key prefix named after it), sets its records up, loads it, injects
//! its fault, measures the time until normal from the fault's end, stops the stack and checks
//! what the databases and the API say.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::Context as _;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::{
    api::{Answer, Api},
    checks::{Databases, committed_before_retry, judge_deletions, judge_orders, judge_orphans},
    instances::Instances,
    load::{self, CREATE_ORDER, Client, PRICE, Record, Retries, Route, Tally},
    processes::{self, Deployment, RPC_TIMEOUT, Stack, StackSpec, grant_admin},
    report::Row,
};

/// Concurrent clients of a load (the pause scenario runs twice as many).
const CLIENTS: usize = 4;
/// Load before the fault, and after its end.
const LEAD: Duration = Duration::from_millis(1500);
const TRAIL: Duration = Duration::from_secs(4);
/// How long the time until normal is waited for.
const NORMAL_LIMIT: Duration = Duration::from_secs(90);
/// `deleteUser` removes the user's orders "within 2 seconds".
const CASCADE_TIME: Duration = Duration::from_secs(2);
const PASSWORD: &str = "correct horse battery";

const CREATE_USER: &str = "mutation($input: CreateUserInput!) { createUser(input: $input) { id } }";
const LOGIN: &str =
    "mutation($login: String!, $password: String!) { login(login: $login, password: $password) { token } }";

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// deleteUser load on users with 3 orders each; SIGKILL the users worker, restart it after
    /// RPC_TIMEOUT_MS.
    KillUsersWorker,
    /// createOrder/updateOrder load; the broker's app stopped for 3 s.
    RestartBroker,
    /// createOrder/updateOrder load; PostgreSQL stopped for 3 s.
    RestartPostgres,
    /// Two orders workers, updates of increasing quantities; one SIGSTOPped for 2 × RPC_TIMEOUT_MS.
    PauseOrdersWorker,
    /// Two gateways, the load over both; one SIGKILLed and restarted.
    KillGateway,
    /// Cached orders of users deleted, the cascade run while no gateway runs.
    CascadeWithoutGateways,
    /// createOrder through a gateway with RPC_TIMEOUT_MS=50, retried through a normal one.
    ClientRetry,
}

impl Scenario {
    pub const ALL: [Self; 7] = [
        Self::KillUsersWorker,
        Self::RestartBroker,
        Self::RestartPostgres,
        Self::PauseOrdersWorker,
        Self::KillGateway,
        Self::CascadeWithoutGateways,
        Self::ClientRetry,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::KillUsersWorker => "kill-users-worker",
            Self::RestartBroker => "restart-broker",
            Self::RestartPostgres => "restart-postgres",
            Self::PauseOrdersWorker => "pause-orders-worker",
            Self::KillGateway => "kill-gateway",
            Self::CascadeWithoutGateways => "cascade-without-gateways",
            Self::ClientRetry => "client-retry",
        }
    }

    pub async fn run(self, harness: &Harness) -> anyhow::Result<Row> {
        match self {
            Self::KillUsersWorker => kill_users_worker(harness).await,
            Self::CascadeWithoutGateways => cascade_without_gateways(harness).await,
            _ => write_load(harness, self).await,
        }
    }
}

pub struct Harness {
    instances: Instances,
    deployment: Deployment,
    /// Signed in as an admin, who may do everything.
    admin: Api,
    /// Users made so far: each one's nickName, email and CPF.
    people: AtomicU64,
    /// Stacks started so far.
    runs: AtomicU64,
}

impl Harness {
    /// The private instances, and an admin: made through the API on a stack of its own,
    /// granted with `users-worker grant-admin`, then signed in.
    pub async fn start() -> anyhow::Result<Self> {
        let binaries = binaries()?;
        for binary in ["gateway", "users-worker", "orders-worker"] {
            let path = binaries.join(binary);
            anyhow::ensure!(
                path.is_file(),
                "{} is missing: `cargo build --release -p gateway -p users-worker -p orders-worker` first",
                path.display()
            );
        }
        let log_root = std::env::temp_dir().join("gqlmq-faults");
        let _ = std::fs::remove_dir_all(&log_root);
        std::fs::create_dir_all(&log_root).with_context(|| format!("creating {}", log_root.display()))?;
        let instances = Instances::start().await?;
        let deployment = Deployment {
            binaries,
            amqp_url: instances.broker.url.clone(),
            users_database_url: instances.users_database_url(),
            orders_database_url: instances.orders_database_url(),
            redis_url: instances.redis.url.clone(),
            auth_secret: auth_secret()?,
            log_root,
        };
        let anonymous = Api::anonymous()?;
        let mut harness = Self {
            instances,
            deployment,
            admin: anonymous.clone(),
            people: AtomicU64::new(0),
            runs: AtomicU64::new(0),
        };
        let stack = harness.stack("bootstrap", StackSpec::single()).await?;
        let gateway = stack.gateways[0].url.clone();
        let nick_name = "faults_admin";
        let admin = async {
            harness.create_user(&anonymous, &gateway, Some(nick_name)).await?;
            grant_admin(&harness.deployment, nick_name).await?;
            let answer =
                must(&anonymous, &gateway, "login", LOGIN, json!({ "login": nick_name, "password": PASSWORD })).await?;
            let token = answer["token"].as_str().context("login answered no token")?;
            anyhow::Ok(anonymous.signed_in(token))
        }
        .await?;
        harness.admin = admin;
        stack.stop().await;
        Ok(harness)
    }

    pub fn log_root(&self) -> &Path {
        &self.deployment.log_root
    }

    pub async fn stop(self) {
        self.instances.stop().await;
    }

    /// A stack for a run of scenario `name`: named `<name>-r<n>`, so that a scenario run twice
    /// shares no log folder, cache key or record name with its first run.
    async fn stack(&self, name: &str, spec: StackSpec) -> anyhow::Result<Stack> {
        let run = self.runs.fetch_add(1, Ordering::Relaxed);
        Stack::start(&self.deployment, spec, &format!("{name}-r{run}"), &self.admin).await
    }

    async fn databases(&self) -> anyhow::Result<Databases> {
        Databases::connect(&self.deployment.users_database_url, &self.deployment.orders_database_url).await
    }

    /// A new user, made by the admin; its id.
    async fn new_user(&self, gateway: &str) -> anyhow::Result<String> {
        self.create_user(&self.admin, gateway, None).await
    }

    /// A new user named `nick_name` (`fault_<n>` without one), made by `api`; its id.
    async fn create_user(&self, api: &Api, gateway: &str, nick_name: Option<&str>) -> anyhow::Result<String> {
        let n = self.people.fetch_add(1, Ordering::Relaxed) + 1;
        let nick_name = nick_name.map_or_else(|| format!("fault_{n}"), str::to_owned);
        let input = json!({
            "nickName": nick_name,
            "fullName": format!("Fault User {n}"),
            "password": PASSWORD,
            "cpf": test_support::cpf(n),
            "email": format!("fault_{n}@example.com"),
            "phoneNumber": format!("+551190{n:07}"),
        });
        let user = must(api, gateway, "createUser", CREATE_USER, json!({ "input": input })).await?;
        Ok(user["id"].as_str().context("createUser answered no id")?.to_owned())
    }

    /// An order of `owner`, made outside any load; its id.
    async fn new_order(&self, gateway: &str, owner: &str, description: &str) -> anyhow::Result<String> {
        let input = json!({ "userId": owner, "itemDescription": description, "itemQuantity": 1, "itemPrice": PRICE });
        let order = must(&self.admin, gateway, "createOrder", CREATE_ORDER, json!({ "input": input })).await?;
        Ok(order["id"].as_str().context("createOrder answered no id")?.to_owned())
    }
}

/// `$CARGO_TARGET_DIR/release`, where this example is too (in `release/examples/`), unless
/// `FAULTS_BINARIES` names another folder.
fn binaries() -> anyhow::Result<PathBuf> {
    if let Some(folder) = std::env::var_os("FAULTS_BINARIES") {
        return Ok(folder.into());
    }
    let example = std::env::current_exe().context("where this example is")?;
    example
        .parent()
        .and_then(Path::parent)
        .map(Path::to_owned)
        .context("the example is not in <target>/release/examples")
}

/// 48 random characters (36 random bytes in base64).
fn auth_secret() -> anyhow::Result<String> {
    use base64::Engine as _;
    let mut bytes = [0u8; 36];
    getrandom::fill(&mut bytes).map_err(|error| anyhow::anyhow!("random bytes: {error}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// A write that must succeed (setup, outside any fault): retried with its key while the answer
/// is unknown, for up to 20 s.
async fn must(api: &Api, gateway: &str, field: &str, query: &str, variables: Value) -> anyhow::Result<Value> {
    let key = format!("setup-{}", Uuid::now_v7().simple());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match api.mutate(gateway, field, query, &variables, &key).await {
            Answer::Ok(value) => return Ok(value),
            Answer::Failed(code) => anyhow::bail!("{field} {variables} failed in setup: {code}"),
            Answer::Unknown(reason) if Instant::now() > deadline => {
                anyhow::bail!("{field} {variables} in setup: still {reason} after 20 s")
            }
            Answer::Unknown(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// From `since` until every gateway's `/readyz` is 200 and a probe write (a `createOrder` of
/// `owner`'s, under a fresh key) succeeds through each; `None` if not within [`NORMAL_LIMIT`].
async fn time_until_normal(api: Api, gateways: Vec<String>, owner: String, since: Instant) -> Option<Duration> {
    while since.elapsed() < NORMAL_LIMIT {
        let mut normal = true;
        for gateway in &gateways {
            normal = normal && api.ready(gateway).await;
        }
        for gateway in &gateways {
            if !normal {
                break;
            }
            let probe = Uuid::now_v7().simple();
            let input = json!({ "userId": owner, "itemDescription": format!("probe-{probe}"), "itemQuantity": 1, "itemPrice": PRICE });
            let (variables, key) = (json!({ "input": input }), format!("probe-{probe}"));
            normal = matches!(api.mutate(gateway, "createOrder", CREATE_ORDER, &variables, &key).await, Answer::Ok(_));
        }
        if normal {
            return Some(since.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Stops the stack; notes on processes that exited on their own or had to be killed, and on
/// the error lines of their logs.
async fn finish(mut stack: Stack, notes: &mut Vec<String>) {
    for member in stack.members() {
        if let Some(status) = member.exited() {
            notes.push(format!("{} exited on its own ({status})", member.name));
        }
    }
    let logs = stack.logs.clone();
    let killed = stack.stop().await;
    if !killed.is_empty() {
        notes.push(format!("did not stop within 15 s of SIGTERM, killed: {}", killed.join(", ")));
    }
    notes.extend(processes::log_errors(&logs));
}

fn uuids(ids: &[String]) -> anyhow::Result<Vec<Uuid>> {
    ids.iter().map(|id| id.parse().with_context(|| format!("{id} is not a UUID"))).collect()
}

/// `count` clients of `stack`: client `i` goes by `route(i)` and retries as `retries(i)` says.
fn clients(
    harness: &Harness,
    stack: &Stack,
    count: usize,
    route: fn(usize) -> Route,
    retries: fn(usize) -> Retries,
) -> Vec<Client> {
    let gateways: Arc<[String]> = stack.urls().into();
    (0..count)
        .map(|i| {
            Client::new(harness.admin.clone(), gateways.clone(), route(i), retries(i), format!("{}-c{i}", stack.name))
        })
        .collect()
}

/// What the clients of [`write_load`] do.
#[derive(Clone, Copy)]
enum Workload {
    /// Create an order, update it three times, and again.
    CreateThenUpdate,
    /// Update three orders made beforehand, each to one more than its last quantity, in turn.
    UpdateOwned,
    /// Create orders, one after the other.
    CreateOnly,
}

/// Scenarios 2–5 and 7: a write load on orders through the gateways, one fault in its middle.
async fn write_load(harness: &Harness, scenario: Scenario) -> anyhow::Result<Row> {
    let name = scenario.name();
    let two_gateways = StackSpec { gateway_timeouts: vec![RPC_TIMEOUT; 2], users_workers: 1, orders_workers: 1 };
    let patient: fn(usize) -> Retries = |_| Retries::PATIENT;
    let (spec, route, retries, workload): (_, fn(usize) -> Route, _, _) = match scenario {
        Scenario::RestartBroker | Scenario::RestartPostgres => {
            (StackSpec::single(), Route::Rotate, patient, Workload::CreateThenUpdate)
        }
        // Half the clients give up on a write at once: only the deadline fence then keeps the
        // write the paused worker holds from landing over their next one (the others' retries
        // reuse the key, so the inbox would catch it too).
        Scenario::PauseOrdersWorker => (
            StackSpec { orders_workers: 2, ..StackSpec::single() },
            Route::Rotate,
            |i| if i % 2 == 0 { Retries::IMPATIENT } else { Retries::NEVER },
            Workload::UpdateOwned,
        ),
        Scenario::KillGateway => (two_gateways, Route::Rotate, patient, Workload::CreateThenUpdate),
        Scenario::ClientRetry => (
            StackSpec { gateway_timeouts: vec![RPC_TIMEOUT, Duration::from_millis(50)], ..StackSpec::single() },
            |_| Route::FirstThen { first: 1, retries: 0 },
            patient,
            Workload::CreateOnly,
        ),
        Scenario::KillUsersWorker | Scenario::CascadeWithoutGateways => anyhow::bail!("{name} is not a write load"),
    };
    let mut stack = harness.stack(name, spec).await?;
    let setup_gateway = stack.normal_urls()[0].clone();
    let prefix = format!("fault-{}-", stack.name);
    let probe_owner = harness.new_user(&setup_gateway).await?;

    let stop = CancellationToken::new();
    // However this function ends, the clients stop.
    let _stop_on_exit = stop.clone().drop_guard();
    let mut loads = Vec::new();
    let count = match scenario {
        // Each client can wait out at most two timeouts during the pause: more of them put
        // more writes in the paused worker's hands.
        Scenario::PauseOrdersWorker => 2 * CLIENTS,
        // On an idle machine a createOrder takes a few ms: enough clients at once make the
        // services slow enough for calls to straddle 50 ms.
        Scenario::ClientRetry => 4 * CLIENTS,
        _ => CLIENTS,
    };
    for (i, mut client) in clients(harness, &stack, count, route, retries).into_iter().enumerate() {
        let owner = harness.new_user(&setup_gateway).await?;
        let prefix = format!("{prefix}c{i}");
        let mut records = Vec::new();
        if let Workload::UpdateOwned = workload {
            for n in 1..=3 {
                let id = harness.new_order(&setup_gateway, &owner, &format!("{prefix}-{n}")).await?;
                records.push(Record {
                    description: format!("{prefix}-{n}"),
                    id: Some(id),
                    writes: vec![(1, load::Outcome::Ok)],
                    create_retried_at: None,
                });
            }
        }
        let stop = stop.clone();
        loads.push(tokio::spawn(async move {
            match workload {
                Workload::CreateThenUpdate => {
                    records = load::create_then_update(&mut client, &owner, &prefix, 3, &stop).await
                }
                Workload::CreateOnly => {
                    records = load::create_then_update(&mut client, &owner, &prefix, 0, &stop).await
                }
                Workload::UpdateOwned => load::keep_updating(&mut client, &mut records, &stop).await,
            }
            (client.tally, records)
        }));
    }

    tokio::time::sleep(LEAD).await;
    let mut notes = Vec::new();
    let fault_end = inject(harness, scenario, &mut stack, &mut notes).await?;
    let recovery = tokio::spawn(time_until_normal(harness.admin.clone(), stack.normal_urls(), probe_owner, fault_end));
    tokio::time::sleep(TRAIL).await;
    stop.cancel();
    let mut tally = Tally::default();
    let mut records = Vec::new();
    for load in loads {
        let (client_tally, client_records) = load.await.context("a client panicked")?;
        tally.absorb(client_tally);
        records.extend(client_records);
    }
    let time_until_normal = recovery.await.context("the recovery probe panicked")?;
    // Stopped before the check: whatever a worker still holds is done (or dropped) by then.
    finish(stack, &mut notes).await;

    let databases = harness.databases().await?;
    let rows = databases.orders_described(&prefix).await?;
    databases.close().await;
    let findings = judge_orders(&records, &rows);
    let updates: usize = records.iter().map(|record| record.writes.len().saturating_sub(1)).sum();
    notes.insert(0, format!("{} records, {updates} updates of them, {} rows stored", records.len(), rows.len()));
    let (retried, early) = committed_before_retry(&records, &rows);
    if !matches!(workload, Workload::UpdateOwned) {
        notes.insert(
            1,
            format!(
                "{retried} acknowledged creates were retried; {early} of them were stored by an attempt given up on \
                 (created before the first retry went out): their retries had to answer it, not create again"
            ),
        );
    }
    if scenario == Scenario::ClientRetry && retried == 0 {
        // Nothing timed out: the duplicate count proved nothing.
        let error = "the fault did not bite: no create through the 50 ms gateway was retried";
        return Ok(Row::failed(name, error.to_owned()));
    }
    notes.extend(findings.evidence.into_iter().take(10));
    Ok(Row {
        scenario: name,
        lost: Some(findings.lost),
        duplicated: Some(findings.duplicated),
        stale: Some(tally.stale),
        orphans: None,
        late_overwrites: (!matches!(workload, Workload::CreateOnly)).then_some(findings.late_overwrites),
        time_until_normal,
        tally,
        notes,
        error: None,
    })
}

/// The fault of a write-load scenario; when it ended.
async fn inject(
    harness: &Harness,
    scenario: Scenario,
    stack: &mut Stack,
    notes: &mut Vec<String>,
) -> anyhow::Result<Instant> {
    let began = Instant::now();
    match scenario {
        Scenario::RestartBroker => {
            harness.instances.broker.stop_app().await;
            tokio::time::sleep(Duration::from_secs(3)).await;
            harness.instances.broker.start_app().await;
        }
        Scenario::RestartPostgres => {
            harness.instances.postgres.stop().await;
            tokio::time::sleep(Duration::from_secs(3)).await;
            harness.instances.postgres.start_again().await;
        }
        Scenario::PauseOrdersWorker => {
            let worker = &stack.orders_workers[0];
            worker.pause().await?;
            tokio::time::sleep(2 * RPC_TIMEOUT).await;
            worker.resume().await?;
        }
        Scenario::KillGateway => {
            let gateway = &mut stack.gateways[1].member;
            gateway.kill().await?;
            tokio::time::sleep(Duration::from_millis(500)).await;
            gateway.start()?;
        }
        // The fault is the impatient gateway itself, all along the load.
        Scenario::ClientRetry => tokio::time::sleep(Duration::from_secs(6)).await,
        Scenario::KillUsersWorker | Scenario::CascadeWithoutGateways => anyhow::bail!("not a write-load fault"),
    }
    notes.push(format!("fault lasted {:.1} s", began.elapsed().as_secs_f64()));
    Ok(Instant::now())
}

/// Scenario 1: users with 3 orders each deleted under load; the users worker SIGKILLed in the
/// middle and started again RPC_TIMEOUT_MS later. Orphans are counted 2 s after both the time
/// until normal and the last deletion's answer.
async fn kill_users_worker(harness: &Harness) -> anyhow::Result<Row> {
    const USERS_EACH: usize = 25;
    let name = Scenario::KillUsersWorker.name();
    let mut stack = harness.stack(name, StackSpec::single()).await?;
    let gateway = stack.gateways[0].url.clone();
    let probe_owner = harness.new_user(&gateway).await?;
    let setups = (0..CLIENTS).map(|_| async {
        let mut users = Vec::new();
        for _ in 0..USERS_EACH {
            let user = harness.new_user(&gateway).await?;
            for n in 1..=3 {
                harness.new_order(&gateway, &user, &format!("fault-{}-{user}-{n}", stack.name)).await?;
            }
            users.push(user);
        }
        anyhow::Ok(users)
    });
    let users = futures_util::future::try_join_all(setups).await?;
    let everyone = uuids(&users.concat())?;

    let mut deletions = Vec::new();
    let clients = clients(harness, &stack, CLIENTS, Route::Rotate, |_| Retries::PATIENT);
    for (mut client, users) in clients.into_iter().zip(users) {
        deletions.push(tokio::spawn(async move {
            // 50 ms apart: the kill, 1 s in, and the restart fall among them, and the worker
            // is seldom idle.
            let outcomes = load::delete_users(&mut client, &users, Duration::from_millis(50)).await;
            (client.tally, outcomes)
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let worker = &mut stack.users_workers[0];
    worker.kill().await?;
    tokio::time::sleep(RPC_TIMEOUT).await;
    worker.start()?;
    let fault_end = Instant::now();
    let recovery = tokio::spawn(time_until_normal(harness.admin.clone(), stack.urls(), probe_owner, fault_end));

    let mut tally = Tally::default();
    let mut outcomes = Vec::new();
    for deletion in deletions {
        let (client_tally, client_outcomes) = deletion.await.context("a client panicked")?;
        tally.absorb(client_tally);
        for (user, outcome) in client_outcomes {
            outcomes.push((user.parse::<Uuid>()?, outcome));
        }
    }
    let time_until_normal = recovery.await.context("the recovery probe panicked")?;
    tokio::time::sleep(CASCADE_TIME).await;

    let databases = harness.databases().await?;
    let existing = databases.existing_users(&everyone).await?;
    let orders = databases.orders_of(&everyone).await?;
    databases.close().await;
    let (lost, mut evidence) = judge_deletions(&outcomes, &existing);
    let (orphans, orphan_evidence) = judge_orphans(&orders, &existing);
    evidence.extend(orphan_evidence);
    let mut notes = vec![format!(
        "{} users with 3 orders each; {} gone from the database, {} orders left of the {} still there",
        everyone.len(),
        everyone.len() - existing.len(),
        orders.len() as u64 - orphans,
        existing.len()
    )];
    notes.extend(evidence.into_iter().take(10));
    finish(stack, &mut notes).await;
    Ok(Row::of_deletions(name, tally, lost, orphans, time_until_normal, notes))
}

/// Each deleted user, its orders and their totalCount, all cached by the warm-up reads.
const CASCADE_READ: &str = "query($id: UUID!, $a: UUID!, $b: UUID!, $c: UUID!) { user(id: $id) { id } \
    orders(userId: $id, first: 100) { totalCount nodes { id } } \
    a: order(id: $a) { id } b: order(id: $b) { id } c: order(id: $c) { id } }";

/// Scenario 6: users' orders read through both gateways (so Redis holds them), the users
/// deleted, every gateway SIGKILLed at once right after the answers, and the cascade run while
/// none runs; then one gateway started and read from at once, until it is ready and 1 s more.
/// A read that still lists a deleted user or order is stale.
///
/// The orders worker is paused (SIGSTOP) from just before the deletions until the gateways are
/// gone: otherwise the cascade, a few milliseconds long, would usually reach a live gateway
/// first and the check would prove nothing.
async fn cascade_without_gateways(harness: &Harness) -> anyhow::Result<Row> {
    const USERS: usize = 5;
    let name = Scenario::CascadeWithoutGateways.name();
    let spec = StackSpec { gateway_timeouts: vec![RPC_TIMEOUT; 2], ..StackSpec::single() };
    let mut stack = harness.stack(name, spec).await?;
    let urls = stack.urls();
    let probe_owner = harness.new_user(&urls[0]).await?;
    let mut victims = Vec::new();
    for _ in 0..USERS {
        let user = harness.new_user(&urls[0]).await?;
        let mut orders = Vec::new();
        for n in 1..=3 {
            orders.push(harness.new_order(&urls[0], &user, &format!("fault-{}-{user}-{n}", stack.name)).await?);
        }
        let variables = json!({ "id": user, "a": orders[0], "b": orders[1], "c": orders[2] });
        victims.push((user, variables));
    }

    // Warm-up: each gateway reads each user's orders twice. Without cache hits the stale
    // count below could not fail: then the scenario fails instead.
    let admin = &harness.admin;
    let mut hits = 0.0;
    for url in &urls {
        let before = admin.metric(url, "gateway_cache_hits_total").await.unwrap_or(0.0);
        for (user, variables) in &victims {
            for _ in 0..2 {
                let data = admin
                    .query(url, CASCADE_READ, variables)
                    .await
                    .map_err(|code| anyhow::anyhow!("warm-up read: {code}"))?;
                anyhow::ensure!(shows_everything(&data), "the warm-up read of {user} lacks something: {data}");
            }
        }
        hits += admin.metric(url, "gateway_cache_hits_total").await.unwrap_or(0.0) - before;
    }
    anyhow::ensure!(hits > 0.0, "no warm-up read was served from the cache: the stale check would prove nothing");
    let mut notes = vec![format!("warm-up: {hits} cache hits over {} reads", 2 * urls.len() * USERS)];

    stack.orders_workers[0].pause().await?;
    let mut client = Client::new(
        admin.clone(),
        stack.urls().into(),
        Route::Rotate(0),
        Retries::PATIENT,
        format!("{}-c0", stack.name),
    );
    let mut deletions = Vec::new();
    for (user, _) in &victims {
        deletions.push((user.parse::<Uuid>()?, client.delete_user(user).await));
    }
    let kills = stack.gateways.iter_mut().map(|gateway| gateway.member.kill());
    futures_util::future::try_join_all(kills).await?;
    stack.orders_workers[0].resume().await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    // The cascade must have run by now, with no gateway to hear of it: its invalidations wait
    // in the gateways' queue.
    let users = uuids(&victims.iter().map(|(user, _)| user.clone()).collect::<Vec<_>>())?;
    let databases = harness.databases().await?;
    let left = databases.orders_of(&users).await?.len();
    notes.push(format!("orders of the deleted users still stored when the gateway restarted: {left}"));

    stack.gateways[0].member.start()?;
    let started = Instant::now();
    let gateway = urls[0].clone();
    let recovery = tokio::spawn(time_until_normal(admin.clone(), vec![gateway.clone()], probe_owner, started));
    let (mut reads, mut before_ready, mut read_errors) = (0u64, 0u64, 0u64);
    let mut first_answer = None;
    let mut ready_at: Option<Instant> = None;
    while ready_at.is_none_or(|ready| ready.elapsed() < Duration::from_secs(1)) && started.elapsed() < NORMAL_LIMIT {
        for (user, variables) in &victims {
            match admin.query(&gateway, CASCADE_READ, variables).await {
                Ok(data) => {
                    reads += 1;
                    before_ready += u64::from(ready_at.is_none());
                    first_answer.get_or_insert(started.elapsed());
                    if !shows_nothing_deleted(&data) {
                        client.tally.stale_read(format!("user {user} after the restart read {data}"));
                    }
                }
                Err(_) => read_errors += 1,
            }
        }
        if ready_at.is_none() && admin.ready(&gateway).await {
            ready_at = Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    client.tally.reads += reads;
    client.tally.read_errors += read_errors;
    notes.push(format!(
        "after the restart: {reads} reads ({before_ready} before /readyz said 200), first answer after {}",
        first_answer.map_or_else(|| "none".to_owned(), |time| format!("{:.2} s", time.as_secs_f64()))
    ));
    let time_until_normal = recovery.await.context("the recovery probe panicked")?;
    tokio::time::sleep(CASCADE_TIME).await;

    let existing = databases.existing_users(&users).await?;
    let orders = databases.orders_of(&users).await?;
    databases.close().await;
    let (lost, mut evidence) = judge_deletions(&deletions, &existing);
    let (orphans, orphan_evidence) = judge_orphans(&orders, &existing);
    evidence.extend(orphan_evidence);
    notes.extend(evidence);
    finish(stack, &mut notes).await;
    let tally = client.tally;
    Ok(Row::of_deletions(name, tally, lost, orphans, time_until_normal, notes))
}

/// Whether a [`CASCADE_READ`] shows none of the deleted user and orders.
fn shows_nothing_deleted(data: &Value) -> bool {
    data["user"].is_null()
        && data["orders"]["totalCount"] == 0
        && data["orders"]["nodes"].as_array().is_some_and(Vec::is_empty)
        && ["a", "b", "c"].iter().all(|alias| data[alias].is_null())
}

/// Whether a [`CASCADE_READ`] shows the user and all 3 of its orders.
fn shows_everything(data: &Value) -> bool {
    !data["user"].is_null()
        && data["orders"]["totalCount"] == 3
        && data["orders"]["nodes"].as_array().is_some_and(|nodes| nodes.len() == 3)
        && ["a", "b", "c"].iter().all(|alias| !data[alias].is_null())
}
