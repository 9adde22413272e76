//! Opening a service's database (PostgreSQL or SQLite) and migrating it safely.

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DbErr, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

/// Connects to `url`. SQLite files (and their folder) are created when missing, and run in
/// WAL mode so readers do not wait for the writer.
pub async fn connect(url: &str) -> Result<DatabaseConnection, DbErr> {
    let sqlite_dir = url
        .strip_prefix("sqlite://")
        .and_then(|rest| std::path::Path::new(rest.split('?').next().unwrap_or(rest)).parent())
        .filter(|dir| !dir.as_os_str().is_empty());
    if let Some(dir) = sqlite_dir {
        std::fs::create_dir_all(dir)
            .map_err(|error| DbErr::Custom(format!("cannot create {}: {error}", dir.display())))?;
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options.sqlx_logging(false).max_connections(16).min_connections(1);
    // sqlx waits up to 5 s for a SQLite lock by default (busy_timeout on every connection).
    let db = Database::connect(options).await?;
    if db.get_database_backend() == DatabaseBackend::Sqlite {
        db.execute_unprepared("PRAGMA journal_mode = WAL;").await?;
    }
    Ok(db)
}

/// Applies `M`'s pending migrations. On PostgreSQL the migrations run in one transaction
/// holding an advisory lock on `lock_key`, so replicas starting together do not race.
pub async fn migrate<M: MigratorTrait>(db: &DatabaseConnection, lock_key: i64) -> Result<(), DbErr> {
    match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            let txn = db.begin().await?;
            txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({lock_key})")).await?;
            M::up(&txn, None).await?;
            txn.commit().await
        }
        // One process owns a SQLite file (embedded mode): nothing to race with.
        _ => M::up(db, None).await,
    }
}

/// The SQLite URL of a service's file under `data_dir` (embedded mode).
pub fn sqlite_url(data_dir: &std::path::Path, service: &str) -> String {
    format!("sqlite://{}/{service}.db?mode=rwc", data_dir.display())
}
