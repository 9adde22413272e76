//! The orders worker: serves `orders.rpc` over RabbitMQ from its own database.

use std::{path::PathBuf, time::Duration};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use rpc::process::redact_url;

/// glibc's allocator shows up in profiles under concurrency; mimalloc does not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Configuration comes from the environment (or the same names as flags).
#[derive(Parser)]
struct Config {
    /// The orders database (PostgreSQL or SQLite). Default: SQLite `orders.db` under `DATA_DIR`.
    #[arg(long, env)]
    orders_database_url: Option<String>,
    /// Where SQLite files live when no database URL is given. Default: `./data`.
    #[arg(long, env, default_value = "./data")]
    data_dir: PathBuf,
    /// RabbitMQ, vhost included. Required, except by `migrate`.
    #[arg(long, env)]
    amqp_url: Option<String>,
    /// How many requests the worker handles at once. Default: 32.
    #[arg(long, env, default_value_t = 32)]
    rpc_prefetch: u16,
    /// How long a call to the users service may take, in milliseconds. Default: 5000.
    #[arg(long, env, default_value_t = 5000)]
    rpc_timeout_ms: u64,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Applies pending migrations to the orders database and exits.
    Migrate,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    rpc::process::init_tracing();
    // Fail before touching the database when serving is impossible anyway.
    let amqp_url = match config.command {
        Some(Command::Migrate) => None,
        None => Some(config.amqp_url.context("AMQP_URL is required to serve (only `migrate` runs without it)")?),
    };
    let url = config.orders_database_url.unwrap_or_else(|| entities::db::sqlite_url(&config.data_dir, "orders"));
    tracing::info!(database = %redact_url(&url), "opening and migrating the orders database");
    let db = orders_worker::open_database(&url).await?;
    let Some(amqp_url) = amqp_url else { return Ok(()) };
    tracing::info!(amqp = %redact_url(&amqp_url), prefetch = config.rpc_prefetch, "serving orders.rpc");
    let broker = rpc::Broker::Amqp { url: amqp_url };
    let timeout = Duration::from_millis(config.rpc_timeout_ms);
    orders_worker::run(&broker, db, config.rpc_prefetch, timeout, rpc::process::shutdown_on_signal()).await
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Config;

    #[test]
    fn the_configuration_is_well_formed() {
        Config::command().debug_assert();
    }
}
