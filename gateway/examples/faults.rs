//! The fault harness, run on demand and never in CI: `scripts/faults.sh [scenario...]`.
//!
//! ```sh
//! cargo build --release -p gateway -p users-worker -p orders-worker
//! cargo run --release -p gateway --example faults -- [--output FILE] [scenario...]
//! ```
//!
//! It starts a RabbitMQ node, a PostgreSQL cluster (databases `users` and `orders`) and a Redis
//! server of its own (`faults/instances.rs`): every fault is done to those, never to the
//! machine's. Against them it runs the real release binaries as child processes
//! (`faults/processes.rs`), signs in as an admin, and for each scenario (`faults/scenarios.rs`)
//! injects one fault while a few clients write (`faults/load.rs`). Then it checks the databases
//! and the API (`faults/checks.rs`) and prints one Markdown table (`faults/report.rs`), also
//! written to `--output`. It exits 1 when any lost, duplicated, stale, orphan or late-overwrite
//! count is not 0, or a scenario could not run.
//!
//! The binaries are taken from the folder this example was built beside (`<target>/release`),
//! or `FAULTS_BINARIES`. Each process's log is kept under `$TMPDIR/gqlmq-faults/`, one folder per
//! scenario (`FAULTS_RUST_LOG` sets their `RUST_LOG`, `warn` by default). The private instances'
//! names carry `TEST_RUN_ID` (`faults` unless set).

// The crate's root is this file, so its modules are named by path (a folder beside it).
#[path = "faults/api.rs"]
mod api;
#[path = "faults/checks.rs"]
mod checks;
#[path = "faults/instances.rs"]
mod instances;
#[path = "faults/load.rs"]
mod load;
#[path = "faults/processes.rs"]
mod processes;
#[path = "faults/report.rs"]
mod report;
#[path = "faults/scenarios.rs"]
mod scenarios;

use std::{panic::AssertUnwindSafe, path::PathBuf, process::ExitCode, time::Instant};

use anyhow::Context as _;
use clap::Parser;
use futures_util::FutureExt as _;

use crate::{report::Row, scenarios::Scenario};

#[derive(Parser)]
#[command(about = "Injects one fault per scenario under a write load, and counts what went wrong.")]
struct Args {
    /// Where the Markdown table is written, beside being printed.
    #[arg(long, default_value = "/tmp/faults-results.md")]
    output: PathBuf,
    /// The scenarios to run, in this order; all of them when none is named.
    #[arg(value_enum)]
    scenarios: Vec<Scenario>,
}

fn main() -> anyhow::Result<ExitCode> {
    // test_support names the private instances after TEST_RUN_ID. A process may set its own
    // environment only with unsafe code (forbidden here), so without it the example runs
    // itself again, with it.
    if std::env::var_os("TEST_RUN_ID").is_none() {
        let status = std::process::Command::new(std::env::current_exe()?)
            .args(std::env::args_os().skip(1))
            .env("TEST_RUN_ID", "faults")
            .status()
            .context("running the example again with TEST_RUN_ID=faults")?;
        return Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    let args = Args::parse();
    let scenarios = if args.scenarios.is_empty() { Scenario::ALL.to_vec() } else { args.scenarios.clone() };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        tokio::select! {
            result = run(&scenarios, &args.output) => result,
            _ = tokio::signal::ctrl_c() => {
                // Dropping `run` drops the processes (killed) and the private instances (removed).
                eprintln!("interrupted: stopping everything the harness started");
                Ok(ExitCode::FAILURE)
            }
        }
    })
}

async fn run(scenarios: &[Scenario], output: &std::path::Path) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    say("starting a private RabbitMQ node, PostgreSQL cluster and Redis server");
    let harness = scenarios::Harness::start().await?;
    say(&format!("private instances up after {:.0?}; logs under {}", started.elapsed(), harness.log_root().display()));

    let mut rows = Vec::new();
    for &scenario in scenarios {
        say(&format!("scenario {}", scenario.name()));
        let began = Instant::now();
        // A scenario that fails (or a helper of test_support that panics) becomes its row's
        // error; the next scenario still runs.
        let row = match AssertUnwindSafe(scenario.run(&harness)).catch_unwind().await {
            Ok(Ok(row)) => row,
            Ok(Err(error)) => Row::failed(scenario.name(), format!("{error:#}")),
            Err(panic) => Row::failed(scenario.name(), format!("panicked: {}", panic_message(&*panic))),
        };
        say(&format!("scenario {} done in {:.1?}: {}", scenario.name(), began.elapsed(), row.summary()));
        rows.push(row);
    }
    let log_root = harness.log_root().to_owned();
    harness.stop().await;

    let markdown = report::markdown(&rows, started.elapsed(), &log_root);
    println!("\n{markdown}");
    std::fs::write(output, &markdown).with_context(|| format!("writing {}", output.display()))?;
    say(&format!("table written to {}; total {:.0?}", output.display(), started.elapsed()));
    Ok(if rows.iter().any(Row::has_problems) { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

/// A progress line on stderr, timestamped, so the table alone goes to stdout.
pub fn say(message: &str) {
    eprintln!("[faults {}] {message}", chrono::Utc::now().format("%H:%M:%S%.3f"));
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|message| (*message).to_owned()))
        .unwrap_or_else(|| "(no message)".to_owned())
}
