//! The gateway's configuration: the environment, as `API.md` ("Running") names it.

use std::{net::SocketAddr, path::PathBuf, time::Duration};

use crate::limits::Limits;

#[derive(Debug, Clone, clap::Parser)]
#[command(name = "gateway", about = "The GraphQL gateway; runs the whole API embedded when no services are configured")]
pub struct Config {
    /// The HTTP address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8000")]
    pub listen_addr: SocketAddr,

    /// RabbitMQ, vhost included. Unset: the services run in this process (embedded mode).
    #[arg(long, env = "AMQP_URL")]
    pub amqp_url: Option<String>,

    /// The users service's database, in embedded mode. Unset: `users.db` (SQLite) under DATA_DIR.
    #[arg(long, env = "USERS_DATABASE_URL")]
    pub users_database_url: Option<String>,

    /// The orders service's database, in embedded mode. Unset: `orders.db` (SQLite) under DATA_DIR.
    #[arg(long, env = "ORDERS_DATABASE_URL")]
    pub orders_database_url: Option<String>,

    /// Where embedded mode keeps its SQLite files.
    #[arg(long, env = "DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// The field cache. Unset: an in-process cache.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// How long a cached field lives, in seconds; 0 turns the cache off.
    #[arg(long, env = "CACHE_TTL_SECONDS", default_value_t = 30)]
    pub cache_ttl_seconds: u64,

    /// Prefix of every cache key in Redis; gateways sharing a cache share it. Its `v1` is the
    /// key format's version.
    #[arg(long, env = "CACHE_KEY_PREFIX", default_value = "gqlmq:v1")]
    pub cache_key_prefix: String,

    /// How long one cache operation may take before the cache is bypassed, in milliseconds.
    #[arg(long, env = "CACHE_TIMEOUT_MS", default_value_t = 50)]
    pub cache_timeout_ms: u64,

    /// How long the gateway waits for a service, in milliseconds.
    #[arg(long, env = "RPC_TIMEOUT_MS", default_value_t = 5000)]
    pub rpc_timeout_ms: u64,

    /// How many requests an embedded service handles at once.
    #[arg(long, env = "RPC_PREFETCH", default_value_t = 32)]
    pub rpc_prefetch: u16,

    /// How many look-ups by id (`users.get`, `orders.get`) of the whole gateway may be out at
    /// once, each; look-ups asked meanwhile wait and go out merged in one call.
    #[arg(long, env = "RPC_LOOKUPS_IN_FLIGHT", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub rpc_lookups_in_flight: u16,

    // Limits of the GraphQL edge (`limits.rs`): depth, complexity, aliases, sizes, time.
    #[command(flatten)]
    pub limits: Limits,

    #[command(flatten)]
    pub connections: crate::serve::ConnectionLimits,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Prints the GraphQL schema (SDL) and exits: `gateway print-schema > schema.graphql`.
    PrintSchema,
}

impl Config {
    pub fn rpc_timeout(&self) -> Duration {
        Duration::from_millis(self.rpc_timeout_ms)
    }

    /// A configuration for tests: port 0, embedded everything under `data_dir`.
    pub fn embedded(data_dir: PathBuf) -> Self {
        Self {
            listen_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            amqp_url: None,
            users_database_url: None,
            orders_database_url: None,
            data_dir,
            redis_url: None,
            cache_ttl_seconds: 30,
            cache_key_prefix: "gqlmq:v1".to_owned(),
            cache_timeout_ms: 50,
            rpc_timeout_ms: 5000,
            rpc_prefetch: 32,
            rpc_lookups_in_flight: 8,
            limits: Limits::default(),
            connections: crate::serve::ConnectionLimits::default(),
            command: None,
        }
    }
}
