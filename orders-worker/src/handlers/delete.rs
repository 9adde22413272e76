//! `orders.delete`: answers whose order it was.

use entities::{inbox, orders::order, write::Write};
use rpc::{
    Caller, Envelope, RpcResult,
    error::OrInternal,
    events::ORDER_DELETED,
    orders::{DeleteOrder, Deleted},
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::not_found;
use crate::Context;

pub async fn delete_order(req: DeleteOrder, ctx: Context) -> RpcResult<Deleted> {
    let caller = ctx.caller.signed_in()?;
    // A redelivered delete that happened answers as the first time.
    if let Some(answer) = inbox::replay::<DeleteOrder>(&ctx.db, &ctx.request).await? {
        return Ok(answer);
    }
    let mut write = Write::begin::<DeleteOrder>(&ctx.db, &ctx.outbox, &ctx.request).await?;
    // RETURNING tells us whose order it was for the event. A user's delete matches only
    // their own order: someone else's is not there for them.
    let mut delete = order::Entity::delete_many().filter(order::Column::Id.eq(req.id));
    if let Caller::User(me) = caller {
        delete = delete.filter(order::Column::UserId.eq(me));
    }
    let deleted = delete
        .exec_with_returning(&*write)
        .await
        .or_internal("deleting an order")?
        .into_iter()
        .next()
        .ok_or_else(not_found)?;
    write.announce(Envelope::new(ORDER_DELETED, deleted.id, Some(deleted.user_id)));
    write.commit(Deleted::Of { user_id: deleted.user_id }).await
}
