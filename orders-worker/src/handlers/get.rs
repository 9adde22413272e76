//! `orders.get`: the orders that exist among the given ids.

use entities::orders::order;
use rpc::{
    RpcResult, bounds,
    error::OrInternal,
    orders::{GetOrders, Order},
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::to_wire;
use crate::Context;

pub async fn get_orders(req: GetOrders, ctx: Context) -> RpcResult<Vec<Order>> {
    let caller = ctx.caller.signed_in()?;
    bounds::batch_size("ids", req.ids.len())?;
    let mut ids = req.ids;
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = order::Entity::find()
        .filter(order::Column::Id.is_in(ids))
        .order_by_asc(order::Column::Id)
        .all(&ctx.db)
        .await
        .or_internal("getting orders by id")?;
    // Someone else's order is left out, as an absent one is.
    Ok(rows.into_iter().filter(|row| caller.may_touch(row.user_id).unwrap_or(false)).map(to_wire).collect())
}
