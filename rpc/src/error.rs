//! The error codes of the contract (`API.md`, "Errors") and the error every RPC can answer.

use serde::{Deserialize, Serialize};

/// One code per row of the contract's error table. The gateway maps it to
/// `extensions.code` in exactly one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    BadUserInput,
    NotFound,
    Conflict,
    Unauthenticated,
    /// Signed in, but not allowed (`users` for a non-admin).
    Forbidden,
    /// Too many failed sign-in or password attempts; [`RpcError::retry_after`] says for how long.
    TooManyRequests,
    ServiceUnavailable,
    InternalServerError,
}

impl ErrorCode {
    /// The text that goes into `extensions.code`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::NotFound => "NOT_FOUND",
            Self::Conflict => "CONFLICT",
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::TooManyRequests => "TOO_MANY_REQUESTS",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::InternalServerError => "INTERNAL_SERVER_ERROR",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error a service answers, or the client makes up when no answer came.
///
/// `message` is for the client: it never carries SQL, hostnames or stack traces.
/// `field` is the GraphQL name of the input field at fault (`cpf`, `itemPrice`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct RpcError {
    pub code: ErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For TOO_MANY_REQUESTS: the seconds until another attempt may be made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl RpcError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), field: None, retry_after: None }
    }

    /// A value of input field `field` breaks a rule.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self { field: Some(field.to_owned()), ..Self::new(ErrorCode::BadUserInput, message) }
    }

    /// A unique value of input field `field` is taken.
    pub fn conflict(field: &str, message: impl Into<String>) -> Self {
        Self { field: Some(field.to_owned()), ..Self::new(ErrorCode::Conflict, message) }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// Too many failed attempts; the next may come in `retry_after` seconds.
    pub fn too_many_requests(retry_after: u64) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(ErrorCode::TooManyRequests, format!("too many failed attempts; try again in {retry_after} s"))
        }
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ServiceUnavailable, message)
    }

    /// Something went wrong that the client cannot act on. Log the detail before calling this.
    pub fn internal() -> Self {
        Self::new(ErrorCode::InternalServerError, "internal error")
    }
}

/// What every RPC answers.
pub type RpcResult<T> = Result<T, RpcError>;

/// How a service turns an error the client cannot act on (a database's, a hasher's) into its
/// answer: logged with what the service was doing, answered as INTERNAL_SERVER_ERROR, which
/// reveals nothing (no SQL, no hostnames). A database that is out of reach, restarting or
/// cancelled the statement (a deadline) is SERVICE_UNAVAILABLE instead: worth a retry (with
/// the `sea-orm` feature, which knows its errors). Not for an [`RpcError`] from another
/// service: pass that on with `?`.
pub trait OrInternal<T> {
    fn or_internal(self, doing: &'static str) -> RpcResult<T>;
}

impl<T, E: Into<anyhow::Error>> OrInternal<T> for Result<T, E> {
    fn or_internal(self, doing: &'static str) -> RpcResult<T> {
        self.map_err(|error| {
            let error = error.into();
            if is_transient(&error) {
                tracing::warn!(
                    %error,
                    doing,
                    "a failure that passes (the database out of reach or restarting, or a statement or \
                     transaction cut at its deadline); answering SERVICE_UNAVAILABLE"
                );
                return RpcError::unavailable("the service cannot reach its database right now; try again");
            }
            tracing::error!(%error, doing, "internal error");
            RpcError::internal()
        })
    }
}

/// Whether `error` is one that passes by itself: the database is down or restarting, its
/// connections are all taken, or it cancelled a statement that ran past its deadline.
fn is_transient(error: &anyhow::Error) -> bool {
    #[cfg(feature = "sea-orm")]
    if let Some(error) = error.downcast_ref::<sea_orm::DbErr>() {
        return database::is_transient(error);
    }
    let _ = error;
    false
}

#[cfg(feature = "sea-orm")]
mod database {
    use sea_orm::{DbErr, RuntimeErr, sqlx};

    pub(super) fn is_transient(error: &DbErr) -> bool {
        match error {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
            DbErr::Exec(RuntimeErr::SqlxError(error)) | DbErr::Query(RuntimeErr::SqlxError(error)) => {
                sqlx_is_transient(error)
            }
            _ => false,
        }
    }

    fn sqlx_is_transient(error: &sqlx::Error) -> bool {
        match error {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::Protocol(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => true,
            sqlx::Error::Database(error) => error.code().is_some_and(|code| is_transient_code(&code)),
            _ => false,
        }
    }

    /// PostgreSQL's SQLSTATEs of errors that pass: class 08 (connection), 53 (resources),
    /// 57 (operator intervention: shutting down, starting up, a statement cancelled by its
    /// timeout), a session ended for idling in its transaction past its deadline (25P03, and
    /// PostgreSQL 17's transaction timeout, 25P04), serialization failures and deadlocks;
    /// SQLite's BUSY and LOCKED.
    pub(super) fn is_transient_code(code: &str) -> bool {
        code.starts_with("08")
            || code.starts_with("53")
            || code.starts_with("57")
            || matches!(code, "25P03" | "25P04" | "40001" | "40P01" | "55P03" | "5" | "6" | "517" | "262")
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn restarts_and_cancelled_statements_pass_and_broken_rules_do_not() {
            for code in ["08006", "57P01", "57P03", "57014", "25P03", "53300", "40001", "5"] {
                assert!(super::is_transient_code(code), "{code}");
            }
            for code in ["23505", "42601", "22P02", "19"] {
                assert!(!super::is_transient_code(code), "{code}");
            }
        }
    }
}
