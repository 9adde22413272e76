//! The GraphQL gateway: answers GraphQL over HTTP by calling the users and orders services
//! over RPC (RabbitMQ, or in-process in embedded mode).
//!
//! - [`config`]: the environment.
//! - [`auth`]: who a request is for: bearer tokens, the sessions they stand for.
//! - [`startup`]: [`Application`] builds everything and runs until stopped.
//! - `embedded` (the default feature of that name): both services in this process when there
//!   is no broker; the only module that knows the workers.
//! - [`http`]: the routes (GraphQL over HTTP, health, readiness, metrics), the request id and
//!   the deadline; hands a GraphQL request to [`request`].
//! - [`request`]: the path of a GraphQL request, one module per stage (negotiate, read, parse
//!   and keep, limits, validate, execute, respond), and its one error type.
//! - [`state`]: what every request shares.
//! - [`graphql`]: the schema, one module per domain, with DataLoaders and error mapping.
//! - [`graphiql`]: the GraphiQL page and its assets, embedded in the binary.
//! - [`live`]: subscriptions over WebSocket (graphql-transport-ws), fed by the services' events.
//! - [`cache`]: the field cache (Redis or in-process) and its invalidation.
//! - [`documents`]: parsed documents kept by their text, so repeated queries skip the parser.
//! - [`limits`]: what one request may ask (depth, complexity, aliases, sizes, time).
//! - [`metrics`]: Prometheus counters.
//! - [`serve`]: the accept loop, with the deadlines and the cap that bound connections.

pub mod auth;
pub mod cache;
pub mod config;
pub mod documents;
#[cfg(feature = "embedded")]
pub mod embedded;
pub mod graphiql;
pub mod graphql;
pub mod http;
pub mod limits;
pub mod live;
pub mod metrics;
pub mod request;
pub mod serve;
pub mod startup;
pub mod state;

pub use config::Config;
pub use startup::Application;
