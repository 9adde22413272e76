//! The users service: answers the `users.rpc` queue from its own database.
//!
//! - [`validation`]: the contract's input rules as pure functions (raw input → stored value
//!   or BAD_USER_INPUT on the field's GraphQL name).
//! - [`password`]: argon2id hashing and verifying, off the async threads.
//! - [`handlers`]: one plain `async fn(request, Context)` per method of `rpc::users`;
//!   [`router`] maps the method names to them, and tests call them directly.
//! - [`migration`]: the schema; [`open_database`] applies it at start-up.
//!
//! [`run`] ties them to a [`rpc::Broker`]: the binary in `main.rs` does it over RabbitMQ, the
//! gateway's embedded mode in-process. Handlers publish `user.*` events after each commit.

// Tests may unwrap: a panic is how they fail.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod handlers;
pub mod migration;
pub mod password;
pub mod validation;

use std::sync::Arc;

use anyhow::Context as _;
use rpc::{Broker, EventPublisher, Router, Service};
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

/// Connects to the users database (PostgreSQL, or a SQLite file that is created when
/// missing) and applies pending migrations.
pub async fn open_database(url: &str) -> anyhow::Result<DatabaseConnection> {
    let db = entities::db::connect(url).await.context("cannot connect to the users database")?;
    entities::db::migrate::<migration::Migrator>(&db, migration::LOCK_KEY)
        .await
        .context("cannot migrate the users database")?;
    Ok(db)
}

/// Serves `users.rpc` over `broker` until `shutdown`, then finishes the requests in hand.
pub async fn run(
    broker: &Broker,
    db: DatabaseConnection,
    prefetch: u16,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let ctx = Context { db, events: broker.publisher("users-worker") };
    broker.serve(Service::Users, router(ctx), prefetch, shutdown).await
}
