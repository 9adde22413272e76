//! Opening a service's database (PostgreSQL or SQLite) and migrating it safely.

use sea_orm::{
    AccessMode, ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, DatabaseExecutor,
    DatabaseTransaction, DbErr, IsolationLevel, SqliteTransactionMode, TransactionOptions, TransactionTrait,
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
    options
        .sqlx_logging(false)
        .max_connections(16)
        .min_connections(1)
        // sqlx pings every pooled connection before handing it out: a database round trip
        // in front of every query. Only one that sat idle a while is worth checking; a
        // connection that broke since is found by its query failing, and is then dropped.
        .test_before_acquire_if_idle_for(std::time::Duration::from_secs(5))
        // A database that is down fails a request (SERVICE_UNAVAILABLE) within a caller's
        // usual deadline, rather than after sqlx's 30 s of connecting again.
        .acquire_timeout(std::time::Duration::from_secs(5));
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

/// Begins a read-only transaction whose queries all see one snapshot, so the parts of an
/// answer read by several queries (a page, its count) agree with each other.
async fn begin_snapshot(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    match db.get_database_backend() {
        DatabaseBackend::Postgres => {
            db.begin_with_config(Some(IsolationLevel::RepeatableRead), Some(AccessMode::ReadOnly)).await
        }
        // SQLite in WAL mode: a transaction reads one snapshot from its first read on.
        _ => db.begin().await,
    }
}

/// Runs `body`, a read of one statement or of several. One statement is a snapshot by itself
/// and goes straight to the pool; several share one snapshot ([`begin_snapshot`]), ended after
/// `body` (and rolled back when it fails).
pub async fn read<T>(
    db: &DatabaseConnection,
    several_statements: bool,
    body: impl AsyncFnOnce(&DatabaseExecutor<'_>) -> Result<T, DbErr>,
) -> Result<T, DbErr> {
    if !several_statements {
        return body(&DatabaseExecutor::Connection(db)).await;
    }
    let snapshot = begin_snapshot(db).await?;
    let value = body(&DatabaseExecutor::Transaction(&snapshot)).await?;
    snapshot.commit().await?;
    Ok(value)
}

/// The SQLite URL of a service's file under `data_dir` (embedded mode).
pub fn sqlite_url(data_dir: &std::path::Path, service: &str) -> String {
    format!("sqlite://{}/{service}.db?mode=rwc", data_dir.display())
}

/// Begins a transaction that will write. On SQLite it takes the write lock at once
/// (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes fails with
/// SQLITE_BUSY when another writer got in between, while an immediate one waits its turn.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
        ..TransactionOptions::default()
    })
    .await
}

/// SERVICE_UNAVAILABLE unless the database answers a trivial query: a service's health.
pub async fn ping(db: &DatabaseConnection) -> rpc::RpcResult<()> {
    use rpc::error::OrInternal;
    db.ping().await.or_internal("pinging the database")
}
