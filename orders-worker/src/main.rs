//! The orders worker: serves `orders.rpc` over RabbitMQ from its own database.

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use orders_worker::{Application, Options};
use rpc::process::redact_url;

/// glibc's allocator shows up in profiles under concurrency; mimalloc does not.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Configuration comes from the environment (or the same names as flags).
#[derive(Parser)]
struct Config {
    #[command(flatten)]
    options: Options,
    /// RabbitMQ, vhost included. Required, except by `migrate`.
    #[arg(long, env)]
    amqp_url: Option<String>,
    #[command(flatten)]
    topology: rpc::amqp::Topology,
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
    let prefetch = config.options.prefetch;
    tracing::info!(database = %redact_url(&config.options.database_url()), "opening and migrating the orders database");
    let app = Application::build(config.options).await?;
    let Some(amqp_url) = amqp_url else { return Ok(()) };
    tracing::info!(amqp = %redact_url(&amqp_url), prefetch, "serving orders.rpc");
    let broker = rpc::Broker::from_url(Some(&amqp_url), config.topology);
    app.run_until_stopped(&broker, rpc::process::shutdown_on_signal()).await
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
