//! The users service's schema, as sea-orm-migration migrations that run on PostgreSQL and
//! SQLite alike. [`crate::open_database`] applies them at start-up (and the `migrate`
//! subcommand on demand) through [`entities::db::migrate`], under [`LOCK_KEY`].

use sea_orm_migration::prelude::*;

mod m20261121_000001_create_users;
mod m20261201_000001_identity;

/// The PostgreSQL advisory lock taken while migrating: replicas starting together wait for
/// each other. The bytes spell "users", so it cannot collide with the orders service's key
/// when both databases share a server.
pub const LOCK_KEY: i64 = 0x75_73_65_72_73;

pub struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_create_users::Migration),
            Box::new(m20261201_000001_identity::Migration),
            Box::new(entities::migration::OutboxAndInbox),
        ]
    }
}
