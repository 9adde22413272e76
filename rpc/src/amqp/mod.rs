//! The RabbitMQ transport (lapin), as `DESIGN.md` describes it:
//!
//! - [`client`]: requests go through the default exchange to the service's durable queue,
//!   transient, with `correlation_id`, `reply_to`, `type` = method and `expiration` = the time
//!   the caller still waits, so a request nobody took in time is dropped, never run late; each
//!   client process has one exclusive, server-named reply queue and a map of correlation id →
//!   waiting call; unknown ids are dropped;
//! - [`worker`]: workers prefetch, handle messages concurrently up to the prefetch, and ack
//!   only after the reply is published; undecodable messages go to the service's dead-letter
//!   queue;
//! - [`events`]: the publisher and subscribers of the `events` topic exchange;
//! - [`reconnect`]: how each of them connects, to one of several broker addresses, and
//!   reconnects with backoff by itself; calls in flight fail fast when the connection drops;
//! - [`Topology`]: how the durable queues are declared: classic, or quorum queues for a
//!   cluster (`AMQP_QUEUE_TYPE=quorum`), where a request delivered too often is dead-lettered.

mod client;
mod events;
mod reconnect;
mod worker;

use lapin::{
    Channel, ExchangeKind,
    options::{ExchangeDeclareOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable},
};

pub use client::AmqpClient;
pub use events::{AmqpPublisher, SubscriberQueue, subscribe};
pub use worker::{ServeOptions, serve};

use crate::Service;

/// The kind of the durable queues (requests, dead letters, services' event queues):
/// `AMQP_QUEUE_TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueueType {
    /// One node's queues: what a single broker runs.
    #[default]
    Classic,
    /// Raft-replicated queues: what a cluster runs, so that losing a node loses no queue.
    Quorum,
}

impl std::str::FromStr for QueueType {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "classic" => Ok(Self::Classic),
            "quorum" => Ok(Self::Quorum),
            other => Err(format!("a queue type is `classic` or `quorum`, not {other:?}")),
        }
    }
}

/// How the durable queues are declared. Every side declares them alike (whoever comes first
/// creates them), so every process of a deployment must be given the same: every binary reads
/// it from the same environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::Args)]
pub struct Topology {
    /// `classic`, or `quorum` for a RabbitMQ cluster (replicated queues that survive a node).
    #[arg(long = "amqp-queue-type", env = "AMQP_QUEUE_TYPE", default_value = "classic")]
    pub queue_type: QueueType,
    /// Quorum queues: after this many deliveries a request goes to the dead-letter queue
    /// rather than to yet another worker (a message that crashes every worker that takes it).
    #[arg(long = "amqp-delivery-limit", env = "AMQP_DELIVERY_LIMIT", default_value_t = Topology::DELIVERY_LIMIT)]
    pub delivery_limit: u32,
}

impl Default for Topology {
    fn default() -> Self {
        Self { queue_type: QueueType::Classic, delivery_limit: Self::DELIVERY_LIMIT }
    }
}

impl Topology {
    /// `AMQP_DELIVERY_LIMIT`'s default.
    pub const DELIVERY_LIMIT: u32 = 5;
    /// The most messages a dead-letter queue keeps; the oldest go first.
    pub const DEAD_LETTERS_KEPT: i64 = 10_000;
    /// The most bytes a dead-letter queue keeps, all messages together; the oldest go first.
    pub const DEAD_LETTER_BYTES_KEPT: i64 = 16 * 1024 * 1024;

    /// The arguments of a durable queue of this topology.
    fn durable_queue(self) -> FieldTable {
        let mut arguments = FieldTable::default();
        if self.queue_type == QueueType::Quorum {
            arguments.insert("x-queue-type".into(), AMQPValue::LongString("quorum".into()));
        }
        arguments
    }

    /// A service's request queue: with quorum queues, a request delivered `delivery_limit`
    /// times goes to the dead-letter queue.
    fn request_queue(self, service: Service) -> FieldTable {
        let mut arguments = self.durable_queue();
        if self.queue_type == QueueType::Quorum {
            arguments.insert("x-delivery-limit".into(), AMQPValue::LongLongInt(self.delivery_limit.into()));
            arguments.insert("x-dead-letter-exchange".into(), AMQPValue::LongString("".into()));
            arguments
                .insert("x-dead-letter-routing-key".into(), AMQPValue::LongString(service.dead_letter_queue().into()));
        }
        arguments
    }

    /// A dead-letter queue: bounded in count and bytes, the oldest dropped first, so a flood
    /// of bad messages cannot fill the broker's disk.
    fn dead_letter_queue(self) -> FieldTable {
        let mut arguments = self.durable_queue();
        arguments.insert("x-max-length".into(), AMQPValue::LongLongInt(Self::DEAD_LETTERS_KEPT));
        arguments.insert("x-max-length-bytes".into(), AMQPValue::LongLongInt(Self::DEAD_LETTER_BYTES_KEPT));
        arguments.insert("x-overflow".into(), AMQPValue::LongString("drop-head".into()));
        arguments
    }
}

/// Where a process connects: one or more addresses of one broker or cluster (`AMQP_URL`,
/// comma-separated), tried in turn, and how its queues are declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub urls: Vec<String>,
    pub topology: Topology,
}

impl Settings {
    /// `AMQP_URL` (one address or several, comma-separated), its queues declared so.
    pub fn new(url: &str, topology: Topology) -> Self {
        Self { urls: split_urls(url), topology }
    }
}

/// The addresses of a comma-separated `AMQP_URL`.
pub fn split_urls(url: &str) -> Vec<String> {
    url.split(',').map(str::trim).filter(|url| !url.is_empty()).map(str::to_owned).collect()
}

/// The longest a publish, a confirm or an ack may take. On a connection that died under it
/// (a cluster node killed), lapin may never settle one: bounded, the caller gives up and
/// reconnects instead of waiting forever.
const BROKER_OPERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// `delivery_mode` of requests and replies: they are worth nothing once their caller gave up.
const TRANSIENT: u8 = 1;
/// `delivery_mode` of events: they must survive a broker restart.
const PERSISTENT: u8 = 2;

/// Declares a service's request queue and dead-letter queue. Every side declares them the
/// same way, so whoever comes first creates them and requests wait for a worker to come.
async fn declare_service_queues(channel: &Channel, service: Service, topology: Topology) -> lapin::Result<()> {
    let durable = QueueDeclareOptions::durable();
    channel.queue_declare(service.dead_letter_queue().into(), durable, topology.dead_letter_queue()).await?;
    channel.queue_declare(service.queue().into(), durable, topology.request_queue(service)).await?;
    Ok(())
}

async fn declare_events_exchange(channel: &Channel) -> lapin::Result<()> {
    let options = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    channel.exchange_declare(crate::events::EXCHANGE.into(), ExchangeKind::Topic, options, FieldTable::default()).await
}
