//! The RPC floor of `scripts/bench.sh`: raw `ping` round trips to the users worker through
//! RabbitMQ, with no GraphQL, no HTTP and no database on the way.
//!
//! ```sh
//! cargo run --release -p gateway --example rpc_ping -- \
//!     --amqp-url amqp://guest:guest@127.0.0.1:5672/%2f --concurrency 1,16,64 --seconds 10
//! ```
//!
//! For each concurrency, that many tasks share one client (as a gateway's requests share
//! its one connection) and call `ping` back to back for `--seconds`. With `--ids-file` (one
//! user id a line) they call `users.get` for one of those users instead: the same trip plus
//! the users service's PostgreSQL read, still without GraphQL or HTTP. It prints one JSON line:
//! `{"concurrency":16,"requests":…,"rps":…,"p50_us":…,"p99_us":…,"mean_us":…,"errors":…}`.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use clap::Parser;
use rpc::{Broker, RpcClient, Service, users::GetUsers};
use uuid::Uuid;

#[derive(Parser)]
struct Args {
    /// RabbitMQ, vhost included; a users worker must be consuming there.
    #[arg(long, env = "AMQP_URL")]
    amqp_url: String,
    /// Concurrent callers, comma separated: one measurement each.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    concurrency: Vec<usize>,
    /// How long each measurement lasts.
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Calls made at the largest concurrency before the first measurement, unrecorded.
    #[arg(long, default_value_t = 2000)]
    warmup: usize,
    /// Call `users.get` for these users (one id a line, taken in turn) instead of `ping`.
    #[arg(long)]
    ids_file: Option<std::path::PathBuf>,
    /// How many of those users each `users.get` asks for (a DataLoader batch).
    #[arg(long, default_value_t = 1)]
    batch: usize,
}

/// What each call asks: a ping, or one user among `ids`.
#[derive(Clone)]
enum Call {
    Ping,
    GetUsers { ids: Arc<[Uuid]>, batch: usize },
}

impl Call {
    async fn make(&self, client: &RpcClient, turn: usize) -> rpc::RpcResult<()> {
        match self {
            Self::Ping => client.ping(Service::Users).await,
            Self::GetUsers { ids, batch } => {
                let asked: Vec<Uuid> = (0..*batch).map(|i| ids[(turn * batch + i) % ids.len()]).collect();
                let distinct = asked.iter().collect::<std::collections::HashSet<_>>().len();
                let users = client.call(&GetUsers { ids: asked }).await?;
                if users.len() == distinct { Ok(()) } else { Err(rpc::RpcError::not_found("a user is missing")) }
            }
        }
    }
}

/// What one caller saw: the latency of each answered call, and how many failed.
#[derive(Default)]
struct Sample {
    latencies_us: Vec<u64>,
    errors: u64,
}

async fn caller(client: RpcClient, call: Call, first_turn: usize, until: Instant) -> Sample {
    let mut sample = Sample::default();
    let mut turn = first_turn;
    while Instant::now() < until {
        turn += 1;
        let started = Instant::now();
        let answered = call.make(&client, turn).await;
        let elapsed = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        match answered {
            Ok(()) => sample.latencies_us.push(elapsed),
            Err(_) => sample.errors += 1,
        }
    }
    sample
}

/// The value at `quantile` (0..=1) of sorted latencies.
fn percentile(sorted: &[u64], quantile: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (quantile * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn measure(
    client: &RpcClient,
    call: &Call,
    concurrency: usize,
    duration: Duration,
) -> anyhow::Result<serde_json::Value> {
    let started = Instant::now();
    let until = started + duration;
    let callers: Vec<_> = (0..concurrency)
        .map(|caller_index| tokio::spawn(caller(client.clone(), call.clone(), caller_index * 7919, until)))
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for handle in callers {
        let sample = handle.await.context("a caller panicked")?;
        latencies.extend(sample.latencies_us);
        errors += sample.errors;
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let requests = latencies.len() as u64 + errors;
    let mean = if latencies.is_empty() { 0.0 } else { latencies.iter().sum::<u64>() as f64 / latencies.len() as f64 };
    Ok(serde_json::json!({
        "concurrency": concurrency,
        "requests": requests,
        "rps": requests as f64 / elapsed,
        "p50_us": percentile(&latencies, 0.50),
        "p99_us": percentile(&latencies, 0.99),
        "mean_us": mean.round(),
        "errors": errors,
    }))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The deployment's own calls: `users.get` answers a signed-out caller nothing.
    let client =
        Broker::amqp(&args.amqp_url).client("bench-rpc-ping", Duration::from_secs(5)).as_caller(rpc::Caller::Service);
    // The client connects in the background: wait until a ping comes back.
    let deadline = Instant::now() + Duration::from_secs(30);
    while client.ping(Service::Users).await.is_err() {
        anyhow::ensure!(Instant::now() < deadline, "the users worker did not answer a ping within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let call = match &args.ids_file {
        None => Call::Ping,
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            let ids: Vec<Uuid> = text.split_whitespace().map(str::parse).collect::<Result<_, _>>()?;
            anyhow::ensure!(!ids.is_empty(), "{} holds no user id", path.display());
            Call::GetUsers { ids: ids.into(), batch: args.batch.max(1) }
        }
    };
    let most = args.concurrency.iter().copied().max().unwrap_or(1);
    let warmup: Vec<_> = (0..most)
        .map(|caller| {
            let (client, call) = (client.clone(), call.clone());
            let calls = args.warmup / most + usize::from(caller < args.warmup % most);
            tokio::spawn(async move {
                for turn in 0..calls {
                    let _ = call.make(&client, turn).await;
                }
            })
        })
        .collect();
    for handle in warmup {
        handle.await.context("a warm-up caller panicked")?;
    }
    for concurrency in args.concurrency {
        let result = measure(&client, &call, concurrency.max(1), Duration::from_secs_f64(args.seconds)).await?;
        println!("{result}");
    }
    Ok(())
}
