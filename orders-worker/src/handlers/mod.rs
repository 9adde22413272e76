//! One file per method of `rpc::orders`; each handler is a plain async function of
//! `(request, Context)`, so tests call it without a broker.
//!
//! Each decides what its caller (`ctx.caller`) may do (`API.md`, "Identity and access"): a
//! user sees and changes only their own orders, an admin every order, a signed-out caller
//! none. Someone else's order reads as absent and writing it is NOT_FOUND; an order for
//! someone else's user is refused as one for no user. The owner is read from the order's own
//! row, so the gateway never has to read an order to decide.
//!
//! What they share lives here: converting rows to wire types, the answer for a missing order,
//! and how writes lock a user's orders. Writes go through [`entities::write::Write`] (the
//! change, its events and its answer in one transaction, committed only before the deadline),
//! after [`entities::inbox::replay`] answered a redelivery as the first time. Errors the client cannot
//! act on go through [`rpc::error::OrInternal`]; the bounds of pages and look-ups are
//! [`rpc::bounds`]; rows are stamped by [`entities::now`].

mod create;
mod delete;
mod get;
mod list;
mod of_users;
mod update;

pub use create::create_order;
pub use delete::delete_order;
pub use get::get_orders;
pub use list::list_orders;
pub use of_users::orders_of_users;
pub use update::update_order;

use entities::orders::order;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, DbErr};
use uuid::Uuid;

use rpc::{RpcError, money::format_cents};

/// NOT_FOUND: no order has the id asked for.
pub(crate) fn not_found() -> RpcError {
    RpcError::not_found("no order with this id")
}

/// An empty page: what a user gets for someone else's orders.
pub(crate) fn empty_page(extras: rpc::PageExtras) -> rpc::Page<rpc::orders::Order> {
    rpc::Page { items: Vec::new(), has_previous: false, has_next: false, total_count: extras.total_count.then_some(0) }
}

/// A row as the service shows it: cents become two-place decimal strings.
pub(crate) fn to_wire(row: order::Model) -> rpc::orders::Order {
    rpc::orders::Order {
        id: row.id,
        user_id: row.user_id,
        item_description: row.item_description,
        item_quantity: row.item_quantity,
        item_price: format_cents(row.item_price_cents),
        total_value: format_cents(row.total_value_cents),
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// The advisory-lock class of "orders of one user" (`pg_advisory_xact_lock(class, key)`):
/// "ords" in ASCII. The two-int key space does not overlap the migrations' bigint one.
const USER_LOCK_CLASS: i32 = 0x6f72_6473;

/// How a transaction holds a user's lock ([`lock_user`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UserLock {
    /// A create: other creates of the user go on beside it.
    Shared,
    /// The `user.deleted` cascade: alone.
    Exclusive,
}

/// Serialises, per user, creates (which check the user's tombstone, then insert) with the
/// `user.deleted` cascade (which writes the tombstone, then deletes the user's orders).
/// Without it, on PostgreSQL a create could check before the cascade commits and insert after
/// the cascade deleted, leaving an order of a deleted user. Creates hold it shared, so one
/// user's creates never wait for each other; the cascade holds it exclusive. SQLite needs
/// nothing more: an immediate transaction already holds the only write lock.
pub(crate) async fn lock_user(txn: &DatabaseTransaction, user_id: Uuid, how: UserLock) -> Result<(), DbErr> {
    if txn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    txn.execute_unprepared(&lock_statement(user_id, how)).await.map(drop)
}

/// The statement [`lock_user`] runs on PostgreSQL: no parameters (two integers we make), so it
/// can ride with others in one round trip (`Write::begin_locking`).
pub(crate) fn lock_statement(user_id: Uuid, how: UserLock) -> String {
    // The low bytes of a UUIDv7 are random; two users sharing a key only wait for each other.
    let bytes = user_id.as_bytes();
    let key = i32::from_be_bytes([bytes[12], bytes[13], bytes[14], bytes[15]]);
    let function = match how {
        UserLock::Shared => "pg_advisory_xact_lock_shared",
        UserLock::Exclusive => "pg_advisory_xact_lock",
    };
    format!("SELECT {function}({USER_LOCK_CLASS}, {key})")
}
