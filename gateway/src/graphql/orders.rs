//! The orders half of the schema: `Order`, its connection, and the orders queries and mutations.

use async_graphql::{ComplexObject, Context, InputObject, Object, Result, SimpleObject};
use rpc::{Caller, orders as wire};
use uuid::Uuid;

use super::{
    Gateway,
    error::{RpcResultExt, gql_error},
    pagination::{DEFAULT_FIRST, connection, page_args, page_extras},
    scalars::{DateTime, Decimal, Nullable, UuidInput},
    users::User,
};

#[derive(Debug, Clone, SimpleObject)]
#[graphql(complex)]
pub struct Order {
    pub id: Uuid,
    pub user_id: Uuid,
    pub item_description: String,
    pub item_quantity: i32,
    pub item_price: Decimal,
    /// itemQuantity × itemPrice, computed by the orders service, exact.
    pub total_value: Decimal,
    pub created_at: DateTime,
    pub updated_at: DateTime,
    /// The change it was read for, if a subscription's.
    #[graphql(skip)]
    pub change: crate::live::OfChange,
}

impl From<wire::Order> for Order {
    fn from(order: wire::Order) -> Self {
        Self {
            id: order.id,
            user_id: order.user_id,
            item_description: order.item_description,
            item_quantity: order.item_quantity,
            item_price: Decimal::Text(order.item_price),
            total_value: Decimal::Text(order.total_value),
            created_at: DateTime(order.created_at),
            updated_at: DateTime(order.updated_at),
            change: crate::live::OfChange::default(),
        }
    }
}

#[ComplexObject]
impl Order {
    /// Who placed it; batched with the other orders of the response. Null once the user is gone.
    async fn user(&self, ctx: &Context<'_>) -> Nullable<User> {
        Nullable::of(async {
            // Read once for every subscriber of the change, rather than once each.
            if let Some(change) = &self.change.0 {
                return Ok(change.owner().await.gql()?.map(User::from));
            }
            let user = Gateway::loaders(ctx)?.users.load_one(self.user_id).await.gql()?;
            Ok(user.map(User::from))
        })
        .await
    }
}

connection!(OrderConnection, OrderEdge, Order, wire::Order);

#[derive(Default)]
pub struct OrderQuery;

#[Object]
impl OrderQuery {
    /// Orders, oldest first; `userId` keeps one user's.
    #[graphql(
        complexity = "crate::graphql::complexity::list_cost_of(__ctx, __variables_definition, __field, child_complexity)"
    )]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(default_with = "Some(DEFAULT_FIRST)")] first: Option<i64>,
        after: Option<String>,
        user_id: Option<UuidInput>,
    ) -> Nullable<OrderConnection> {
        Nullable::of(async {
            let (first, after) = page_args(first, after)?;
            let user_id = user_id.map(|id| id.get("userId")).transpose()?;
            let extras = page_extras(ctx, after);
            let (rpc, cache, keys, reads) =
                (Gateway::rpc(ctx)?, Gateway::cache(ctx)?, Gateway::keys(ctx)?, Gateway::reads(ctx)?);
            let key = keys.orders_page(first, after, user_id, extras);
            let page =
                cache
                    .get_one(reads, key, || async move {
                        rpc.call(&wire::ListOrders { first, after, user_id, extras }).await
                    })
                    .await
                    .gql()?;
            Ok(Some(page.into()))
        })
        .await
    }

    /// The order with this id; null when there is none.
    async fn order(&self, ctx: &Context<'_>, id: UuidInput) -> Nullable<Order> {
        Nullable::of(async {
            let id = id.get("id")?;
            let order = Gateway::loaders(ctx)?.orders.load_one(id).await.gql()?;
            Ok(order.map(Order::from))
        })
        .await
    }
}

#[derive(InputObject)]
pub struct CreateOrderInput {
    pub user_id: UuidInput,
    pub item_description: String,
    // An `i64`, still a GraphQL `Int`: the orders service refuses what is out of range on this
    // field, also past 32 bits, where async-graphql's `i32` would name no field.
    pub item_quantity: i64,
    pub item_price: Decimal,
}

#[derive(InputObject)]
pub struct UpdateOrderInput {
    pub item_description: Option<String>,
    pub item_quantity: Option<i64>,
    pub item_price: Option<Decimal>,
}

#[derive(Default)]
pub struct OrderMutation;

#[Object]
impl OrderMutation {
    /// Places an order for an existing user (BAD_USER_INPUT on userId otherwise).
    async fn create_order(&self, ctx: &Context<'_>, input: CreateOrderInput) -> Result<Order> {
        // Chosen here, so a redelivered request finds its own row instead of making another.
        let id = Uuid::now_v7();
        let request = wire::CreateOrder {
            id,
            user_id: input.user_id.get("userId")?,
            item_description: input.item_description,
            item_quantity: input.item_quantity,
            item_price: input.item_price.into_text("itemPrice").map_err(gql_error)?,
        };
        let owner = Some(request.user_id);
        Ok(Gateway::write(ctx, &request, |keys| keys.order_written(id, owner)).await?.into())
    }

    /// Changes the given fields; the total is computed again.
    async fn update_order(&self, ctx: &Context<'_>, id: UuidInput, input: UpdateOrderInput) -> Result<Order> {
        let id = id.get("id")?;
        let item_price = input.item_price.map(|price| price.into_text("itemPrice")).transpose().map_err(gql_error)?;
        let request = wire::UpdateOrder {
            id,
            item_description: input.item_description,
            item_quantity: input.item_quantity,
            item_price,
        };
        // The answer names the owner, whose orders are stale too; without one, it is looked up.
        let keys = &Gateway::cache(ctx)?.keys;
        let stale = async |answer: Option<&wire::Order>| {
            let owner = match answer {
                Some(order) => Some(order.user_id),
                None => owner_unanswered(ctx, id).await,
            };
            keys.order_written(id, owner)
        };
        Ok(Gateway::write_answered(ctx, Gateway::rpc(ctx)?, &request, stale).await?.into())
    }

    async fn delete_order(&self, ctx: &Context<'_>, id: UuidInput) -> Result<bool> {
        let id = id.get("id")?;
        let keys = &Gateway::cache(ctx)?.keys;
        let stale = async |answer: Option<&wire::Deleted>| {
            let owner = match answer.and_then(|deleted| deleted.owner()) {
                Some(owner) => Some(owner),
                None => owner_unanswered(ctx, id).await,
            };
            keys.order_written(id, owner)
        };
        Gateway::write_answered(ctx, Gateway::rpc(ctx)?, &wire::DeleteOrder { id }, stale).await?;
        Ok(true)
    }
}

/// Whose order `id` is, when a write's answer did not say (it failed, perhaps after it happened,
/// or an older worker answered): a user writes only their own orders; for an admin the order is
/// read, and once it is gone, its `order.deleted` event (which names the owner) invalidates that
/// user's orders when it lands.
async fn owner_unanswered(ctx: &Context<'_>, id: Uuid) -> Option<Uuid> {
    match Gateway::requester(ctx).ok()?.caller().ok()? {
        Caller::User(me) => Some(me),
        _ => owner_of(ctx, id).await,
    }
}

/// Whose order `id` is, to invalidate that user's orders too (an order never changes owner).
async fn owner_of(ctx: &Context<'_>, id: Uuid) -> Option<Uuid> {
    let order = Gateway::loaders(ctx).ok()?.orders.load_one(id).await.ok()??;
    Some(order.user_id)
}
