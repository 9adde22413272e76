//! The standalone users worker: consumes `users.rpc` on RabbitMQ until SIGINT or SIGTERM.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use rpc::process::{init_tracing, redact_url, shutdown_on_signal};

/// glibc's allocator shows up in profiles under concurrency; mimalloc does not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(version, about)]
struct Config {
    /// The users database. Default: the SQLite file `users.db` under DATA_DIR.
    #[arg(long, env)]
    users_database_url: Option<String>,
    /// Where SQLite files live when no database URL is given. Default: `./data`.
    #[arg(long, env, default_value = "./data")]
    data_dir: PathBuf,
    /// RabbitMQ, vhost included. No default: required to serve (not to `migrate`).
    #[arg(long, env)]
    amqp_url: Option<String>,
    /// How many requests the worker holds, and so handles at once. Default: 32.
    #[arg(long, env, default_value_t = 32)]
    rpc_prefetch: u16,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Apply the database migrations and exit.
    Migrate,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    init_tracing();
    // Refuse a missing broker before touching the database.
    let amqp_url = match config.command {
        Some(Command::Migrate) => None,
        None => Some(config.amqp_url.context("AMQP_URL is required to serve")?),
    };
    let database_url = config.users_database_url.unwrap_or_else(|| entities::db::sqlite_url(&config.data_dir, "users"));
    tracing::info!(database = redact_url(&database_url), "opening the users database");
    let db = users_worker::open_database(&database_url).await?;
    let Some(amqp_url) = amqp_url else {
        tracing::info!("users database migrated");
        return Ok(());
    };
    tracing::info!(broker = redact_url(&amqp_url), prefetch = config.rpc_prefetch, "users worker starting");
    let broker = rpc::Broker::from_url(Some(amqp_url));
    users_worker::run(&broker, db, config.rpc_prefetch, shutdown_on_signal()).await
}
