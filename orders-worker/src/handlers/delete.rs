//! `orders.delete`.

use entities::orders::order;
use rpc::{Caller, Envelope, RpcResult, error::OrInternal, events::ORDER_DELETED, orders::DeleteOrder};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::not_found;
use crate::Context;

pub async fn delete_order(req: DeleteOrder, ctx: Context) -> RpcResult<bool> {
    let caller = ctx.caller.signed_in()?;
    // One statement, so no transaction; RETURNING tells us whose order it was for the event.
    // A user's delete matches only their own order: someone else's is not there for them.
    let mut delete = order::Entity::delete_many().filter(order::Column::Id.eq(req.id));
    if let Caller::User(me) = caller {
        delete = delete.filter(order::Column::UserId.eq(me));
    }
    let deleted = delete
        .exec_with_returning(&ctx.db)
        .await
        .or_internal("deleting an order")?
        .into_iter()
        .next()
        .ok_or_else(not_found)?;
    ctx.events.publish(Envelope::new(ORDER_DELETED, deleted.id, Some(deleted.user_id))).await;
    Ok(true)
}
