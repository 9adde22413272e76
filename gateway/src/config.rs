//! The gateway's configuration: the environment, as `API.md` ("Running") names it.

#[cfg(feature = "embedded")]
use std::path::PathBuf;
use std::{net::SocketAddr, time::Duration};

use rpc::process::defaults;

use crate::limits::Limits;

#[derive(Debug, Clone, clap::Parser)]
#[command(name = "gateway", about = "The GraphQL gateway; runs the whole API embedded when no services are configured")]
pub struct Config {
    /// The HTTP address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:8000")]
    pub listen_addr: SocketAddr,

    /// RabbitMQ, vhost included. Unset: the services run in this process (embedded mode), in a
    /// gateway built with the `embedded` feature; one built without it refuses to start.
    #[arg(long, env = "AMQP_URL")]
    pub amqp_url: Option<String>,

    /// How the durable queues on RabbitMQ are declared (`AMQP_QUEUE_TYPE`, `AMQP_DELIVERY_LIMIT`).
    #[command(flatten)]
    pub topology: rpc::amqp::Topology,

    /// The users service's database, in embedded mode. Unset: `users.db` (SQLite) under DATA_DIR.
    #[cfg(feature = "embedded")]
    #[arg(long, env = "USERS_DATABASE_URL")]
    pub users_database_url: Option<String>,

    /// The orders service's database, in embedded mode. Unset: `orders.db` (SQLite) under DATA_DIR.
    #[cfg(feature = "embedded")]
    #[arg(long, env = "ORDERS_DATABASE_URL")]
    pub orders_database_url: Option<String>,

    /// Where embedded mode keeps its SQLite files.
    #[cfg(feature = "embedded")]
    #[arg(long, env = "DATA_DIR", default_value = defaults::DATA_DIR)]
    pub data_dir: PathBuf,

    /// The field cache. Unset: an in-process cache.
    #[arg(long, env = "REDIS_URL")]
    pub redis_url: Option<String>,

    /// How long a cached field lives, in seconds; 0 turns the cache off.
    #[arg(long, env = "CACHE_TTL_SECONDS", default_value_t = 30)]
    pub cache_ttl_seconds: u64,

    /// Whether a repeated query is answered whole from the cache too (never stale: checked
    /// against the generations of every field it read); off, only fields are cached.
    #[arg(long, env = "CACHE_ANSWERS", default_value_t = true, action = clap::ArgAction::Set)]
    pub cache_answers: bool,

    /// Prefix of every cache key in Redis; gateways sharing a cache share it. Its `v1` is the
    /// key format's version.
    #[arg(long, env = "CACHE_KEY_PREFIX", default_value = "gqlmq:v1")]
    pub cache_key_prefix: String,

    /// How long one cache operation may take before the cache is bypassed, in milliseconds.
    #[arg(long, env = "CACHE_TIMEOUT_MS", default_value_t = 50)]
    pub cache_timeout_ms: u64,

    /// How long the gateway waits for a service, in milliseconds.
    #[arg(long, env = "RPC_TIMEOUT_MS", default_value_t = defaults::RPC_TIMEOUT_MS)]
    pub rpc_timeout_ms: u64,

    /// How many requests an embedded service handles at once.
    #[cfg(feature = "embedded")]
    #[arg(long, env = "RPC_PREFETCH", default_value_t = defaults::RPC_PREFETCH)]
    pub rpc_prefetch: u16,

    /// How many look-ups by id (`users.get`, `orders.get`) of the whole gateway may be out at
    /// once, each; look-ups asked meanwhile wait and go out merged in one call.
    #[arg(long, env = "RPC_LOOKUPS_IN_FLIGHT", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub rpc_lookups_in_flight: u16,

    /// The origins whose pages may call the API from a browser (CORS), comma-separated:
    /// `scheme://host[:port]` each, or `*` alone (any origin, without credentials). Unset: none,
    /// same origin only.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',', value_parser = crate::http::cors::parse_origin)]
    pub cors_allowed_origins: Vec<crate::http::cors::CorsOrigin>,

    /// The key that signs tokens; every gateway of one deployment shares it (at least 32
    /// bytes). Required with AMQP_URL; embedded mode generates one once and keeps it under
    /// DATA_DIR.
    #[arg(long, env = "AUTH_SECRET", hide_env_values = true)]
    pub auth_secret: Option<crate::auth::secret::AuthSecret>,

    /// How long a token lives, in seconds.
    #[arg(long, env = "TOKEN_TTL_SECONDS", default_value_t = 3600, value_parser = clap::value_parser!(u64).range(1..))]
    pub token_ttl_seconds: u64,

    /// The longest a gateway goes on trusting what the users service said of a session
    /// without asking again, in seconds. Events end sessions at once; this bounds what no
    /// event says (an admin granted or revoked while no broker could tell).
    #[arg(long, env = "SESSION_CHECK_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub session_check_seconds: u64,

    /// The limits on failed sign-in attempts of the embedded users service.
    #[cfg(feature = "embedded")]
    #[command(flatten)]
    pub login_limits: users_worker::LoginLimits,

    // Limits of the GraphQL edge (`limits.rs`): depth, complexity, aliases, sizes, time.
    #[command(flatten)]
    pub limits: Limits,

    #[command(flatten)]
    pub connections: crate::serve::ConnectionLimits,

    /// The limits of subscriptions and their WebSockets (`live.rs`).
    #[command(flatten)]
    pub live: crate::live::LiveSettings,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Prints the GraphQL schema (SDL) and exits: `gateway print-schema > schema.graphql`.
    PrintSchema,
    /// Embedded mode: makes the user with this nickName (ignoring case) an admin, in the
    /// users database under DATA_DIR (or USERS_DATABASE_URL); exits 1 when there is none.
    #[cfg(feature = "embedded")]
    GrantAdmin { nick_name: String },
    /// Embedded mode: makes the user with this nickName an ordinary user again.
    #[cfg(feature = "embedded")]
    RevokeAdmin { nick_name: String },
}

impl Config {
    pub fn rpc_timeout(&self) -> Duration {
        Duration::from_millis(self.rpc_timeout_ms)
    }

    pub fn token_ttl(&self) -> Duration {
        Duration::from_secs(self.token_ttl_seconds)
    }

    /// A configuration for tests: clap's defaults, never the environment (a test must not
    /// depend on the shell it runs in), with port 0 and everything embedded under `data_dir`.
    ///
    /// # Panics
    /// Never: the defaults parse, as every API test that starts here shows.
    #[cfg(feature = "embedded")]
    pub fn embedded(data_dir: PathBuf) -> Self {
        use clap::{CommandFactory as _, FromArgMatches as _};
        let command = Self::command().mut_args(|arg| arg.env(None));
        let matches = command.try_get_matches_from(["gateway", "--listen-addr", "127.0.0.1:0"]);
        let mut config = matches.and_then(|matches| Self::from_arg_matches(&matches)).expect("the defaults parse");
        config.data_dir = data_dir;
        config
    }
}
