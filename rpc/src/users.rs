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

/// Replaces the password when `current_password` matches (UNAUTHENTICATED otherwise).
#[derive(Serialize, Deserialize)]
pub struct ChangePassword {
    pub id: Uuid,
    pub current_password: String,
    pub new_password: String,
}
method!(ChangePassword, Users, "users.change_password", bool);

/// Deletes a user; the service then publishes `user.deleted`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeleteUser {
    pub id: Uuid,
}
method!(DeleteUser, Users, "users.delete", bool);

// Passwords must not reach a log through `{:?}`.
impl std::fmt::Debug for CreateUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUser").field("id", &self.id).field("nick_name", &self.nick_name).finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ChangePassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangePassword").field("id", &self.id).finish_non_exhaustive()
    }
}

/// The contract's nickName rule (API.md, "Rules"): 3 to 32 letters, digits, `_`, `.` or `-`.
/// The users service refuses any other value; the gateway answers a look-up of one at once.
pub fn is_nick_name(value: &str) -> bool {
    (3..=32).contains(&value.len()) && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}
