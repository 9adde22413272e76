//! [`AppState`]: what every request shares, built once at start-up.

use std::sync::Arc;

use rpc::RpcClient;

use crate::{
    auth::Auth,
    cache::FieldCache,
    documents::Documents,
    graphql::{AppSchema, loaders::Lookups},
    limits::Limits,
    metrics::Metrics,
    request::persisted::PersistedQueries,
};

#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    /// The same schema, validating only what depends on more than the document: for
    /// documents that passed every rule before ([`Documents`]).
    pub validated_schema: AppSchema,
    pub documents: Arc<Documents>,
    /// The texts of automatic persisted queries, by hash.
    pub persisted_queries: Arc<PersistedQueries>,
    pub rpc: RpcClient,
    pub lookups: Arc<Lookups>,
    pub cache: Arc<FieldCache>,
    pub auth: Arc<Auth>,
    pub metrics: Metrics,
    /// Subscriptions and the WebSockets they run on.
    pub live: Arc<crate::live::Live>,
}

impl AppState {
    /// The limits the schema was built with: `build_schema` keeps them as the schema's data.
    pub fn limits(&self) -> &Limits {
        self.schema.data::<Limits>().unwrap_or(&Limits::DEFAULT)
    }
}
