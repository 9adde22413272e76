//! `orders.delete`.

use entities::orders::order;
use rpc::{Envelope, RpcResult, error::OrInternal, events::ORDER_DELETED, orders::DeleteOrder};
use sea_orm::EntityTrait;

use super::not_found;
use crate::Context;

pub async fn delete_order(req: DeleteOrder, ctx: Context) -> RpcResult<bool> {
    // One statement, so no transaction; RETURNING tells us whose order it was for the event.
    let deleted = order::Entity::delete_by_id(req.id)
        .exec_with_returning(&ctx.db)
        .await
        .or_internal("deleting an order")?
        .ok_or_else(not_found)?;
    ctx.events.publish(Envelope::new(ORDER_DELETED, deleted.id, Some(deleted.user_id))).await;
    Ok(true)
}
