//! The `user.deleted` consumer: a deleted user's orders go too (`API.md`, "Rules").
//!
//! A tombstone remembers the user, so a create that asked the users service just before the
//! deletion cannot add an order afterwards (see `handlers::lock_user`). Running it twice is
//! harmless: the tombstone is already there and there is nothing left to delete.

use anyhow::Context as _;
use entities::orders::{deleted_user, order};
use rpc::{Envelope, events::ORDER_DELETED};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::{
    Context,
    handlers::{begin_write, lock_user},
};

/// Records `user_id` as deleted and deletes its orders in one transaction, then announces
/// each deleted order. An error leaves the event to be delivered again.
pub async fn on_user_deleted(ctx: &Context, user_id: Uuid) -> anyhow::Result<()> {
    let txn = begin_write(&ctx.db).await.context("cannot begin the cascade of a deleted user")?;
    lock_user(&txn, user_id).await.context("cannot lock a deleted user's orders")?;
    let tombstone = deleted_user::ActiveModel { user_id: Set(user_id), deleted_at: Set(entities::now()) };
    deleted_user::Entity::insert(tombstone)
        .on_conflict_do_nothing()
        .exec_without_returning(&txn)
        .await
        .context("cannot record a deleted user")?;
    let deleted = order::Entity::delete_many()
        .filter(order::Column::UserId.eq(user_id))
        .exec_with_returning(&txn)
        .await
        .context("cannot delete a deleted user's orders")?;
    txn.commit().await.context("cannot commit the cascade of a deleted user")?;

    tracing::info!(%user_id, orders = deleted.len(), "deleted the orders of a deleted user");
    // After the commit, like every event; if we die before this, the orders are gone anyway
    // and only these announcements are lost.
    for row in deleted {
        ctx.events.publish(Envelope::new(ORDER_DELETED, row.id, Some(row.user_id))).await;
    }
    Ok(())
}
