//! The users service: answers the `users.rpc` queue from its own database.
//!
//! - [`validation`]: the contract's input rules as pure functions (raw input → stored value
//!   or BAD_USER_INPUT on the field's GraphQL name).
//! - [`password`]: argon2id hashing and verifying, off the async threads.
//! - [`handlers`]: one plain `async fn(request, Context)` per method of `rpc::users`;
//!   [`router`] maps the method names to them, and tests call them directly.
//! - [`migration`]: the schema; [`open_database`] applies it at start-up.
//!
//! [`Application`] is the one way to start the service: [`Application::build`] opens and
//! migrates its database, [`Application::run_until_stopped`] ties the handlers to a
//! [`rpc::Broker`]. The binary in `main.rs` runs it over RabbitMQ, the gateway's embedded mode
//! in-process, the tests both ways. Handlers publish `user.*` events after each commit.

// Tests may unwrap: a panic is how they fail.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod handlers;
pub mod migration;
pub mod password;
pub mod validation;

use std::{path::PathBuf, sync::Arc};

use anyhow::Context as _;
use rpc::{Broker, EventPublisher, Router, Service, process::defaults};
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

/// What every handler gets: the service's database and where its events go.
#[derive(Clone)]
pub struct Context {
    pub db: DatabaseConnection,
    pub events: Arc<dyn EventPublisher>,
}

/// Routes every method of `rpc::users` to its handler.
pub fn router(ctx: Context) -> Router<Context> {
    Router::new(ctx)
        .route(handlers::create)
        .route(handlers::get)
        .route(handlers::by_nick_name)
        .route(handlers::list)
        .route(handlers::update)
        .route(handlers::change_password)
        .route(handlers::delete)
}

/// Where the service keeps its data and how much it takes on at once: the environment of the
/// binary, and what the gateway's embedded mode and the tests fill in.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// The users database (PostgreSQL or SQLite). Unset: the SQLite file `users.db` under DATA_DIR.
    #[arg(long = "users-database-url", env = "USERS_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Where SQLite files live when no database URL is given.
    #[arg(long, env = "DATA_DIR", default_value = defaults::DATA_DIR)]
    pub data_dir: PathBuf,
    /// How many requests the worker holds, and so handles, at once.
    #[arg(long = "rpc-prefetch", env = "RPC_PREFETCH", default_value_t = defaults::RPC_PREFETCH)]
    pub prefetch: u16,
}

impl Options {
    /// The defaults, on the database at `database_url`.
    pub fn with_database(database_url: impl Into<String>) -> Self {
        Self {
            database_url: Some(database_url.into()),
            data_dir: defaults::DATA_DIR.into(),
            prefetch: defaults::RPC_PREFETCH,
        }
    }

    /// The database URL given, or the service's SQLite file under `data_dir`.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| entities::db::sqlite_url(&self.data_dir, "users"))
    }
}

/// The users service with its database open and migrated, ready to serve.
pub struct Application {
    db: DatabaseConnection,
    prefetch: u16,
}

impl Application {
    /// Opens the database and applies pending migrations (all that `users-worker migrate` does).
    pub async fn build(options: Options) -> anyhow::Result<Self> {
        Ok(Self { db: open_database(&options.database_url()).await?, prefetch: options.prefetch })
    }

    /// The open database, for callers that look at the rows themselves (tests).
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Serves `users.rpc` over `broker` until `shutdown`, then finishes the requests in hand.
    pub async fn run_until_stopped(self, broker: &Broker, shutdown: CancellationToken) -> anyhow::Result<()> {
        let ctx = Context { db: self.db, events: broker.publisher("users-worker") };
        broker.serve(Service::Users, router(ctx), self.prefetch, shutdown).await
    }
}

/// Connects to the users database (PostgreSQL, or a SQLite file that is created when
/// missing) and applies pending migrations.
pub async fn open_database(url: &str) -> anyhow::Result<DatabaseConnection> {
    let db = entities::db::connect(url).await.context("cannot connect to the users database")?;
    entities::db::migrate::<migration::Migrator>(&db, migration::LOCK_KEY)
        .await
        .context("cannot migrate the users database")?;
    Ok(db)
}
