//! `orders.list`: one keyset page of orders by id, optionally of one user.

use entities::orders::order;
use rpc::{
    Caller, Page, RpcResult, bounds,
    error::OrInternal,
    orders::{ListOrders, Order},
};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
    SelectExt,
};

use super::{empty_page, to_wire};
use crate::Context;

pub async fn list_orders(req: ListOrders, ctx: Context) -> RpcResult<Page<Order>> {
    let caller = ctx.caller.signed_in()?;
    bounds::page_size(req.first)?;
    let mut req = ListOrders { extras: req.extras.for_page(req.after), ..req };
    // A user lists their own orders: without `userId` too, and none of anyone else's.
    if let Caller::User(me) = caller {
        match req.user_id {
            Some(user_id) if user_id != me => return Ok(empty_page(req.extras)),
            _ => req.user_id = Some(me),
        }
    }
    // With extras, one snapshot keeps the items, `has_previous` and `total_count` in agreement.
    entities::db::read(&ctx.db, req.extras.any(), async |db| read_page(db, &req).await)
        .await
        .or_internal("listing orders")
}

async fn read_page(db: &impl ConnectionTrait, req: &ListOrders) -> Result<Page<Order>, DbErr> {
    let filter = Condition::all().add_option(req.user_id.map(|user_id| order::Column::UserId.eq(user_id)));
    let mut page = order::Entity::find().filter(filter.clone());
    if let Some(after) = req.after {
        page = page.filter(order::Column::Id.gt(after));
    }
    // One more than asked tells whether a next page exists.
    let mut rows = page.order_by_asc(order::Column::Id).limit(u64::from(req.first) + 1).all(db).await?;
    let has_next = rows.len() > req.first as usize;
    rows.truncate(req.first as usize);

    let has_previous = match req.after.filter(|_| req.extras.has_previous) {
        Some(after) => {
            order::Entity::find().filter(filter.clone()).filter(order::Column::Id.lte(after)).exists(db).await?
        }
        None => false,
    };
    let total_count = match req.extras.total_count {
        true => Some(order::Entity::find().filter(filter).count(db).await?),
        false => None,
    };
    Ok(Page { items: rows.into_iter().map(to_wire).collect(), has_previous, has_next, total_count })
}
