//! The users service's methods (queue `users.rpc`).
//!
//! Requests carry raw client input: the service validates and normalises it, so the rules of
//! the contract live in one place. No response carries a password or its hash.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Page, PageExtras, method};

/// A user as the service shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: Uuid,
    pub nick_name: String,
    pub full_name: String,
    /// 11 digits, no punctuation.
    pub cpf: String,
    /// Lower case.
    pub email: String,
    /// Separators removed, leading `+` kept.
    pub phone_number: String,
    #[serde(with = "crate::time::serde_rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::time::serde_rfc3339")]
    pub updated_at: DateTime<Utc>,
}

/// Creates a user. The caller picks `id` (a UUIDv7), so a redelivered request finds its own
/// row instead of creating a second one.
#[derive(Serialize, Deserialize)]
pub struct CreateUser {
    pub id: Uuid,
    pub nick_name: String,
    pub full_name: String,
    pub password: String,
    pub cpf: String,
    pub email: String,
    pub phone_number: String,
}
method!(CreateUser, Users, "users.create", User);

/// Looks users up by id; absent ids are simply missing from the answer (any order).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetUsers {
    pub ids: Vec<Uuid>,
}
method!(GetUsers, Users, "users.get", Vec<User>);

/// Looks a user up by nickName, ignoring case.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetUserByNickName {
    pub nick_name: String,
}
method!(GetUserByNickName, Users, "users.by_nick_name", Option<User>);

/// One page of users, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListUsers {
    /// 0..=100, checked by the caller.
    pub first: u32,
    /// Keyset cursor: the page starts after this id.
    pub after: Option<Uuid>,
    #[serde(default)]
    pub extras: PageExtras,
}
method!(ListUsers, Users, "users.list", Page<User>);

/// Changes the given fields; absent ones stay.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UpdateUser {
    pub id: Uuid,
    pub nick_name: Option<String>,
    pub full_name: Option<String>,
    pub cpf: Option<String>,
    pub email: Option<String>,
    pub phone_number: Option<String>,
}
method!(UpdateUser, Users, "users.update", User);

/// Replaces the password when `current_password` matches (UNAUTHENTICATED otherwise), and
/// ends every session of the user. `request_id` tells a redelivery of a change that was made
/// from a new request; `client` is the caller's address, for the limits on failed attempts.
#[derive(Serialize, Deserialize)]
pub struct ChangePassword {
    pub id: Uuid,
    pub current_password: String,
    pub new_password: String,
    pub request_id: Uuid,
    pub client: String,
}
method!(ChangePassword, Users, "users.change_password", bool);

/// Deletes a user; the service then publishes `user.deleted`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeleteUser {
    pub id: Uuid,
}
method!(DeleteUser, Users, "users.delete", bool);

/// Signs in: checks `password` against the user whose nickName (ignoring case) or email is
/// `login`, and opens a session of `ttl_seconds`. An unknown login and a wrong password answer
/// alike, UNAUTHENTICATED, in the same time; past the limits on failed attempts (per account
/// and per `client` address), TOO_MANY_REQUESTS.
#[derive(Serialize, Deserialize)]
pub struct Login {
    pub login: String,
    pub password: String,
    pub ttl_seconds: u64,
    pub client: String,
}
method!(Login, Users, "users.login", SignedIn);

/// A signed-in user's session: what a token stands for. It ends at `expires_at`, at logout,
/// and when the user changes their password or is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: Uuid,
    pub user_id: Uuid,
    /// Whether the user is an admin now (an operator's command makes one).
    pub admin: bool,
    #[serde(with = "crate::time::serde_rfc3339")]
    pub expires_at: DateTime<Utc>,
}

/// What a successful [`Login`] answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedIn {
    pub session: Session,
    pub user: User,
}

/// The session with this id while it lasts, `None` once it ended. Only for the deployment's
/// own processes ([`crate::Caller::Service`]): the gateway asks it once per session it sees.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct GetSession {
    pub id: Uuid,
}
method!(GetSession, Users, "users.session", Option<Session>);

/// Ends one session (`logout`): its user's or an admin's to end. Then publishes
/// `session.ended`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct EndSession {
    pub id: Uuid,
}
method!(EndSession, Users, "users.end_session", bool);

// Passwords must not reach a log through `{:?}`.
impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login").field("ttl_seconds", &self.ttl_seconds).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for CreateUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUser").field("id", &self.id).field("nick_name", &self.nick_name).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ChangePassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangePassword")
            .field("id", &self.id)
            .field("request_id", &self.request_id)
            .finish_non_exhaustive()
    }
}

/// The contract's nickName rule (API.md, "Rules"): 3 to 32 letters, digits, `_`, `.` or `-`.
/// The users service refuses any other value; the gateway answers a look-up of one at once.
pub fn is_nick_name(value: &str) -> bool {
    (3..=32).contains(&value.len()) && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}
