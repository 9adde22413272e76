//! The services of a run: a RabbitMQ node, a PostgreSQL cluster (databases `users` and
//! `orders`) and a Redis server, all private, on ports of their own. The faults stop and
//! restart these; the machine's are never touched. Each is removed when dropped, also after a
//! panic or an interrupt.

use std::time::Duration;

use anyhow::Context as _;
use test_support::{PrivatePostgres, PrivateRabbitMq};
use tokio::process::{Child, Command};

pub struct Instances {
    pub broker: PrivateRabbitMq,
    pub postgres: PrivatePostgres,
    pub redis: PrivateRedis,
}

impl Instances {
    pub async fn start() -> anyhow::Result<Self> {
        let redis = PrivateRedis::start().await?;
        // Both take seconds (the node most); they panic when they cannot start.
        let (broker, postgres) = tokio::join!(PrivateRabbitMq::start(), PrivatePostgres::start());
        for database in ["users", "orders"] {
            postgres.create_database(database).await;
        }
        Ok(Self { broker, postgres, redis })
    }

    pub fn users_database_url(&self) -> String {
        self.postgres.url("users")
    }

    pub fn orders_database_url(&self) -> String {
        self.postgres.url("orders")
    }

    /// Removes all three: the node stopped and its folder removed, the cluster dropped, Redis
    /// killed (it keeps nothing on disk).
    pub async fn stop(self) {
        let Self { broker, postgres, redis } = self;
        redis.stop().await;
        // Their Drop runs blocking commands: off the runtime's threads.
        let _ = tokio::task::spawn_blocking(move || drop((broker, postgres))).await;
    }
}

/// `redis-server` on a free port, saving nothing (`--save '' --appendonly no`).
pub struct PrivateRedis {
    child: Child,
    /// `redis://127.0.0.1:<port>`.
    pub url: String,
}

impl PrivateRedis {
    async fn start() -> anyhow::Result<Self> {
        let port = free_port()?;
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("redis-server runs (is Debian's redis-server installed?)")?;
        let redis = Self { child, url: format!("redis://127.0.0.1:{port}") };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            anyhow::ensure!(
                tokio::time::Instant::now() < deadline,
                "the private redis-server did not listen on {port}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(redis)
    }

    async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// A port nobody listens on now (another process could take it before ours binds it: then that
/// start fails, and says so).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    Ok(listener.local_addr()?.port())
}
