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
//! - [`reconnect`]: how each of them connects, and reconnects with backoff by itself; calls in
//!   flight fail fast when the connection drops.

mod client;
mod events;
mod reconnect;
mod worker;

use lapin::{
    Channel, ExchangeKind,
    options::{ExchangeDeclareOptions, QueueDeclareOptions},
    types::FieldTable,
};

pub use client::AmqpClient;
pub use events::{AmqpPublisher, SubscriberQueue, subscribe};
pub use worker::{ServeOptions, serve};

use crate::Service;

/// `delivery_mode` of requests and replies: they are worth nothing once their caller gave up.
const TRANSIENT: u8 = 1;
/// `delivery_mode` of events: they must survive a broker restart.
const PERSISTENT: u8 = 2;

/// Declares a service's request queue and dead-letter queue. Every side declares them the
/// same way, so whoever comes first creates them and requests wait for a worker to come.
async fn declare_service_queues(channel: &Channel, service: Service) -> lapin::Result<()> {
    for queue in [service.queue(), service.dead_letter_queue()] {
        channel.queue_declare(queue.into(), QueueDeclareOptions::durable(), FieldTable::default()).await?;
    }
    Ok(())
}

async fn declare_events_exchange(channel: &Channel) -> lapin::Result<()> {
    let options = ExchangeDeclareOptions { durable: true, ..ExchangeDeclareOptions::default() };
    channel.exchange_declare(crate::events::EXCHANGE.into(), ExchangeKind::Topic, options, FieldTable::default()).await
}
