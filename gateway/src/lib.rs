//! The GraphQL gateway: answers GraphQL over HTTP by calling the users and orders services
//! over RPC (RabbitMQ, or in-process in embedded mode).
//!
//! - [`config`]: the environment.
//! - [`startup`]: [`Application`] builds everything and runs until stopped.
//! - [`http`]: the routes (GraphQL over HTTP, health, readiness, metrics).
//! - [`graphql`]: the schema, one module per domain, with DataLoaders and error mapping.
//! - [`cache`]: the field cache (Redis or in-process) and its invalidation.
//! - [`documents`]: parsed documents kept by their text, so repeated queries skip the parser.
//! - [`limits`]: what one request may ask (depth, complexity, aliases, sizes, time) and the
//!   document checks async-graphql cannot make.
//! - [`metrics`]: Prometheus counters.
//! - [`serve`]: the accept loop, with the deadlines and the cap that bound connections.

pub mod cache;
pub mod config;
pub mod documents;
pub mod graphql;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod serve;
pub mod startup;

pub use config::Config;
pub use startup::Application;
