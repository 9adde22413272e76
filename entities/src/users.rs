//! The `users` table of the users service.
//!
//! Values arrive here already validated and normalised by the worker: `cpf` is 11 digits,
//! `email` lower case, `phone_number` without separators. `nick_name` keeps the case the user
//! chose; `nick_name_key` is its lower-case form and carries the unique index, so uniqueness
//! ignores case the same way on PostgreSQL and SQLite (no `citext`, no collation tricks).

use sea_orm::entity::prelude::*;

#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    /// A UUIDv7 chosen by the caller, so a redelivered create finds its own row.
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// As the user typed it.
    pub nick_name: String,
    /// [`nick_name_key`] of `nick_name`: what uniqueness and look-ups compare.
    #[sea_orm(unique)]
    pub nick_name_key: String,
    pub full_name: String,
    /// An argon2id PHC string (`$argon2id$v=19$...`). Never leaves the service.
    pub password_hash: String,
    /// 11 digits, no punctuation.
    #[sea_orm(unique)]
    pub cpf: String,
    /// Lower case.
    #[sea_orm(unique)]
    pub email: String,
    /// Separators removed, leading `+` kept.
    pub phone_number: String,
    /// UTC, whole microseconds (see [`crate::now`]).
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// Made so, and back, only by an operator's command (`users-worker grant-admin`).
    pub admin: bool,
    /// The request that set `password_hash` last: a redelivery of it is recognised by this,
    /// never by trying the password it carries.
    pub password_request_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

/// A row without its password hash: what the reads that answer clients select
/// (`into_partial_model::<Profile>()`), so the hash is read only where a password is checked.
#[derive(Clone, Debug, PartialEq, Eq, DerivePartialModel)]
#[sea_orm(entity = "Entity")]
pub struct Profile {
    pub id: Uuid,
    pub nick_name: String,
    pub full_name: String,
    pub cpf: String,
    pub email: String,
    pub phone_number: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

impl From<Model> for Profile {
    fn from(row: Model) -> Self {
        Self {
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
}

impl ActiveModelBehavior for ActiveModel {}

// Written by hand so that `{:?}` of a row never puts the password hash in a log.
impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("id", &self.id)
            .field("nick_name", &self.nick_name)
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish_non_exhaustive()
    }
}

/// The value of `nick_name_key` for a nickname: its lower-case form.
pub fn nick_name_key(nick_name: &str) -> String {
    nick_name.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nick_name_keys_ignore_case() {
        assert_eq!(nick_name_key("Ana.Maria_99"), "ana.maria_99");
        assert_eq!(nick_name_key("ANA"), nick_name_key("ana"));
    }
}
