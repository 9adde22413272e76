//! What the test suites share: a database and a RabbitMQ vhost made for one test and removed
//! after it, also when it panics. Their names hold the run's id (`TEST_RUN_ID`, which
//! `scripts/test.sh` sets) so runs side by side never meet, and so that the script can find what
//! a crashed test left. Databases, on SQLite or PostgreSQL, are created through
//! `TEST_POSTGRES_URL` (`postgres://postgres@127.0.0.1:5432/postgres` unless set); vhosts through
//! `rabbitmqctl`, and reached at `TEST_AMQP_URL` (`amqp://guest:guest@127.0.0.1:5672/%2f` unless
//! set) with the vhost swapped.
//!
//! A test that stops or restarts the broker runs its own node ([`PrivateRabbitMq`]), never the
//! machine's. Beside them, what every suite writes the same way: [`on_both_backends!`] declares each
//! scenario once per back end, and [`cpf()`] makes valid CPFs for test users.

mod cpf;
mod private_postgres;
mod private_rabbitmq;
pub mod rabbitmq_cluster;
mod scenarios;

pub use cpf::cpf;
pub use private_postgres::PrivatePostgres;
pub use private_rabbitmq::PrivateRabbitMq;
pub use rabbitmq_cluster::PrivateRabbitMqCluster;

use std::{future::Future, path::PathBuf};

use sea_orm::{ConnectionTrait, Database};
use uuid::Uuid;

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test only: dropping it removes it, so a test may hold it as
/// long as it likes, and a panic removes it too.
pub struct TestDatabase {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    /// The SQLite file; its `-wal` and `-shm` companions go with it.
    SqliteFile(PathBuf),
    PostgresDatabase {
        admin_url: String,
        name: String,
    },
}

impl TestDatabase {
    /// A new, empty database whose name starts with `prefix` (`users_test`, say).
    ///
    /// # Panics
    /// When PostgreSQL cannot be reached or refuses to create the database: the test cannot run.
    pub async fn create(backend: Backend, prefix: &str) -> Self {
        let name = unique_name(prefix, '_');
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join("gqlmq-tests");
                let url = entities::db::sqlite_url(&dir, &name);
                Self { url, cleanup: Cleanup::SqliteFile(dir.join(format!("{name}.db"))) }
            }
            Backend::Postgres => {
                let admin_url = std::env::var("TEST_POSTGRES_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
                let admin = Database::connect(&admin_url).await.expect("PostgreSQL answers at TEST_POSTGRES_URL");
                admin.execute_unprepared(&format!(r#"CREATE DATABASE "{name}""#)).await.expect("a test database");
                let _ = admin.close().await;
                Self { url: with_path(&admin_url, &name), cleanup: Cleanup::PostgresDatabase { admin_url, name } }
            }
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        match &self.cleanup {
            Cleanup::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Cleanup::PostgresDatabase { admin_url, name } => drop_postgres_database(admin_url, name),
        }
    }
}

/// Drops the database on a thread and runtime of its own: `Drop` cannot await, and it may run on
/// a runtime's thread, which cannot block on another runtime. Failures are let go: a panic while
/// a test's panic unwinds would abort the run, and `scripts/test.sh` drops what is left.
fn drop_postgres_database(admin_url: &str, name: &str) {
    std::thread::scope(|scope| {
        let dropping = std::thread::Builder::new().spawn_scoped(scope, || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async {
                let Ok(admin) = Database::connect(admin_url).await else { return };
                // FORCE: the test's pool may not have closed its connections yet.
                let _ = admin.execute_unprepared(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#)).await;
                let _ = admin.close().await;
            });
        });
        if let Ok(dropping) = dropping {
            let _ = dropping.join();
        }
    });
}

/// Runs `scenario` with the URL of a fresh database, which is removed afterwards even when the
/// scenario panics.
pub async fn with_test_database<F, Fut>(backend: Backend, prefix: &str, scenario: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let database = TestDatabase::create(backend, prefix).await;
    scenario(database.url.clone()).await;
}

/// A RabbitMQ vhost that exists for one test only, where guest may do anything: dropping it
/// deletes it, also after a panic.
pub struct Vhost {
    name: String,
    /// `TEST_AMQP_URL` with this vhost in its path.
    pub url: String,
}

impl Vhost {
    /// A new vhost whose name starts with `prefix` (`rpc`, say). Its parts are joined by `-`, which
    /// `scripts/test.sh` looks for around the run's id.
    ///
    /// # Panics
    /// When `rabbitmqctl` fails: the test cannot run.
    pub async fn create(prefix: &str) -> Self {
        let base =
            std::env::var("TEST_AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
        let name = unique_name(prefix, '-');
        rabbitmqctl(&["add_vhost", &name]).await;
        // Made before the permissions are set, so that it is deleted if setting them fails.
        let vhost = Self { url: with_path(&base, &name), name };
        rabbitmqctl(&["set_permissions", "-p", &vhost.name, "guest", ".*", ".*", ".*"]).await;
        vhost
    }

    /// The vhost's name, for `rabbitmqctl -p`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl").args(["delete_vhost", &self.name]).output();
    }
}

/// Runs `rabbitmqctl` with `args`, without blocking the runtime: other tasks of the test (a
/// gateway, workers) go on while it runs.
///
/// # Panics
/// When it cannot run or fails.
pub async fn rabbitmqctl(args: &[&str]) {
    let output = tokio::process::Command::new("rabbitmqctl").args(args).output().await.expect("rabbitmqctl runs");
    assert!(output.status.success(), "rabbitmqctl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// `prefix`, the run's id and a fresh id, joined by `separator`: a name no other test, of this run
/// or another, holds.
pub fn unique_name(prefix: &str, separator: char) -> String {
    format!("{prefix}{separator}{}{separator}{}", run_id(), Uuid::now_v7().simple())
}

/// The run's id as a database or vhost name may hold it: `TEST_RUN_ID` in lower case, letters,
/// digits and `_` only; `local` when unset.
fn run_id() -> String {
    let id = std::env::var("TEST_RUN_ID").unwrap_or_else(|_| "local".to_owned());
    id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>().to_ascii_lowercase()
}

/// `base` with its path (a PostgreSQL database, a RabbitMQ vhost) replaced by `name`, query
/// string kept.
fn with_path(base: &str, name: &str) -> String {
    let (address, query) = base.split_once('?').map_or((base, None), |(address, query)| (address, Some(query)));
    let authority = address.find("://").map_or(0, |scheme| scheme + 3);
    let path = address[authority..].find('/').map_or(address.len(), |slash| authority + slash);
    let query = query.map(|query| format!("?{query}")).unwrap_or_default();
    format!("{}/{name}{query}", &address[..path])
}

/// A port nobody listens on now. Another process could take it before the private server
/// does; the server then fails to start and the test says so.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_is_replaced_and_the_rest_kept() {
        assert_eq!(with_path("postgres://u@h:5432/postgres", "t1"), "postgres://u@h:5432/t1");
        assert_eq!(
            with_path("postgres://u@h:5432/postgres?sslmode=disable", "t1"),
            "postgres://u@h:5432/t1?sslmode=disable"
        );
        assert_eq!(with_path("postgres://u@h:5432", "t1"), "postgres://u@h:5432/t1");
        assert_eq!(with_path("postgres://u:p@h/db?sslmode=disable", "x"), "postgres://u:p@h/x?sslmode=disable");
    }
}
