//! The `user.deleted` consumer: a deleted user's orders go too (`API.md`, "Rules"); and the
//! `user.created` one, which makes the user known ([`on_user_created`]).
//!
//! A tombstone remembers the user, so a create that asked the users service just before the
//! deletion cannot add an order afterwards (see `handlers::lock_user`). Running it twice is
//! harmless: the tombstone is already there and there is nothing left to delete.

use anyhow::Context as _;
use entities::orders::{deleted_user, known_user, order};
use rpc::{Envelope, events::ORDER_DELETED};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::{
    Context,
    handlers::{UserLock, lock_user},
};

/// Records `user_id` as deleted, deletes its orders and writes an `order.deleted` for each
/// into the outbox, in one transaction. An error leaves the event to be delivered again.
pub async fn on_user_deleted(ctx: &Context, user_id: Uuid) -> anyhow::Result<()> {
    let txn = entities::db::begin_write(&ctx.db).await.context("cannot begin the cascade of a deleted user")?;
    lock_user(&txn, user_id, UserLock::Exclusive).await.context("cannot lock a deleted user's orders")?;
    let tombstone = deleted_user::ActiveModel { user_id: Set(user_id), deleted_at: Set(entities::now()) };
    deleted_user::Entity::insert(tombstone)
        .on_conflict_do_nothing()
        .exec_without_returning(&txn)
        .await
        .context("cannot record a deleted user")?;
    known_user::Entity::delete_by_id(user_id).exec(&txn).await.context("cannot forget a deleted user")?;
    let deleted = order::Entity::delete_many()
        .filter(order::Column::UserId.eq(user_id))
        .exec_with_returning(&txn)
        .await
        .context("cannot delete a deleted user's orders")?;
    let announced: Vec<Envelope> =
        deleted.iter().map(|row| Envelope::new(ORDER_DELETED, row.id, Some(row.user_id))).collect();
    entities::outbox::add(&txn, &announced).await.context("cannot write the cascade's events")?;
    txn.commit().await.context("cannot commit the cascade of a deleted user")?;
    ctx.outbox.wake();
    tracing::info!(%user_id, orders = deleted.len(), "deleted the orders of a deleted user");
    Ok(())
}

/// The `user.created` consumer: the user is known from now on, so a create of their orders
/// asks the users service nothing. Running it twice, or after the user's deletion, is
/// harmless: a create checks the tombstone too.
pub async fn on_user_created(ctx: &Context, user_id: Uuid) -> anyhow::Result<()> {
    known_user::Entity::insert(known_user::ActiveModel { user_id: Set(user_id) })
        .on_conflict_do_nothing()
        .exec_without_returning(&ctx.db)
        .await
        .context("cannot record a created user")?;
    Ok(())
}
