//! `orders.list`: one keyset page of orders by id, optionally of one user.

use entities::orders::order;
use rpc::{
    Page, RpcResult,
    orders::{ListOrders, Order},
};
use sea_orm::{ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, SelectExt};

use super::{OrInternal, begin_snapshot, to_wire};
use crate::{Context, validation};

pub async fn list_orders(req: ListOrders, ctx: Context) -> RpcResult<Page<Order>> {
    let first = validation::page_size(req.first)?;
    let filter = Condition::all().add_option(req.user_id.map(|user_id| order::Column::UserId.eq(user_id)));

    let txn = begin_snapshot(&ctx.db).await.or_internal("beginning a list of orders")?;
    let mut page = order::Entity::find().filter(filter.clone());
    if let Some(after) = req.after {
        page = page.filter(order::Column::Id.gt(after));
    }
    // One more than asked tells whether a next page exists.
    let mut rows =
        page.order_by_asc(order::Column::Id).limit(first + 1).all(&txn).await.or_internal("listing orders")?;
    let has_next = rows.len() as u64 > first;
    rows.truncate(req.first as usize);

    let has_previous = match req.after {
        Some(after) => order::Entity::find()
            .filter(filter.clone())
            .filter(order::Column::Id.lte(after))
            .exists(&txn)
            .await
            .or_internal("looking for earlier orders")?,
        None => false,
    };
    let total_count = order::Entity::find().filter(filter).count(&txn).await.or_internal("counting orders")?;
    txn.commit().await.or_internal("ending a list of orders")?;

    Ok(Page { items: rows.into_iter().map(to_wire).collect(), has_previous, has_next, total_count })
}
