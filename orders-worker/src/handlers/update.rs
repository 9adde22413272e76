//! `orders.update`: changes the given fields and recomputes the total.

use entities::{inbox, orders::order, write::Write};
use rpc::{
    Envelope, RpcResult,
    error::OrInternal,
    events::ORDER_UPDATED,
    orders::{Order, UpdateOrder},
};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, IntoActiveModel, QuerySelect};

use super::{not_found, to_wire};
use crate::{
    Context,
    validation::{ItemDescription, PriceCents, Quantity, total_cents},
};

pub async fn update_order(req: UpdateOrder, ctx: Context) -> RpcResult<Order> {
    let caller = ctx.caller.signed_in()?;
    let description = req.item_description.as_deref().map(ItemDescription::parse).transpose()?;
    let quantity = req.item_quantity.map(Quantity::parse).transpose()?;
    let price = req.item_price.as_deref().map(PriceCents::parse).transpose()?;

    if let Some(answer) = inbox::replay::<UpdateOrder>(&ctx.db, &ctx.request).await? {
        return Ok(answer);
    }
    let mut write = Write::begin::<UpdateOrder>(&ctx.db, &ctx.outbox, &ctx.request).await?;
    // FOR UPDATE on PostgreSQL: two updates of different fields must not undo each other.
    let current = order::Entity::find_by_id(req.id)
        .lock_exclusive()
        .one(&*write)
        .await
        .or_internal("finding an order to update")?
        // Someone else's order is not there for this caller.
        .filter(|row| caller.may_touch(row.user_id).unwrap_or(false))
        .ok_or_else(not_found)?;

    // What the request leaves out stays as stored.
    let description = description.map_or_else(|| current.item_description.clone(), String::from);
    let quantity = quantity.map_or(current.item_quantity, Quantity::get);
    let price_cents = price.map_or(current.item_price_cents, PriceCents::get);
    let total_cents = total_cents(quantity, price_cents)?;
    if description == current.item_description
        && quantity == current.item_quantity
        && price_cents == current.item_price_cents
    {
        // Nothing changes: no write, no new updated_at, no event.
        return Ok(to_wire(current));
    }

    let user_id = current.user_id;
    let mut active = current.into_active_model();
    active.item_description = Set(description);
    active.item_quantity = Set(quantity);
    active.item_price_cents = Set(price_cents);
    active.total_value_cents = Set(total_cents);
    active.updated_at = Set(entities::now());
    let updated = active.update(&*write).await.or_internal("updating an order")?;
    write.announce(Envelope::new(ORDER_UPDATED, req.id, Some(user_id)));
    write.commit(to_wire(updated)).await
}
