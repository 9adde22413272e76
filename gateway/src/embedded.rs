//! Embedded mode: with no `AMQP_URL`, both services run in this process over the in-process
//! transport, each started by its own `Application` (the code its binary runs) on the database
//! its URL names, or a SQLite file under `DATA_DIR`. Behind the default `embedded` feature:
//! without it the gateway depends on `rpc` alone, and needs a broker.

use std::time::Duration;

use rpc::{Broker, RpcClient, Service};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// Opens both services' databases, starts the services on `broker` (in-process) until
/// `shutdown`, and returns once both answer `rpc`.
pub(crate) async fn start(
    config: &Config,
    broker: &Broker,
    rpc: &RpcClient,
    services: &mut JoinSet<anyhow::Result<()>>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let users = users_options(config);
    let orders = orders_worker::Options {
        database_url: config.orders_database_url.clone(),
        data_dir: config.data_dir.clone(),
        prefetch: config.rpc_prefetch,
        rpc_timeout_ms: config.rpc_timeout_ms,
    };
    let (users, orders) =
        tokio::try_join!(users_worker::Application::build(users), orders_worker::Application::build(orders))?;
    let (users_broker, orders_broker) = (broker.clone(), broker.clone());
    let (users_shutdown, orders_shutdown) = (shutdown.clone(), shutdown.clone());
    services.spawn(async move { users.run_until_stopped(&users_broker, users_shutdown).await });
    services.spawn(async move { orders.run_until_stopped(&orders_broker, orders_shutdown).await });
    wait_until_services_answer(rpc).await
}

/// The users database of embedded mode, as `gateway grant-admin` opens it.
pub fn users_options(config: &Config) -> users_worker::Options {
    users_worker::Options {
        database_url: config.users_database_url.clone(),
        data_dir: config.data_dir.clone(),
        prefetch: config.rpc_prefetch,
        limits: config.login_limits,
    }
}

/// `gateway grant-admin` / `revoke-admin`: the users service's own command, on embedded
/// mode's users database. `Ok(false)`: no such user.
pub async fn set_admin(config: &Config, nick_name: &str, admin: bool) -> anyhow::Result<bool> {
    let db = users_worker::open_database(&users_options(config).database_url()).await?;
    users_worker::admin::run(&db, None, nick_name, admin).await
}

/// The secret embedded mode signs tokens with, made once under DATA_DIR.
pub(crate) fn auth_secret(config: &Config) -> anyhow::Result<crate::auth::secret::AuthSecret> {
    crate::auth::secret::kept_under(&config.data_dir)
}

/// Where each embedded service keeps its data, for the start-up banner: (users, orders).
pub(crate) fn databases(config: &Config) -> (String, String) {
    let describe = |url: &Option<String>, service: &str| match url {
        Some(url) => rpc::process::redact_url(url),
        None => format!("SQLite {}", config.data_dir.join(format!("{service}.db")).display()),
    };
    (describe(&config.users_database_url, "users"), describe(&config.orders_database_url, "orders"))
}

/// Embedded services register with the hub as their tasks start: wait for that, so the
/// first request never finds them missing.
async fn wait_until_services_answer(rpc: &RpcClient) -> anyhow::Result<()> {
    for _ in 0..500 {
        let (users, orders) = tokio::join!(rpc.ping(Service::Users), rpc.ping(Service::Orders));
        if users.is_ok() && orders.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    anyhow::bail!("the embedded services did not start")
}
