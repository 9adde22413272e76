//! What the services' test suites share: a database made for one test and removed after it,
//! on SQLite or PostgreSQL. PostgreSQL databases are named after the run (`TEST_RUN_ID`, which
//! `scripts/test.sh` sets) so runs side by side never meet, and created through
//! `TEST_POSTGRES_URL` (`postgres://postgres@127.0.0.1:5432/postgres` unless set).

use std::{future::Future, panic::AssertUnwindSafe, path::PathBuf};

use futures_util::FutureExt;
use sea_orm::{ConnectionTrait, Database};
use uuid::Uuid;

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database that exists for one test only.
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
        let unique = Uuid::now_v7().simple();
        match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir().join("gqlmq-tests");
                let name = format!("{prefix}_{unique}");
                let url = entities::db::sqlite_url(&dir, &name);
                Self { url, cleanup: Cleanup::SqliteFile(dir.join(format!("{name}.db"))) }
            }
            Backend::Postgres => {
                let admin_url = std::env::var("TEST_POSTGRES_URL")
                    .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
                let name = format!("{prefix}_{}_{unique}", run_id());
                let admin = Database::connect(&admin_url).await.expect("PostgreSQL answers at TEST_POSTGRES_URL");
                admin.execute_unprepared(&format!(r#"CREATE DATABASE "{name}""#)).await.expect("a test database");
                let _ = admin.close().await;
                Self { url: with_database(&admin_url, &name), cleanup: Cleanup::PostgresDatabase { admin_url, name } }
            }
        }
    }

    /// Removes the database.
    pub async fn destroy(self) {
        match self.cleanup {
            Cleanup::SqliteFile(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let mut file = path.clone().into_os_string();
                    file.push(suffix);
                    let _ = std::fs::remove_file(file);
                }
            }
            Cleanup::PostgresDatabase { admin_url, name } => {
                let Ok(admin) = Database::connect(&admin_url).await else { return };
                // FORCE: the test's pool may not have closed its connections yet.
                let _ = admin.execute_unprepared(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#)).await;
                let _ = admin.close().await;
            }
        }
    }
}

/// Runs `scenario` with the URL of a fresh database, and removes the database even when the
/// scenario panics (the panic then goes on).
pub async fn with_test_database<F, Fut>(backend: Backend, prefix: &str, scenario: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let database = TestDatabase::create(backend, prefix).await;
    let outcome = AssertUnwindSafe(scenario(database.url.clone())).catch_unwind().await;
    database.destroy().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// The run's id as a database name may hold it: `TEST_RUN_ID` in lower case, letters, digits
/// and `_` only; `local` when unset.
fn run_id() -> String {
    let id = std::env::var("TEST_RUN_ID").unwrap_or_else(|_| "local".to_owned());
    id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>().to_ascii_lowercase()
}

/// `base` with its database name replaced by `name`, query string kept.
fn with_database(base: &str, name: &str) -> String {
    let (address, query) = base.split_once('?').map_or((base, None), |(address, query)| (address, Some(query)));
    let authority = address.find("://").map_or(0, |scheme| scheme + 3);
    let path = address[authority..].find('/').map_or(address.len(), |slash| authority + slash);
    let query = query.map(|query| format!("?{query}")).unwrap_or_default();
    format!("{}/{name}{query}", &address[..path])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_name_is_replaced_and_the_rest_kept() {
        assert_eq!(with_database("postgres://u@h:5432/postgres", "t1"), "postgres://u@h:5432/t1");
        assert_eq!(
            with_database("postgres://u@h:5432/postgres?sslmode=disable", "t1"),
            "postgres://u@h:5432/t1?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h:5432", "t1"), "postgres://u@h:5432/t1");
        assert_eq!(with_database("postgres://u:p@h/db?sslmode=disable", "x"), "postgres://u:p@h/x?sslmode=disable");
    }
}
