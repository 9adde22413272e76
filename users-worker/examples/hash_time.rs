//! How long one password hash takes here: the floor under `createUser`.
//!
//! ```sh
//! cargo run --release -p users-worker --example hash_time -- 20
//! ```
//!
//! Hashes with `users_worker::password::hash` (argon2id, the service's parameters) the given
//! number of times (default 20), one after another, after one unrecorded warm-up hash, and
//! prints one JSON line: `{"runs":20,"median_ms":…,"min_ms":…,"max_ms":…,"slots":2,…}`.
//! `slots` is how many hashes the service runs at once (one per core), so
//! `slots / median` is the most `createUser` calls per second this machine can take.

use std::time::Instant;

use users_worker::{
    password,
    validation::{Password, field},
};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runs: usize = match std::env::args().nth(1) {
        Some(runs) => runs.parse().map_err(|_| anyhow::anyhow!("usage: hash_time [RUNS]"))?,
        None => 20,
    }
    .max(1);
    password::hash(Password::parse(field::PASSWORD, "warm-up password".to_owned())?).await?;
    let mut millis = Vec::with_capacity(runs);
    for run in 0..runs {
        let candidate = Password::parse(field::PASSWORD, format!("benchmark password {run}"))?;
        let started = Instant::now();
        password::hash(candidate).await?;
        millis.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    millis.sort_by(f64::total_cmp);
    let median = if runs % 2 == 1 { millis[runs / 2] } else { (millis[runs / 2 - 1] + millis[runs / 2]) / 2.0 };
    let slots = std::thread::available_parallelism().map_or(1, usize::from);
    let line = serde_json::json!({
        "runs": runs,
        "median_ms": (median * 100.0).round() / 100.0,
        "min_ms": (millis[0] * 100.0).round() / 100.0,
        "max_ms": (millis[runs - 1] * 100.0).round() / 100.0,
        "memory_kib": password::MEMORY_KIB,
        "iterations": password::ITERATIONS,
        "parallelism": password::PARALLELISM,
        "slots": slots,
        "max_per_second": (slots as f64 * 1000.0 / median).round(),
    });
    println!("{line}");
    Ok(())
}
