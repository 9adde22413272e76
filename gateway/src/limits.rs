//! What one request may ask of the gateway: the limits of the GraphQL edge, from the
//! environment ([`Limits`]; README, "Limits"). Every default is chosen so that real clients
//! (Apollo, urql, Relay, GraphiQL and its introspection query) never meet it, while abuse is
//! refused before any resolver runs, so before any RPC is sent.
//!
//! Who applies them: async-graphql, during validation, the depth and the complexity
//! (`SchemaBuilder::limit_depth`, `limit_complexity`; a list's cost is
//! [`crate::graphql::complexity::list_cost`]); the request path the rest
//! ([`crate::request::limits`]: bodies, batches, and the checks on the document async-graphql
//! cannot make itself); HTTP the deadline.

use std::time::Duration;

/// The limits of the GraphQL edge, from the environment (README, "Limits").
#[derive(Debug, Clone, clap::Args)]
pub struct Limits {
    /// How deeply fields may nest, leaves included. Default 16: graphql-js's full
    /// introspection query (GraphiQL's) is 15 deep; a client's deep path here, an order's user's
    /// orders (`orders { edges { node { user { orders { edges { node { id`), is 8.
    #[arg(long = "graphql-max-depth", env = "GRAPHQL_MAX_DEPTH", default_value_t = Limits::DEFAULT.max_depth)]
    pub max_depth: usize,

    /// The most a query may cost: each field costs 1, and a list field (`users`, `orders`,
    /// `User.orders`) costs 1 plus its selection once per item it may return (`first`).
    /// Default 50000: a full page of 100 users, each with their first 20 orders, every field
    /// in Relay's shape (edges, cursors, pageInfo, totalCount), costs 35801; the same with 100
    /// orders each costs 171801; GraphiQL's introspection query, 230.
    #[arg(long = "graphql-max-complexity", env = "GRAPHQL_MAX_COMPLEXITY", default_value_t = Limits::DEFAULT.max_complexity)]
    pub max_complexity: usize,

    /// How many aliased fields one operation may hold, fragments expanded. Default 30:
    /// generated clients alias rarely, while a thousand aliases of one field (say
    /// `changePassword`, to guess passwords in bulk) is the classic abuse.
    #[arg(long = "graphql-max-aliases", env = "GRAPHQL_MAX_ALIASES", default_value_t = Limits::DEFAULT.max_aliases)]
    pub max_aliases: usize,

    /// How many fields the root of one operation may select, fragments expanded; each is
    /// at least one RPC. Default 20.
    #[arg(long = "graphql-max-root-fields", env = "GRAPHQL_MAX_ROOT_FIELDS", default_value_t = Limits::DEFAULT.max_root_fields)]
    pub max_root_fields: usize,

    /// The largest POST body, in bytes; larger is a 413. Default 1 MiB (1048576): the
    /// introspection query is a few KiB, and no input of the contract comes near 100 KiB. It
    /// holds a full batch of texts at MAX_QUERY_BYTES (10 × 64 KiB) with room for variables.
    #[arg(long = "max-body-bytes", env = "MAX_BODY_BYTES", default_value_t = Limits::DEFAULT.max_body_bytes)]
    pub max_body_bytes: usize,

    /// The longest query text, in bytes; longer is refused with QUERY_TOO_LARGE before it is
    /// scanned or parsed (POST, GET, and texts registered as persisted queries). Default 64 KiB
    /// (65536): GraphiQL's introspection query is about 2 KiB and large generated client
    /// documents stay within tens of KiB, while parsing costs the gateway CPU in proportion to
    /// the text, hundreds of milliseconds for a megabyte.
    #[arg(long = "max-query-bytes", env = "MAX_QUERY_BYTES", default_value_t = Limits::DEFAULT.max_query_bytes)]
    pub max_query_bytes: usize,

    /// How many operations one batched POST may carry. Default 10: Apollo's batch link
    /// sends at most 10.
    #[arg(long = "max-batch-size", env = "MAX_BATCH_SIZE", default_value_t = Limits::DEFAULT.max_batch_size)]
    pub max_batch_size: usize,

    /// How long one HTTP request may run, in milliseconds; then 504 with code TIMEOUT.
    /// Default 15000: three times RPC_TIMEOUT_MS's default, room for a few levels of
    /// batched calls each at its slowest.
    #[arg(long = "request-timeout-ms", env = "REQUEST_TIMEOUT_MS", default_value_t = Limits::DEFAULT.request_timeout_ms)]
    pub request_timeout_ms: u64,

    /// Whether `__schema` and `__type` answer. Default true; `false` turns them off.
    #[arg(
        long = "graphql-introspection",
        env = "GRAPHQL_INTROSPECTION",
        default_value_t = Limits::DEFAULT.introspection,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new(),
    )]
    pub introspection: bool,

    /// Whether browsers get GraphiQL at `GET /graphql`. Default true; `false` turns it off.
    #[arg(
        long = "graphiql",
        env = "GRAPHIQL",
        default_value_t = Limits::DEFAULT.graphiql,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new(),
    )]
    pub graphiql: bool,
}

impl Limits {
    /// The defaults, in one place for clap and for [`Default`].
    pub const DEFAULT: Self = Self {
        max_depth: 16,
        max_complexity: 50_000,
        max_aliases: 30,
        max_root_fields: 20,
        max_body_bytes: 1024 * 1024,
        max_query_bytes: 64 * 1024,
        max_batch_size: 10,
        request_timeout_ms: 15_000,
        introspection: true,
        graphiql: true,
    };

    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let limits = Limits::default();
        assert_eq!(limits.max_body_bytes, 1_048_576);
        assert_eq!(limits.max_query_bytes, 65_536);
        assert!(limits.max_query_bytes * limits.max_batch_size < limits.max_body_bytes);
        assert!(limits.introspection && limits.graphiql);
        assert_eq!(limits.request_timeout(), Duration::from_secs(15));
    }

    #[test]
    fn limits_are_read_like_the_environment_gives_them() {
        #[derive(clap::Parser)]
        struct Command {
            #[command(flatten)]
            limits: Limits,
        }
        use clap::Parser as _;
        let parsed = Command::try_parse_from(["gateway"]).unwrap().limits;
        assert_eq!(format!("{parsed:?}"), format!("{:?}", Limits::default()));
        let args = ["gateway", "--graphql-max-depth", "7", "--graphql-introspection", "false", "--graphiql", "off"];
        let parsed = Command::try_parse_from(args).unwrap().limits;
        assert_eq!((parsed.max_depth, parsed.introspection, parsed.graphiql), (7, false, false));
        assert!(Command::try_parse_from(["gateway", "--max-body-bytes", "-1"]).is_err());
    }
}
