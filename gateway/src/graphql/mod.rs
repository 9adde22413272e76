//! The GraphQL schema: one module per domain ([`users`], [`orders`]) merged into one schema,
//! the contract's scalars, connections, DataLoaders and the error mapping.

pub mod coalesce;
pub mod complexity;
pub mod error;
pub mod loaders;
pub mod orders;
pub mod pagination;
pub mod scalars;
pub mod users;

use async_graphql::{Context, EmptySubscription, MergedObject, Schema, ValidationMode};
use std::sync::Arc;

use rpc::RpcClient;

use self::error::RpcResultExt;
use self::loaders::Loaders;
use crate::cache::{FieldCache, keys::Keys};
use crate::limits::Limits;

#[derive(MergedObject, Default)]
pub struct Query(users::UserQuery, orders::OrderQuery);

#[derive(MergedObject, Default)]
pub struct Mutation(users::UserMutation, orders::OrderMutation);

pub type AppSchema = Schema<Query, Mutation, EmptySubscription>;

/// What resolvers reach through the schema's data.
#[derive(Clone)]
pub struct Gateway {
    pub rpc: RpcClient,
    pub cache: Arc<FieldCache>,
}

impl Gateway {
    pub fn rpc<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a RpcClient> {
        Ok(&ctx.data::<Gateway>()?.rpc)
    }

    pub fn cache<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a FieldCache> {
        Ok(&ctx.data::<Gateway>()?.cache)
    }

    pub fn loaders<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Loaders> {
        ctx.data::<Loaders>()
    }

    /// Sends a write and invalidates what it may have changed (`stale`: generation keys)
    /// before answering, so the client never reads its own write stale.
    pub async fn write<M: rpc::Method>(
        ctx: &Context<'_>,
        request: &M,
        stale: impl FnOnce(&Keys) -> Vec<String>,
    ) -> async_graphql::Result<M::Response> {
        let (rpc, cache) = (Self::rpc(ctx)?, Self::cache(ctx)?);
        let result = rpc.call(request).await;
        cache.after_write(&result, stale(&cache.keys)).await;
        result.gql()
    }
}

/// The schema, with the services behind it when there are any, and async-graphql's own
/// limits (depth, complexity, introspection) set from `limits`. The schema keeps `limits` as
/// data, so the request path applies the same ones (`crate::state::AppState::limits`).
pub fn build_schema(gateway: Option<Gateway>, limits: &Limits) -> AppSchema {
    build_schema_validating(gateway, limits, ValidationMode::Strict)
}

/// [`build_schema`] with another validation mode. `Fast` runs only the checks whose outcome
/// depends on the variables' values (complexity, depth, fragment cycles): for documents that
/// already passed every rule with variables of the same shape (`crate::documents`).
pub fn build_schema_validating(gateway: Option<Gateway>, limits: &Limits, mode: ValidationMode) -> AppSchema {
    // `UUID` is async-graphql's `Uuid` on output and our `UuidInput` on input (see there).
    let mut builder =
        Schema::build_with_ignore_name_conflicts(Query::default(), Mutation::default(), EmptySubscription, ["UUID"])
            .validation_mode(mode)
            .limit_depth(limits.max_depth)
            .limit_complexity(limits.max_complexity)
            .data(limits.clone());
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    if let Some(gateway) = gateway {
        builder = builder.data(gateway);
    }
    builder.finish()
}

/// The SDL of the live schema, as `schema.graphql` holds it.
pub fn sdl() -> String {
    build_schema(None, &Limits::default()).sdl()
}
