//! Identity and access: who is an admin, which request changed a password last, the sessions
//! tokens stand for, and the failed sign-in attempts counted against an account or an address.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Admin,
    PasswordRequestId,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    UserId,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum LoginFailures {
    Table,
    Key,
    Failures,
    WindowEnds,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(Table::alter().table(Users::Table).add_column(boolean(Users::Admin).default(false)).to_owned())
            .await?;
        manager
            .alter_table(Table::alter().table(Users::Table).add_column(uuid_null(Users::PasswordRequestId)).to_owned())
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Sessions::Table)
                    .if_not_exists()
                    .col(pk_uuid(Sessions::Id))
                    .col(uuid(Sessions::UserId))
                    .col(timestamp_with_time_zone(Sessions::CreatedAt))
                    .col(timestamp_with_time_zone(Sessions::ExpiresAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_sessions_user_id")
                    .table(Sessions::Table)
                    .col(Sessions::UserId)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        // `key`: `account:<user id>`, `login:<the login as typed, lower case>` or
        // `address:<client address>`; `window_ends` in Unix milliseconds.
        manager
            .create_table(
                Table::create()
                    .table(LoginFailures::Table)
                    .if_not_exists()
                    .col(string_len(LoginFailures::Key, 400).primary_key())
                    .col(integer(LoginFailures::Failures))
                    .col(big_integer(LoginFailures::WindowEnds))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(LoginFailures::Table).to_owned()).await?;
        manager.drop_table(Table::drop().table(Sessions::Table).to_owned()).await?;
        manager
            .alter_table(Table::alter().table(Users::Table).drop_column(Users::PasswordRequestId).to_owned())
            .await?;
        manager.alter_table(Table::alter().table(Users::Table).drop_column(Users::Admin).to_owned()).await
    }
}
