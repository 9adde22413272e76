//! The wire contract between the gateway and the services, and its plumbing.
//!
//! - [`users`], [`orders`]: one serde struct per method; each names its service and method
//!   through [`Method`] right beside it.
//! - [`error`]: the error codes of the contract and [`RpcError`], which every call can answer.
//! - [`codec`]: the bytes on the wire, shared by both transports.
//! - [`client`]: [`RpcClient`], typed calls over any [`Transport`].
//! - [`server`]: [`Router`], which dispatches a raw message to a plain async handler.
//! - [`amqp`] (RabbitMQ) and [`local`] (in-process channels): the two transports.
//! - [`events`]: what services announce about their commits, on the `events` topic exchange.
//! - [`headers`]: what travels with a request beside its body (caller, request id, deadline).
//! - [`money`]: exact money as cents.
//!
//! [`Broker`] picks a transport once, at start-up, and hands out clients, publishers,
//! serve loops and subscriptions over it. Nothing here knows sea-orm or GraphQL.

pub mod amqp;
pub mod bounds;
pub mod caller;
pub mod client;
pub mod codec;
pub mod error;
pub mod events;
pub mod headers;
pub mod local;
mod method;
pub mod money;
pub mod orders;
mod page;
pub mod process;
pub mod server;
pub mod time;
pub mod users;

use std::{sync::Arc, time::Duration};

use tokio_util::sync::CancellationToken;

pub use caller::Caller;
pub use client::{RpcClient, Transport};
pub use error::{ErrorCode, RpcError, RpcResult};
pub use events::{Envelope, Event, EventHandler, EventPublisher};
pub use headers::Headers;
pub use method::{Method, PING, Ping, Service};
pub use page::{Page, PageExtras};
pub use server::{Refused, RequestState, Router};

/// The transport a process uses, chosen once from its configuration.
#[derive(Clone)]
pub enum Broker {
    /// RabbitMQ at these addresses (vhost included), its queues declared so.
    Amqp(amqp::Settings),
    /// Everything in this process.
    Local(local::LocalHub),
}

impl Broker {
    /// RabbitMQ when `AMQP_URL` is set (one address or several, comma-separated), its queues
    /// declared as `topology` says; otherwise a fresh in-process hub.
    pub fn from_url(url: Option<&str>, topology: amqp::Topology) -> Self {
        match url {
            Some(url) => Self::Amqp(amqp::Settings::new(url, topology)),
            None => Self::Local(local::LocalHub::default()),
        }
    }

    /// RabbitMQ at `url` (one address or several, comma-separated) with classic queues.
    pub fn amqp(url: &str) -> Self {
        Self::from_url(Some(url), amqp::Topology::default())
    }

    pub fn is_embedded(&self) -> bool {
        matches!(self, Self::Local(_))
    }

    /// A client whose calls give up after `timeout`. `name` tells connections apart.
    pub fn client(&self, name: &str, timeout: Duration) -> RpcClient {
        let transport: Arc<dyn Transport> = match self {
            Self::Amqp(settings) => Arc::new(amqp::AmqpClient::start(settings, name)),
            Self::Local(hub) => Arc::new(hub.clone()),
        };
        RpcClient::new(transport, timeout)
    }

    pub fn publisher(&self, name: &str) -> Arc<dyn EventPublisher> {
        match self {
            Self::Amqp(settings) => Arc::new(amqp::AmqpPublisher::new(settings, name)),
            Self::Local(hub) => Arc::new(hub.clone()),
        }
    }

    /// Answers `service`'s requests with `router` until `shutdown`, then finishes what it holds.
    pub async fn serve<S: crate::RequestState>(
        &self,
        service: Service,
        router: Router<S>,
        prefetch: u16,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        match self {
            Self::Amqp(settings) => {
                amqp::serve(amqp::ServeOptions { settings: settings.clone(), prefetch }, service, router, shutdown)
                    .await
            }
            Self::Local(hub) => hub.serve(service, router, shutdown).await,
        }
    }

    /// Hands events matching `keys` to `handler` until `shutdown`. With a durable `queue`,
    /// events wait in it while nobody listens (over RabbitMQ).
    pub async fn subscribe(
        &self,
        queue: amqp::SubscriberQueue,
        keys: &[&str],
        handler: EventHandler,
        shutdown: CancellationToken,
    ) {
        match self {
            Self::Amqp(settings) => {
                let keys = keys.iter().map(|key| (*key).to_owned()).collect();
                amqp::subscribe(settings.clone(), queue, keys, handler, shutdown).await;
            }
            Self::Local(hub) => hub.subscribe(keys, handler, shutdown).await,
        }
    }
}
