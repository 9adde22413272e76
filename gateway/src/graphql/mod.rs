//! The GraphQL schema: one module per domain ([`users`], [`orders`]) merged into one schema,
//! the contract's scalars, connections, DataLoaders and the error mapping.

pub mod auth;
pub mod coalesce;
pub mod complexity;
pub mod error;
pub mod idempotency;
pub mod loaders;
pub mod orders;
pub mod pagination;
pub mod scalars;
pub mod subscriptions;
pub mod users;

use async_graphql::{Context, MergedObject, Schema, ValidationMode};
use std::sync::Arc;

use rpc::{Caller, RpcClient};

use self::error::RpcResultExt;
use self::idempotency::Idempotency;
use self::loaders::Loaders;
use crate::auth::{Auth, Authentication};
use crate::cache::{FieldCache, answers::Reads, keys::Keys};
use crate::limits::Limits;

#[derive(MergedObject, Default)]
pub struct Query(users::UserQuery, orders::OrderQuery, auth::AuthQuery);

#[derive(MergedObject, Default)]
pub struct Mutation(users::UserMutation, orders::OrderMutation, auth::AuthMutation);

pub use self::subscriptions::Subscription;

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// What resolvers reach through the schema's data.
#[derive(Clone)]
pub struct Gateway {
    /// Calls made for nobody in particular: what `login` and `createUser` send.
    pub rpc: RpcClient,
    pub cache: Arc<FieldCache>,
    pub auth: Arc<Auth>,
    pub idempotency: Arc<Idempotency>,
    /// The subscriptions' fan-out.
    pub live: Arc<crate::live::Live>,
}

/// Who one request is for, and what it calls and caches with: in each request's data.
pub struct Requester {
    pub auth: Authentication,
    /// Calls made for the caller; anonymous when the token was refused, though no field
    /// that needs a caller gets this far then.
    rpc: RpcClient,
    /// The cache keys of what the caller may see.
    keys: Keys,
    /// What the request's field-cache reads saw, when its whole answer may be kept.
    reads: Reads,
}

impl Requester {
    pub fn new(auth: Authentication, rpc: &RpcClient, keys: &Keys) -> Self {
        let caller = auth.caller.clone().unwrap_or(Caller::Anonymous);
        Self { rpc: rpc.as_caller(caller), keys: keys.for_caller(caller), auth, reads: Reads::off() }
    }

    /// The same, recording what its field-cache reads see into `reads`.
    pub fn recording(self, reads: Reads) -> Self {
        Self { reads, ..self }
    }

    /// The caller; the token's error when it was refused.
    pub fn caller(&self) -> async_graphql::Result<Caller> {
        self.auth.caller.clone().gql()
    }

    pub fn rpc(&self) -> &RpcClient {
        &self.rpc
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    pub fn reads(&self) -> &Reads {
        &self.reads
    }
}

impl Gateway {
    /// Calls made for this request's caller; the token's error when it was refused.
    pub fn rpc<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a RpcClient> {
        let requester = Self::requester(ctx)?;
        requester.caller()?;
        Ok(&requester.rpc)
    }

    /// Calls made for nobody, whatever token came: `login` and `createUser`, which anyone may
    /// call, also with a token that expired.
    pub fn public_rpc<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a RpcClient> {
        Ok(&ctx.data::<Gateway>()?.rpc)
    }

    pub fn requester<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Requester> {
        ctx.data::<Requester>()
    }

    /// The cache keys of the caller's view.
    pub fn keys<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Keys> {
        Ok(&Self::requester(ctx)?.keys)
    }

    /// What the request's field-cache reads saw (see [`crate::cache::answers`]).
    pub fn reads<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Reads> {
        Ok(&Self::requester(ctx)?.reads)
    }

    pub fn auth<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Auth> {
        Ok(&ctx.data::<Gateway>()?.auth)
    }

    pub fn live<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a crate::live::Live> {
        Ok(&ctx.data::<Gateway>()?.live)
    }

    pub fn cache<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a FieldCache> {
        Ok(&ctx.data::<Gateway>()?.cache)
    }

    /// The request's DataLoaders; the token's error when it was refused.
    pub fn loaders<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Loaders> {
        Self::requester(ctx)?.caller()?;
        ctx.data::<Loaders>()
    }

    /// Sends a write and invalidates what it may have changed (`stale`: generation keys)
    /// before answering, so the client never reads its own write stale.
    pub async fn write<M: rpc::Method>(
        ctx: &Context<'_>,
        request: &M,
        stale: impl FnOnce(&Keys) -> Vec<String>,
    ) -> async_graphql::Result<M::Response> {
        Self::write_with(ctx, Self::rpc(ctx)?, request, stale).await
    }

    /// [`Self::write`] with `rpc`'s caller. With an `Idempotency-Key`, the write goes as this
    /// field's request of that key (see [`idempotency`]).
    pub async fn write_with<M: rpc::Method>(
        ctx: &Context<'_>,
        rpc: &RpcClient,
        request: &M,
        stale: impl FnOnce(&Keys) -> Vec<String>,
    ) -> async_graphql::Result<M::Response> {
        let keys = &Self::cache(ctx)?.keys;
        Self::write_answered(ctx, rpc, request, async |_| stale(keys)).await
    }

    /// [`Self::write_with`] for a write whose answer tells what it changed: `stale` gets the
    /// answer, or None when the write failed, maybe after it happened (no answer came).
    pub async fn write_answered<M: rpc::Method>(
        ctx: &Context<'_>,
        rpc: &RpcClient,
        request: &M,
        stale: impl AsyncFnOnce(Option<&M::Response>) -> Vec<String>,
    ) -> async_graphql::Result<M::Response> {
        let cache = Self::cache(ctx)?;
        let rpc = ctx.data::<Gateway>()?.idempotency.client(ctx, rpc)?;
        let result = rpc.call(request).await;
        let stale = stale(result.as_ref().ok()).await;
        cache.after_write(&result, stale).await;
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
        Schema::build_with_ignore_name_conflicts(Query::default(), Mutation::default(), Subscription, ["UUID"])
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
