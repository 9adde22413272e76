//! The tables every service has beside its own: the outbox, the inbox and, on PostgreSQL,
//! the inbox's deadline fence. Each service's migrator lists [`OutboxAndInbox`] after its own.

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveIden)]
enum Outbox {
    Table,
    Seq,
    RoutingKey,
    Body,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Inbox {
    Table,
    RequestId,
    Method,
    Input,
    Answer,
    Deadline,
    CreatedAt,
}

/// The PostgreSQL fence: a deferred constraint trigger, so it runs at COMMIT, on the database's
/// clock. A write whose caller's deadline passed before it committed does not commit.
const FENCE: &str = r"
CREATE OR REPLACE FUNCTION inbox_deadline_fence() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.deadline IS NOT NULL AND clock_timestamp() > NEW.deadline THEN
    RAISE EXCEPTION 'the request''s deadline passed before it committed' USING ERRCODE = '57014';
  END IF;
  RETURN NULL;
END $$;
DROP TRIGGER IF EXISTS inbox_deadline_fence ON inbox;
CREATE CONSTRAINT TRIGGER inbox_deadline_fence AFTER INSERT ON inbox
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION inbox_deadline_fence();
";

pub async fn create_outbox_and_inbox(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager
        .create_table(
            Table::create()
                .table(Outbox::Table)
                .if_not_exists()
                .col(big_integer(Outbox::Seq).auto_increment().primary_key())
                .col(string(Outbox::RoutingKey))
                .col(text(Outbox::Body))
                .col(timestamp_with_time_zone(Outbox::CreatedAt))
                .to_owned(),
        )
        .await?;
    manager
        .create_table(
            Table::create()
                .table(Inbox::Table)
                .if_not_exists()
                .col(pk_uuid(Inbox::RequestId))
                .col(string(Inbox::Method))
                .col(text(Inbox::Input))
                .col(text(Inbox::Answer))
                .col(timestamp_with_time_zone_null(Inbox::Deadline))
                .col(timestamp_with_time_zone(Inbox::CreatedAt))
                .to_owned(),
        )
        .await?;
    manager
        .create_index(
            Index::create()
                .name("idx_inbox_created_at")
                .table(Inbox::Table)
                .col(Inbox::CreatedAt)
                .if_not_exists()
                .to_owned(),
        )
        .await?;
    if manager.get_database_backend() == DbBackend::Postgres {
        manager.get_connection().execute_unprepared(FENCE).await?;
    }
    Ok(())
}

pub async fn drop_outbox_and_inbox(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    manager.drop_table(Table::drop().table(Inbox::Table).to_owned()).await?;
    manager.drop_table(Table::drop().table(Outbox::Table).to_owned()).await
}

/// The migration that makes [`create_outbox_and_inbox`]'s tables, the same in every service.
pub struct OutboxAndInbox;

impl MigrationName for OutboxAndInbox {
    fn name(&self) -> &str {
        "m20261202_000001_outbox_inbox"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for OutboxAndInbox {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        create_outbox_and_inbox(manager).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        drop_outbox_and_inbox(manager).await
    }
}
