//! `orders` and `deleted_users`. Types chosen to mean the same on PostgreSQL and SQLite: money
//! in BIGINT cents, never a float or a backend-specific decimal.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
    UserId,
    ItemDescription,
    ItemQuantity,
    ItemPriceCents,
    TotalValueCents,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum DeletedUsers {
    Table,
    UserId,
    DeletedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Orders::Table)
                    .if_not_exists()
                    .col(pk_uuid(Orders::Id))
                    // No foreign key: users live in the users service's database.
                    .col(uuid(Orders::UserId))
                    .col(text(Orders::ItemDescription))
                    // The rules live in the service; these checks only stop a bug from storing
                    // an order that no rule allows.
                    .col(integer(Orders::ItemQuantity).check(Expr::col(Orders::ItemQuantity).gt(0)))
                    .col(big_integer(Orders::ItemPriceCents).check(Expr::col(Orders::ItemPriceCents).gte(0)))
                    .col(big_integer(Orders::TotalValueCents).check(Expr::col(Orders::TotalValueCents).gte(0)))
                    .col(timestamp_with_time_zone(Orders::CreatedAt))
                    .col(timestamp_with_time_zone(Orders::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        // Lists of one user's orders and the DataLoader's batches read by (user_id, id).
        manager
            .create_index(
                Index::create()
                    .name("idx_orders_user_id_id")
                    .table(Orders::Table)
                    .col(Orders::UserId)
                    .col(Orders::Id)
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(DeletedUsers::Table)
                    .if_not_exists()
                    .col(pk_uuid(DeletedUsers::UserId))
                    .col(timestamp_with_time_zone(DeletedUsers::DeletedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.drop_table(Table::drop().table(DeletedUsers::Table).if_exists().to_owned()).await?;
        manager.drop_table(Table::drop().table(Orders::Table).if_exists().to_owned()).await
    }
}
