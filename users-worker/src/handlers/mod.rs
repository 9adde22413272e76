//! One file per method of `rpc::users`, each a plain `async fn(request, Context)` that the
//! [`crate::router`] routes and tests call directly.
//!
//! Each decides what its caller (`ctx.caller`) may do (`API.md`, "Identity and access"): a
//! user reads and changes only themself, an admin anyone, a signed-out caller nothing but
//! `create` and `login`. Someone else's user reads as absent and writing it is NOT_FOUND, so
//! ids cannot be probed.
//!
//! What they share lives here: turning rows into wire types, telling which unique index a
//! write ran into, and the answers for a missing user and a taken value. Errors the client
//! cannot act on go through [`rpc::error::OrInternal`]; the bounds of pages and look-ups are
//! [`rpc::bounds`]; rows are stamped by [`entities::now`].

mod by_nick_name;
mod change_password;
mod create;
mod delete;
mod get;
mod list;
mod login;
mod session;
mod update;

pub use by_nick_name::by_nick_name;
pub use change_password::change_password;
pub use create::create;
pub use delete::delete;
pub use get::get;
pub use list::list;
pub use login::login;
pub use session::{end_session, session};
pub use update::update;

use entities::users;
use rpc::{RpcError, error::OrInternal, users::User};
use sea_orm::{DatabaseConnection, DbErr, EntityTrait, SqlErr};
use uuid::Uuid;

use crate::validation::field;

/// The wire form of a row: everything but the password hash.
fn to_user(row: impl Into<users::Profile>) -> User {
    let row = row.into();
    User {
        id: row.id,
        nick_name: row.nick_name,
        full_name: row.full_name,
        cpf: row.cpf,
        email: row.email,
        phone_number: row.phone_number,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

fn not_found(id: Uuid) -> RpcError {
    RpcError::not_found(format!("no user has the id {id}"))
}

/// The row with `id`, if any.
async fn find(db: &DatabaseConnection, id: Uuid) -> Result<Option<users::Model>, RpcError> {
    users::Entity::find_by_id(id).one(db).await.or_internal("reading a user")
}

/// Which unique index a failed write ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UniqueViolation {
    /// The id: the same create ran twice.
    PrimaryKey,
    /// A value another user holds; the GraphQL name of its field.
    Field(&'static str),
}

/// Reads the violated index from the database's own error, so the answer is right even when
/// two requests race (a check-then-insert could not be). PostgreSQL names the index
/// (`duplicate key value violates unique constraint "idx_users_cpf"`, `"users_pkey"`); SQLite
/// the column (`UNIQUE constraint failed: users.cpf`, `users.id`). The migration names the
/// indexes after their columns, so one match covers both.
fn unique_violation(error: &DbErr) -> Option<UniqueViolation> {
    let Some(SqlErr::UniqueConstraintViolation(message)) = error.sql_err() else { return None };
    conflict_field(&message)
}

fn conflict_field(message: &str) -> Option<UniqueViolation> {
    if message.contains("nick_name") {
        Some(UniqueViolation::Field(field::NICK_NAME))
    } else if message.contains("cpf") {
        Some(UniqueViolation::Field(field::CPF))
    } else if message.contains("email") {
        Some(UniqueViolation::Field(field::EMAIL))
    } else if message.contains("users_pkey") || message.contains("users.id") {
        Some(UniqueViolation::PrimaryKey)
    } else {
        None
    }
}

/// CONFLICT on `field`, worded for the client.
fn conflict(field: &'static str) -> RpcError {
    RpcError::conflict(field, format!("this {field} is already taken"))
}

#[cfg(test)]
mod tests {
    use super::{UniqueViolation, conflict_field};

    #[test]
    fn postgresql_unique_violations_are_mapped_by_index_name() {
        let message = |index: &str| format!("duplicate key value violates unique constraint \"{index}\"");
        assert_eq!(conflict_field(&message("idx_users_nick_name_key")), Some(UniqueViolation::Field("nickName")));
        assert_eq!(conflict_field(&message("idx_users_cpf")), Some(UniqueViolation::Field("cpf")));
        assert_eq!(conflict_field(&message("idx_users_email")), Some(UniqueViolation::Field("email")));
        assert_eq!(conflict_field(&message("users_pkey")), Some(UniqueViolation::PrimaryKey));
    }

    #[test]
    fn sqlite_unique_violations_are_mapped_by_column_name() {
        let message = |column: &str| format!("UNIQUE constraint failed: users.{column}");
        assert_eq!(conflict_field(&message("nick_name_key")), Some(UniqueViolation::Field("nickName")));
        assert_eq!(conflict_field(&message("cpf")), Some(UniqueViolation::Field("cpf")));
        assert_eq!(conflict_field(&message("email")), Some(UniqueViolation::Field("email")));
        assert_eq!(conflict_field(&message("id")), Some(UniqueViolation::PrimaryKey));
    }

    #[test]
    fn unknown_unique_violations_are_not_guessed() {
        assert_eq!(conflict_field("UNIQUE constraint failed: other.thing"), None);
    }
}
