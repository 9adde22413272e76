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

pub mod admin;
pub mod handlers;
pub mod migration;
pub mod password;
pub mod throttle;
pub mod validation;

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context as _;
use entities::outbox::Outbox;
use rpc::{Broker, Caller, EventPublisher, Headers, RequestState, Router, Service, process::defaults};
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

pub use throttle::LoginLimits;

/// The PostgreSQL advisory lock of the users service's outbox relay ("usrob").
pub const OUTBOX_LOCK_KEY: i64 = 0x75_73_72_6f_62;

/// What every handler gets: the service's database, its outbox, the limits on failed sign-in
/// attempts, and the request's headers (who it is for, its id, its deadline).
#[derive(Clone)]
pub struct Context {
    pub db: DatabaseConnection,
    /// Where writes put their events; its relay publishes them.
    pub outbox: Outbox,
    pub limits: LoginLimits,
    /// Set by the router from the request; [`Caller::Service`] in [`Context::new`].
    pub caller: Caller,
    /// Set by the router from the request; none in [`Context::new`].
    pub request: Headers,
}

impl Context {
    /// A context whose requests are the deployment's own ([`Caller::Service`]), with the
    /// default limits, its outbox published through `events`.
    pub fn new(db: DatabaseConnection, events: Arc<dyn EventPublisher>) -> Self {
        let outbox = Outbox::new(db.clone(), events, OUTBOX_LOCK_KEY);
        Self { db, outbox, limits: LoginLimits::default(), caller: Caller::Service, request: Headers::default() }
    }

    /// The same context, for requests made for `caller`.
    pub fn as_caller(&self, caller: Caller) -> Self {
        self.for_request(Headers::for_caller(caller))
    }
}

impl RequestState for Context {
    fn for_request(&self, request: Headers) -> Self {
        Self { caller: request.caller, request, ..self.clone() }
    }
}

/// Routes every method of `rpc::users` to its handler; a ping answers whether the database does.
pub fn router(ctx: Context) -> Router<Context> {
    Router::new(ctx)
        .health(|ctx: Context| async move { entities::db::ping(&ctx.db).await })
        .route(handlers::create)
        .route(handlers::get)
        .route(handlers::by_nick_name)
        .route(handlers::list)
        .route(handlers::update)
        .route(handlers::change_password)
        .route(handlers::delete)
        .route(handlers::login)
        .route(handlers::session)
        .route(handlers::end_session)
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
    #[command(flatten)]
    pub limits: LoginLimits,
}

impl Options {
    /// The defaults, on the database at `database_url`.
    pub fn with_database(database_url: impl Into<String>) -> Self {
        Self {
            database_url: Some(database_url.into()),
            data_dir: defaults::DATA_DIR.into(),
            prefetch: defaults::RPC_PREFETCH,
            limits: LoginLimits::default(),
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
    limits: LoginLimits,
}

impl Application {
    /// Opens the database and applies pending migrations (all that `users-worker migrate` does).
    pub async fn build(options: Options) -> anyhow::Result<Self> {
        let db = open_database(&options.database_url()).await?;
        // The first unknown login must not take longer than the others (it would tell).
        password::warm_up().await?;
        Ok(Self { db, prefetch: options.prefetch, limits: options.limits })
    }

    /// The open database, for callers that look at the rows themselves (tests).
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Serves `users.rpc` over `broker` until `shutdown`, then finishes the requests in hand.
    pub async fn run_until_stopped(self, broker: &Broker, shutdown: CancellationToken) -> anyhow::Result<()> {
        let ctx = Context { limits: self.limits, ..Context::new(self.db, broker.publisher("users-worker")) };
        let sweeper = tokio::spawn(sweep_expired(ctx.db.clone(), shutdown.clone()));
        // The relay outlives the serve loop: it sends what the last requests committed.
        let relay_stop = CancellationToken::new();
        let relay = tokio::spawn(ctx.outbox.clone().relay(relay_stop.clone()));
        let served = broker.serve(Service::Users, router(ctx), self.prefetch, shutdown).await;
        relay_stop.cancel();
        let _ = relay.await;
        sweeper.abort();
        served
    }
}

/// How often expired sessions and counting windows of failed attempts are deleted.
const SWEEP_EVERY: Duration = Duration::from_secs(600);

/// Deletes what has expired, now and then: a row that lived past its time answers as absent
/// anyway (and an answer past `inbox::KEPT_FOR` is no longer promised), so this only keeps
/// the tables small.
async fn sweep_expired(db: DatabaseConnection, shutdown: CancellationToken) {
    loop {
        if let Err(error) = throttle::sweep(&db).await {
            tracing::warn!(%error, "cannot delete expired sessions and attempt counts");
        }
        if let Err(error) = entities::inbox::sweep(&db).await {
            tracing::warn!(%error, "cannot delete the answers of old requests");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(SWEEP_EVERY) => {}
        }
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
