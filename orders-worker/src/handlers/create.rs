//! `orders.create`: parses, checks the user exists, inserts; safe to deliver twice.

use entities::{
    inbox,
    orders::{deleted_user, order},
    write::Write,
};
use rpc::{
    Envelope, RpcError, RpcResult,
    error::OrInternal,
    events::ORDER_CREATED,
    orders::{CreateOrder, Order},
    users::GetUsers,
};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait, TryInsertResult};
use uuid::Uuid;

use super::{UserLock, lock_user, to_wire};
use crate::{
    Context,
    validation::{ItemDescription, PriceCents, Quantity, total_cents},
};

pub async fn create_order(req: CreateOrder, ctx: Context) -> RpcResult<Order> {
    let caller = ctx.caller.signed_in()?;
    let item_description = ItemDescription::parse(&req.item_description)?;
    let item_quantity = Quantity::parse(req.item_quantity)?;
    let item_price = PriceCents::parse(&req.item_price)?;
    let total_value_cents = total_cents(item_quantity.get(), item_price.get())?;

    // A redelivered request, or a client's retry, answers what its first run answered.
    if let Some(answer) = inbox::replay::<CreateOrder>(&ctx.db, &ctx.request).await? {
        return Ok(answer);
    }
    // Someone else's user is refused as no user is: ids cannot be probed.
    if !caller.may_touch(req.user_id)? {
        return Err(no_such_user());
    }
    // Cheap refusals first; the tombstone is checked again under the lock below.
    if is_tombstoned(&ctx.db, req.user_id).await? {
        return Err(no_such_user());
    }
    // Errors of the users service (SERVICE_UNAVAILABLE above all) reach the caller unchanged:
    // without an answer we cannot know the user exists, so nothing is written.
    let users = ctx.users.call(&GetUsers { ids: vec![req.user_id] }).await?;
    if !users.iter().any(|user| user.id == req.user_id) {
        return Err(no_such_user());
    }

    let created_at = entities::now();
    let row = order::Model {
        id: req.id,
        user_id: req.user_id,
        item_description: item_description.into(),
        item_quantity: item_quantity.get(),
        item_price_cents: item_price.get(),
        total_value_cents,
        created_at,
        updated_at: created_at,
    };
    let mut write = Write::begin::<CreateOrder>(&ctx.db, &ctx.outbox, &ctx.request).await?;
    lock_user(&write, req.user_id, UserLock::Shared).await.or_internal("locking a user's orders")?;
    // The user may have been deleted while we asked the users service.
    if is_tombstoned(&*write, req.user_id).await? {
        return Err(no_such_user());
    }
    let active = order::ActiveModel {
        id: Set(row.id),
        user_id: Set(row.user_id),
        item_description: Set(row.item_description.clone()),
        item_quantity: Set(row.item_quantity),
        item_price_cents: Set(row.item_price_cents),
        total_value_cents: Set(row.total_value_cents),
        created_at: Set(row.created_at),
        updated_at: Set(row.updated_at),
    };
    let inserted = order::Entity::insert(active)
        .on_conflict_do_nothing()
        .exec_without_returning(&*write)
        .await
        .or_internal("inserting an order")?;
    if matches!(inserted, TryInsertResult::Inserted(1)) {
        write.announce(Envelope::new(ORDER_CREATED, row.id, Some(row.user_id)));
        return write.commit(to_wire(row)).await;
    }
    // A twin delivery of the same request (sent with no request id) inserted first: answer
    // its row, which it announces itself.
    drop(write);
    let existing = order::Entity::find_by_id(req.id).one(&ctx.db).await.or_internal("finding an order")?;
    existing.map(to_wire).ok_or_else(|| {
        tracing::error!(order_id = %req.id, "an order insert conflicted but no row has its id");
        RpcError::internal()
    })
}

fn no_such_user() -> RpcError {
    RpcError::invalid("userId", "no user with this id")
}

async fn is_tombstoned(db: &impl ConnectionTrait, user_id: Uuid) -> RpcResult<bool> {
    let tombstone = deleted_user::Entity::find_by_id(user_id).one(db).await.or_internal("finding a user tombstone")?;
    Ok(tombstone.is_some())
}
