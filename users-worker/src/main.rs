//! The standalone users worker: consumes `users.rpc` on RabbitMQ until SIGINT or SIGTERM.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use rpc::process::{init_tracing, redact_url, shutdown_on_signal};
use users_worker::{Application, Options};

/// glibc's allocator shows up in profiles under concurrency; mimalloc does not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(version, about)]
struct Config {
    #[command(flatten)]
    options: Options,
    /// RabbitMQ, vhost included. No default: required to serve (not to `migrate`).
    #[arg(long, env)]
    amqp_url: Option<String>,
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
    let prefetch = config.options.prefetch;
    tracing::info!(database = redact_url(&config.options.database_url()), "opening the users database");
    let app = Application::build(config.options).await?;
    let Some(amqp_url) = amqp_url else {
        tracing::info!("users database migrated");
        return Ok(());
    };
    tracing::info!(broker = redact_url(&amqp_url), prefetch, "users worker starting");
    let broker = rpc::Broker::from_url(Some(amqp_url));
    app.run_until_stopped(&broker, shutdown_on_signal()).await
}
