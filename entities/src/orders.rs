//! The orders service's tables. Money is whole cents in BIGINT columns, exact on PostgreSQL and
//! SQLite alike; text ↔ cents happens in `rpc::money`, at the worker's edge.

/// An order. `user_id` has no foreign key: users live in another service's database.
pub mod order {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orders")]
    pub struct Model {
        /// Chosen by the caller (a UUIDv7), so a redelivered create finds its own row.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        #[sea_orm(indexed)]
        pub user_id: Uuid,
        /// Stored trimmed.
        #[sea_orm(column_type = "Text")]
        pub item_description: String,
        pub item_quantity: i32,
        pub item_price_cents: i64,
        /// `item_quantity × item_price_cents`, computed by the service.
        pub total_value_cents: i64,
        /// UTC, whole microseconds (see [`crate::now`]).
        pub created_at: DateTimeUtc,
        pub updated_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Tombstones of users the orders service heard were deleted: an order for one of them is
/// refused even if the users service has not caught up (or a `user.deleted` raced a create).
pub mod deleted_user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "deleted_users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
        pub deleted_at: DateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Users the orders service knows exist: heard of in a `user.created`, or confirmed by the
/// users service once. A create of an order for one of them asks nobody.
pub mod known_user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "known_users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub user_id: Uuid,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
