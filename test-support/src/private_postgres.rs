//! A PostgreSQL cluster of a test's own, on a port of its own, for tests that stop or restart
//! the database: the machine's serves every other test and must never be touched.
//!
//! It is made with Debian's `pg_createcluster` (the machine's PostgreSQL version, trust auth on
//! 127.0.0.1) and driven with `pg_ctlcluster`. Dropping it drops the cluster, also after a panic.

use std::{process::Command, time::Duration};

pub struct PrivatePostgres {
    version: String,
    /// `gqlmq-pg-<run>-<id>`: scripts/test.sh drops what a crashed test left.
    name: String,
    port: u16,
}

impl PrivatePostgres {
    /// Makes and starts a cluster, and waits until it accepts connections.
    ///
    /// # Panics
    /// When the cluster cannot be made: the test cannot run.
    pub async fn start() -> Self {
        let version = installed_version();
        let name = crate::unique_name("gqlmq-pg", '-');
        let port = crate::free_port();
        let status = Command::new("pg_createcluster")
            .args(["--start", "-p", &port.to_string(), &version, &name, "--", "--auth=trust"])
            .stdout(std::process::Stdio::null())
            .status()
            .expect("pg_createcluster runs");
        assert!(status.success(), "pg_createcluster {version} {name} failed");
        let cluster = Self { version, name, port };
        cluster.await_startup().await;
        cluster
    }

    /// The URL of `database` on this cluster.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates `database`.
    pub async fn create_database(&self, database: &str) {
        self.psql(&format!("CREATE DATABASE \"{database}\"")).await;
    }

    /// Stops the server (fast: open connections are cut, as in a crash or a failover).
    pub async fn stop(&self) {
        self.ctl("stop", &["-m", "fast"]).await;
    }

    /// Starts the server again and waits until it accepts connections.
    pub async fn start_again(&self) {
        self.ctl("start", &[]).await;
        self.await_startup().await;
    }

    async fn await_startup(&self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let ready = tokio::process::Command::new("pg_isready")
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-q"])
                .status()
                .await
                .is_ok_and(|status| status.success());
            if ready {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "the private PostgreSQL {} did not start", self.name);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn psql(&self, sql: &str) {
        let output = tokio::process::Command::new("psql")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .output()
            .await
            .expect("psql runs");
        assert!(output.status.success(), "psql {sql:?}: {}", String::from_utf8_lossy(&output.stderr));
    }

    async fn ctl(&self, action: &str, options: &[&str]) {
        let output = tokio::process::Command::new("pg_ctlcluster")
            .args([&self.version, &self.name, action])
            .args(options)
            .output()
            .await
            .expect("pg_ctlcluster runs");
        assert!(
            output.status.success(),
            "pg_ctlcluster {} {} {action}: {}",
            self.version,
            self.name,
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let _ = Command::new("pg_dropcluster").args(["--stop", &self.version, &self.name]).output();
    }
}

/// The newest PostgreSQL version installed (`/usr/lib/postgresql/<version>`).
fn installed_version() -> String {
    let versions = std::fs::read_dir("/usr/lib/postgresql").expect("PostgreSQL is installed under /usr/lib/postgresql");
    versions
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|name| Some((name.parse::<u32>().ok()?, name)))
        .max()
        .map(|(_, name)| name)
        .expect("a PostgreSQL version under /usr/lib/postgresql")
}
