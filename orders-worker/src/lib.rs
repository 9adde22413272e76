//! The orders service: answers the `orders.rpc` queue from its own database, and deletes the
//! orders of users that the users service announces deleted.
//!
//! - [`validation`]: the contract's rules for order input (`itemDescription`, `itemQuantity`,
//!   `itemPrice`), as pure functions that answer `BAD_USER_INPUT` with the field at fault.
//! - [`handlers`]: one plain async function per method of `rpc::orders`, `(request, Context)
//!   → RpcResult`; [`router`] wires them to their method names.
//! - [`cascade`]: the `user.deleted` consumer (a tombstone, then the user's orders go).
//! - [`migration`]: the service's schema, applied at start-up by [`open_database`].
//!
//! [`Application`] is the one way to start the service: [`Application::build`] opens and
//! migrates its database, [`Application::run_until_stopped`] ties the handlers to a
//! [`rpc::Broker`]; `main.rs` only reads the configuration, and the gateway's embedded mode and
//! the tests call the same two. Handlers never see the broker, so tests call them directly with
//! an in-process hub.

pub mod cascade;
pub mod handlers;
pub mod migration;
pub mod validation;

use std::{path::PathBuf, sync::Arc, time::Duration};

use anyhow::Context as _;
use entities::outbox::Outbox;
use futures_util::FutureExt;
use rpc::process::defaults;
use sea_orm::DatabaseConnection;
use tokio_util::sync::CancellationToken;

/// The durable queue the orders service reads `user.deleted` from: events wait there while no
/// orders worker runs.
pub const USER_DELETED_QUEUE: &str = "orders.user-deleted";

/// The durable queue the orders service reads `user.created` from, to know which users exist
/// without asking (`known_users`).
pub const USER_CREATED_QUEUE: &str = "orders.user-created";

/// The PostgreSQL advisory lock of the orders service's outbox relay ("ordob").
pub const OUTBOX_LOCK_KEY: i64 = 0x6f_72_64_6f_62;

/// What every handler gets: the service's database, its outbox, a client to ask the users
/// service whether a user exists (as [`rpc::Caller::Service`]), and the request's headers (who
/// it is for, its id, its deadline).
#[derive(Clone)]
pub struct Context {
    pub db: DatabaseConnection,
    /// Where writes put their events; its relay publishes them.
    pub outbox: Outbox,
    pub users: rpc::RpcClient,
    /// Set by the router from the request; [`rpc::Caller::Service`] in [`Context::new`].
    pub caller: rpc::Caller,
    /// Set by the router from the request; none in [`Context::new`].
    pub request: rpc::Headers,
}

impl Context {
    /// A context whose requests are the deployment's own; `users` calls as the service; the
    /// outbox is published through `events`.
    pub fn new(db: DatabaseConnection, events: Arc<dyn rpc::EventPublisher>, users: rpc::RpcClient) -> Self {
        let outbox = Outbox::new(db.clone(), events, OUTBOX_LOCK_KEY);
        Self {
            db,
            outbox,
            users: users.as_caller(rpc::Caller::Service),
            caller: rpc::Caller::Service,
            request: rpc::Headers::default(),
        }
    }

    /// The same context, for requests made for `caller`.
    pub fn as_caller(&self, caller: rpc::Caller) -> Self {
        rpc::RequestState::for_request(self, rpc::Headers::for_caller(caller))
    }
}

impl rpc::RequestState for Context {
    /// Calls to the users service made for this request end by its deadline too.
    fn for_request(&self, request: rpc::Headers) -> Self {
        let users = self.users.within(request.deadline);
        Self { caller: request.caller, request, users, ..self.clone() }
    }
}

/// Every method of `rpc::orders`, answered by its handler; a ping answers whether the
/// database does.
pub fn router(ctx: Context) -> rpc::Router<Context> {
    rpc::Router::new(ctx)
        .health(|ctx: Context| async move { entities::db::ping(&ctx.db).await })
        .route(handlers::create_order)
        .route(handlers::get_orders)
        .route(handlers::list_orders)
        .route(handlers::orders_of_users)
        .route(handlers::update_order)
        .route(handlers::delete_order)
}

/// Where the service keeps its data, how much it takes on at once and how long it waits for
/// the users service: the environment of the binary, and what the gateway's embedded mode and
/// the tests fill in.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// The orders database (PostgreSQL or SQLite). Unset: the SQLite file `orders.db` under DATA_DIR.
    #[arg(long = "orders-database-url", env = "ORDERS_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Where SQLite files live when no database URL is given.
    #[arg(long, env = "DATA_DIR", default_value = defaults::DATA_DIR)]
    pub data_dir: PathBuf,
    /// How many requests the worker holds, and so handles, at once.
    #[arg(long = "rpc-prefetch", env = "RPC_PREFETCH", default_value_t = defaults::RPC_PREFETCH)]
    pub prefetch: u16,
    /// How long a call to the users service may take, in milliseconds.
    #[arg(long = "rpc-timeout-ms", env = "RPC_TIMEOUT_MS", default_value_t = defaults::RPC_TIMEOUT_MS)]
    pub rpc_timeout_ms: u64,
}

impl Options {
    /// The defaults, on the database at `database_url`.
    pub fn with_database(database_url: impl Into<String>) -> Self {
        Self {
            database_url: Some(database_url.into()),
            data_dir: defaults::DATA_DIR.into(),
            prefetch: defaults::RPC_PREFETCH,
            rpc_timeout_ms: defaults::RPC_TIMEOUT_MS,
        }
    }

    /// The database URL given, or the service's SQLite file under `data_dir`.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| entities::db::sqlite_url(&self.data_dir, "orders"))
    }
}

/// The orders service with its database open and migrated, ready to serve.
pub struct Application {
    db: DatabaseConnection,
    prefetch: u16,
    rpc_timeout: Duration,
}

impl Application {
    /// Opens the database and applies pending migrations (all that `orders-worker migrate` does).
    pub async fn build(options: Options) -> anyhow::Result<Self> {
        Ok(Self {
            db: open_database(&options.database_url()).await?,
            prefetch: options.prefetch,
            rpc_timeout: Duration::from_millis(options.rpc_timeout_ms),
        })
    }

    /// The open database, for callers that look at the rows themselves (tests).
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Serves `orders.rpc` and consumes `user.deleted` and `user.created` until `shutdown`, then finishes the
    /// messages it holds. Fails when the serve loop fails; the subscription then stops too.
    pub async fn run_until_stopped(self, broker: &rpc::Broker, shutdown: CancellationToken) -> anyhow::Result<()> {
        let Self { db, prefetch, rpc_timeout } = self;
        let ctx = Context::new(db, broker.publisher("orders-worker"), broker.client("orders-worker", rpc_timeout));
        // A child token, so a failing serve loop stops our subscription without cancelling the
        // caller's token (the embedded gateway shares it with everything else it runs).
        let stop = shutdown.child_token();
        let cascade_ctx = ctx.clone();
        let handler: rpc::EventHandler = Arc::new(move |envelope: rpc::Envelope| {
            let ctx = cascade_ctx.clone();
            async move {
                // Anything else is the subscriber's own notice of a new queue: nothing to do,
                // the queues are durable.
                match envelope.routing_key.as_str() {
                    rpc::events::USER_DELETED => cascade::on_user_deleted(&ctx, envelope.event.id).await,
                    rpc::events::USER_CREATED => cascade::on_user_created(&ctx, envelope.event.id).await,
                    _ => Ok(()),
                }
            }
            .boxed()
        });
        // The relay outlives the serve loop and the cascade: it sends what they committed last.
        let relay_stop = CancellationToken::new();
        let relay = tokio::spawn(ctx.outbox.clone().relay(relay_stop.clone()));
        let sweeper = tokio::spawn(sweep_answers(ctx.db.clone(), stop.clone()));
        let serve = async {
            let served = broker.serve(rpc::Service::Orders, router(ctx), prefetch, stop.clone()).await;
            stop.cancel();
            served
        };
        let durable = |name: &str| rpc::amqp::SubscriberQueue::Durable { name: name.to_owned(), ttl: None };
        let deleted =
            broker.subscribe(durable(USER_DELETED_QUEUE), &[rpc::events::USER_DELETED], handler.clone(), stop.clone());
        let created =
            broker.subscribe(durable(USER_CREATED_QUEUE), &[rpc::events::USER_CREATED], handler, stop.clone());
        let (served, (), ()) = tokio::join!(serve, deleted, created);
        relay_stop.cancel();
        let _ = relay.await;
        sweeper.abort();
        served
    }
}

/// Deletes the answers of requests older than `entities::inbox::KEPT_FOR`, now and then.
async fn sweep_answers(db: DatabaseConnection, shutdown: CancellationToken) {
    loop {
        if let Err(error) = entities::inbox::sweep(&db).await {
            tracing::warn!(%error, "cannot delete the answers of old requests");
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_secs(600)) => {}
        }
    }
}

/// Connects to the orders database (PostgreSQL or SQLite) and applies pending migrations.
pub async fn open_database(url: &str) -> anyhow::Result<DatabaseConnection> {
    let db = entities::db::connect(url)
        .await
        .with_context(|| format!("cannot connect to the orders database at {}", rpc::process::redact_url(url)))?;
    entities::db::migrate::<migration::Migrator>(&db, migration::LOCK_KEY)
        .await
        .context("cannot migrate the orders database")?;
    Ok(db)
}
