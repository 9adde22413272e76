//! `known_users`: the users the orders service heard were created (`user.created`), so a create
//! finds its user here instead of asking the users service. A user missing here (created
//! before this table, or whose event is still on its way) is asked for once, then kept.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum KnownUsers {
    Table,
    UserId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create().table(KnownUsers::Table).if_not_exists().col(pk_uuid(KnownUsers::UserId)).to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(KnownUsers::Table).if_exists().to_owned()).await
    }
}
