//! The outbox and the inbox (`entities::outbox`, `entities::inbox`): events written in the
//! transaction of their change, and each write's answer under its request id.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        entities::migration::create_outbox_and_inbox(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        entities::migration::drop_outbox_and_inbox(manager).await
    }
}
