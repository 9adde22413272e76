//! The subscriptions (`API.md`, "Live updates"): `orderChanges` and `userChanges`, fed by
//! `crate::live`. Who may follow what is decided here, from the caller of the socket: the
//! services are not asked, as no record is read to subscribe.

use std::sync::Arc;

use async_graphql::{Context, Object, Result, Subscription as SubscriptionRoot};
use futures_util::{Stream, StreamExt};
use rpc::{Caller, ErrorCode, RpcError};
use uuid::Uuid;

use super::{
    Gateway,
    error::{RpcResultExt, gql_error},
    orders::Order,
    scalars::{Nullable, UuidInput},
    users::User,
};
use crate::live::{
    Change, ChangeKind, OfChange,
    hub::{self, Topic},
    socket::SocketContext,
};

#[derive(Default)]
pub struct Subscription;

#[SubscriptionRoot]
impl Subscription {
    /// Changes of orders as they commit: a user's own orders; for an admin, one user's
    /// (`userId`) or everyone's.
    async fn order_changes(
        &self,
        ctx: &Context<'_>,
        user_id: Option<UuidInput>,
    ) -> Result<impl Stream<Item = OrderChange> + use<>> {
        let user_id = user_id.map(|id| id.get("userId")).transpose()?;
        let topic = Topic::Orders(followed(ctx, user_id, "orders")?);
        Ok(subscribe(ctx, topic)?.map(OrderChange))
    }

    /// Changes of users as they commit: a user, themself; an admin, one user (`id`) or
    /// everyone.
    async fn user_changes(
        &self,
        ctx: &Context<'_>,
        id: Option<UuidInput>,
    ) -> Result<impl Stream<Item = UserChange> + use<>> {
        let id = id.map(|id| id.get("id")).transpose()?;
        let topic = Topic::Users(followed(ctx, id, "user")?);
        Ok(subscribe(ctx, topic)?.map(UserChange))
    }
}

/// Whose records the caller follows when it asks for `wanted`'s: `None` is everyone's.
fn followed(ctx: &Context<'_>, wanted: Option<Uuid>, what: &str) -> Result<Option<Uuid>> {
    match Gateway::requester(ctx)?.caller()? {
        Caller::Admin(_) | Caller::Service => Ok(wanted),
        Caller::User(me) if wanted.is_none_or(|id| id == me) => Ok(Some(me)),
        Caller::User(_) => Err(gql_error(RpcError::new(
            ErrorCode::Forbidden,
            format!("a user may follow only their own {what}: leave the argument out"),
        ))),
        Caller::Anonymous => Err(gql_error(rpc::caller::unauthenticated())),
    }
}

fn subscribe(ctx: &Context<'_>, topic: Topic) -> Result<hub::Subscription> {
    let socket = ctx.data::<SocketContext>().map_err(|_| {
        gql_error(RpcError::new(ErrorCode::BadUserInput, "subscriptions run over WebSocket (graphql-transport-ws)"))
    })?;
    Ok(Gateway::live(ctx)?.hub.subscribe(topic, socket.0.clone()))
}

/// One change of an order.
pub struct OrderChange(Arc<Change>);

#[Object]
impl OrderChange {
    async fn kind(&self) -> ChangeKind {
        self.0.kind
    }

    async fn order_id(&self) -> Uuid {
        self.0.id
    }

    async fn user_id(&self) -> Uuid {
        self.0.user_id
    }

    /// The order as it is now, read once for every subscriber of this gateway; null once
    /// deleted.
    async fn order(&self) -> Nullable<Order> {
        Nullable::of(async {
            let order = self.0.order().await.gql()?;
            Ok(order.map(|order| Order { change: OfChange(Some(self.0.clone())), ..Order::from(order) }))
        })
        .await
    }
}

/// One change of a user.
pub struct UserChange(Arc<Change>);

#[Object]
impl UserChange {
    async fn kind(&self) -> ChangeKind {
        self.0.kind
    }

    async fn user_id(&self) -> Uuid {
        self.0.id
    }

    /// The user as they are now, read once for every subscriber of this gateway; null once
    /// deleted.
    async fn user(&self) -> Nullable<User> {
        Nullable::of(async { Ok(self.0.owner().await.gql()?.map(User::from)) }).await
    }
}
