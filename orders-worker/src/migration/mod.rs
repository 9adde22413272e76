//! The orders service's schema. Applied at start-up (and by `orders-worker migrate`) through
//! `entities::db::migrate`, which holds a PostgreSQL advisory lock on [`LOCK_KEY`].

use sea_orm_migration::prelude::*;

mod m20261121_000001_create_orders;
mod m20261201_000002_known_users;

/// The advisory lock key migrations hold on PostgreSQL: "orders" in ASCII, distinct from the
/// users service's key so the two can migrate one shared server at once.
pub const LOCK_KEY: i64 = 0x6f72_6465_7273;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_create_orders::Migration),
            Box::new(entities::migration::OutboxAndInbox),
            Box::new(m20261201_000002_known_users::Migration),
        ]
    }
}
