//! The `users` table (see `entities::users`) and its unique indexes.
//!
//! The indexes are named after their columns on purpose: PostgreSQL reports a unique
//! violation by index name and SQLite by column name, and the handlers map both to the field
//! at fault (`crate::handlers::conflict_field`).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    NickName,
    NickNameKey,
    FullName,
    PasswordHash,
    Cpf,
    Email,
    PhoneNumber,
    CreatedAt,
    UpdatedAt,
}

/// The unique indexes: (name, column).
const UNIQUE_INDEXES: [(&str, Users); 3] =
    [("idx_users_nick_name_key", Users::NickNameKey), ("idx_users_cpf", Users::Cpf), ("idx_users_email", Users::Email)];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .if_not_exists()
                    .col(pk_uuid(Users::Id))
                    // Lengths are the validation limits (in characters), so the database
                    // refuses what the rules would.
                    .col(string_len(Users::NickName, 32))
                    .col(string_len(Users::NickNameKey, 32))
                    .col(string_len(Users::FullName, 120))
                    .col(text(Users::PasswordHash))
                    .col(string_len(Users::Cpf, 11))
                    .col(string_len(Users::Email, 254))
                    .col(string_len(Users::PhoneNumber, 16))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        for (name, column) in UNIQUE_INDEXES {
            manager
                .create_index(
                    Index::create().name(name).table(Users::Table).col(column).unique().if_not_exists().to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(Users::Table).to_owned()).await
    }
}
