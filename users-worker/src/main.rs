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
    #[command(flatten)]
    topology: rpc::amqp::Topology,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Apply the database migrations and exit.
    Migrate,
    /// Make the user with this nickName (ignoring case) an admin; exit 1 when there is none.
    GrantAdmin { nick_name: String },
    /// Make the user with this nickName an ordinary user again; exit 1 when there is none.
    RevokeAdmin { nick_name: String },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    init_tracing();
    if let Some(Command::GrantAdmin { nick_name } | Command::RevokeAdmin { nick_name }) = &config.command {
        let admin = matches!(config.command, Some(Command::GrantAdmin { .. }));
        let db = users_worker::open_database(&config.options.database_url()).await?;
        // With a broker, gateways hear of it at once; without, once a worker's relay sends it,
        // or when they next look the user's sessions up.
        let events = match config.amqp_url {
            Some(url) => Some(rpc::Broker::from_url(Some(&url), config.topology).publisher("users-admin")),
            None => None,
        };
        let found = users_worker::admin::run(&db, events, nick_name, admin).await?;
        std::process::exit(if found { 0 } else { 1 });
    }
    // Refuse a missing broker before touching the database.
    let amqp_url = match config.command {
        Some(_) => None,
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
    let broker = rpc::Broker::from_url(Some(&amqp_url), config.topology);
    app.run_until_stopped(&broker, shutdown_on_signal()).await
}
