//! The limits on failed sign-in and password attempts (`API.md`, "Identity and access"):
//! per account and per client address, in the users database, so every gateway and every
//! users worker counts into the same place, and each attempt counts, whichever batch or alias
//! it came in.
//!
//! An attempt is counted *before* the password is checked (one atomic upsert per key), and
//! given back when it succeeds. So attempts made at the same moment cannot slip past the limit
//! between a check and a count, and a success costs nothing against the limit. Past the limit
//! the password is not checked at all: TOO_MANY_REQUESTS, with the seconds until the window
//! ends. A window opens at a key's first failure and lasts `LOGIN_FAILURE_WINDOW_SECONDS`.
//!
//! The account of a login nobody has is the login itself (`login:<text>`), limited like an
//! account: a login that exists and one that does not answer alike, also at the limit.

use std::time::Duration;

use rpc::{RpcError, RpcResult, error::OrInternal};
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement, Value};

/// How many failed attempts are allowed, and over how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct LoginLimits {
    /// Failed attempts allowed on one account (or one unknown login) per window.
    #[arg(long, env = "LOGIN_MAX_FAILURES_PER_ACCOUNT", default_value_t = 5)]
    pub per_account: u32,
    /// Failed attempts allowed from one client address, on any accounts, per window.
    #[arg(long, env = "LOGIN_MAX_FAILURES_PER_ADDRESS", default_value_t = 50)]
    pub per_address: u32,
    /// How long a window lasts from its first failure.
    #[arg(long = "login-failure-window-seconds", env = "LOGIN_FAILURE_WINDOW_SECONDS", default_value_t = 900)]
    pub window_seconds: u64,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self { per_account: 5, per_address: 50, window_seconds: 900 }
    }
}

/// An attempt counted against its keys; [`Attempt::succeeded`] gives it back.
#[must_use = "an attempt that succeeded must be given back"]
pub struct Attempt {
    keys: [String; 2],
}

/// The longest login kept in a key: no account's login is longer (an email is at most 254).
const MAX_LOGIN_IN_KEY: usize = 254;

/// The account key of a user.
pub fn account_key(user_id: uuid::Uuid) -> String {
    format!("account:{user_id}")
}

/// The account key of a login that is nobody's.
pub fn login_key(login: &str) -> String {
    let login: String = login.chars().take(MAX_LOGIN_IN_KEY).collect();
    format!("login:{login}")
}

/// Counts one attempt against `account` and the client's address; TOO_MANY_REQUESTS when
/// either is past its limit.
pub async fn attempt(
    db: &DatabaseConnection,
    limits: &LoginLimits,
    account: String,
    client: &str,
) -> RpcResult<Attempt> {
    let client: String = client.chars().take(MAX_LOGIN_IN_KEY).collect();
    let keys = [account, format!("address:{client}")];
    let window = Duration::from_secs(limits.window_seconds);
    let now = now_millis();
    let mut retry_after = None;
    for (key, limit) in keys.iter().zip([limits.per_account, limits.per_address]) {
        let (failures, window_ends) = count(db, key, now, window).await.or_internal("counting a sign-in attempt")?;
        if failures > i64::from(limit) {
            let seconds = u64::try_from((window_ends - now).max(0)).unwrap_or_default().div_ceil(1000).max(1);
            retry_after = Some(retry_after.unwrap_or(0).max(seconds));
        }
    }
    match retry_after {
        Some(seconds) => Err(RpcError::too_many_requests(seconds)),
        None => Ok(Attempt { keys }),
    }
}

impl Attempt {
    /// The attempt succeeded: it no longer counts.
    pub async fn succeeded(self, db: &DatabaseConnection) -> RpcResult<()> {
        for key in &self.keys {
            let sql = r#"UPDATE login_failures SET failures = failures - 1 WHERE "key" = $1 AND failures > 0"#;
            db.execute_raw(Statement::from_sql_and_values(db.get_database_backend(), sql, [key.clone().into()]))
                .await
                .or_internal("giving back a sign-in attempt")?;
        }
        Ok(())
    }
}

/// One more failure under `key`, in a new window when the last one ended: the count and when
/// its window ends (Unix milliseconds). One statement, atomic on PostgreSQL and SQLite alike.
async fn count(db: &DatabaseConnection, key: &str, now: i64, window: Duration) -> Result<(i64, i64), DbErr> {
    let sql = r#"
        INSERT INTO login_failures ("key", failures, window_ends) VALUES ($1, 1, $2 + $3)
        ON CONFLICT ("key") DO UPDATE SET
            failures = CASE WHEN login_failures.window_ends <= $2 THEN 1 ELSE login_failures.failures + 1 END,
            window_ends = CASE WHEN login_failures.window_ends <= $2 THEN $2 + $3 ELSE login_failures.window_ends END
        RETURNING failures, window_ends"#;
    let window = i64::try_from(window.as_millis()).unwrap_or(i64::MAX / 2);
    let values: [Value; 3] = [key.into(), now.into(), window.into()];
    let row = db
        .query_one_raw(Statement::from_sql_and_values(db.get_database_backend(), sql, values))
        .await?
        .ok_or_else(|| DbErr::Custom("the upsert returned no row".to_owned()))?;
    let failures: i64 = row.try_get_by_index::<i32>(0).map(i64::from).or_else(|_| row.try_get_by_index(0))?;
    Ok((failures, row.try_get_by_index(1)?))
}

/// Deletes the windows that ended and the sessions that expired.
pub async fn sweep(db: &DatabaseConnection) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let sql = "DELETE FROM login_failures WHERE window_ends <= $1";
    db.execute_raw(Statement::from_sql_and_values(backend, sql, [now_millis().into()])).await?;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    entities::sessions::Entity::delete_many()
        .filter(entities::sessions::Column::ExpiresAt.lte(entities::now()))
        .exec(db)
        .await?;
    Ok(())
}

fn now_millis() -> i64 {
    entities::now().timestamp_millis()
}
