//! Events over RabbitMQ: a publisher of persistent, confirmed events on the `events` topic
//! exchange, and subscribers that ack each event after its handler succeeds.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::{
    BasicProperties, Channel, Connection, Consumer,
    message::Delivery,
    options::{
        BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicPublishOptions, BasicQosOptions,
        ConfirmSelectOptions, QueueBindOptions, QueueDeclareOptions,
    },
    types::FieldTable,
};
use tokio_util::sync::CancellationToken;

use super::{
    BROKER_OPERATION_TIMEOUT, PERSISTENT, Settings, Topology, declare_events_exchange,
    reconnect::{Connector, Ended},
};
use crate::{Envelope, Event, EventHandler, EventPublisher, codec, events::EXCHANGE};

/// Publishes events, persistent and confirmed, on the `events` topic exchange. Opens its
/// connection on first use and again after it breaks (the outbox relay calls it again).
pub struct AmqpPublisher {
    connector: Connector,
    link: tokio::sync::Mutex<Option<(Connection, Channel)>>,
}

impl AmqpPublisher {
    pub fn new(settings: &Settings, name: &str) -> Self {
        Self {
            connector: Connector::new(settings.urls.clone(), format!("{name}-events")),
            link: tokio::sync::Mutex::new(None),
        }
    }

    /// The channel to publish on, (re)opened when missing or broken. The lock covers only
    /// this: publishes and their confirms run concurrently on the shared channel.
    async fn channel(&self) -> anyhow::Result<Channel> {
        let mut link = self.link.lock().await;
        if let Some((connection, channel)) = link.as_ref()
            && connection.status().connected()
            && channel.status().connected()
        {
            return Ok(channel.clone());
        }
        let (connection, channel) = self.connector.open(open_publisher).await?;
        *link = Some((connection, channel.clone()));
        Ok(channel)
    }

    /// Sends every event in order, then waits for all their confirms, within
    /// [`BROKER_OPERATION_TIMEOUT`].
    async fn try_publish(&self, envelopes: &[Envelope]) -> anyhow::Result<()> {
        tokio::time::timeout(BROKER_OPERATION_TIMEOUT, self.send_and_confirm(envelopes))
            .await
            .map_err(|_| anyhow::anyhow!("the broker did not confirm the events in time"))?
    }

    async fn send_and_confirm(&self, envelopes: &[Envelope]) -> anyhow::Result<()> {
        let channel = self.channel().await?;
        let mut confirms = Vec::with_capacity(envelopes.len());
        for envelope in envelopes {
            let body = serde_json::to_vec(&envelope.event)?;
            let properties =
                BasicProperties::default().with_content_type(codec::CONTENT_TYPE.into()).with_delivery_mode(PERSISTENT);
            let confirm = channel
                .basic_publish(
                    EXCHANGE.into(),
                    envelope.routing_key.as_str().into(),
                    BasicPublishOptions::default(),
                    &body,
                    properties,
                )
                .await?;
            confirms.push(confirm);
        }
        for confirm in confirms {
            anyhow::ensure!(confirm.await?.is_ack(), "the broker refused an event");
        }
        Ok(())
    }
}

async fn open_publisher(channel: Channel) -> lapin::Result<Channel> {
    channel.confirm_select(ConfirmSelectOptions::default()).await?;
    declare_events_exchange(&channel).await?;
    Ok(channel)
}

#[async_trait]
impl EventPublisher for AmqpPublisher {
    async fn publish(&self, envelopes: &[Envelope]) -> anyhow::Result<()> {
        let published = self.try_publish(envelopes).await;
        if published.is_err() {
            // Whatever broke, the next batch starts on a fresh connection.
            *self.link.lock().await = None;
        }
        published
    }
}

/// Where a subscriber's events wait.
#[derive(Debug, Clone)]
pub enum SubscriberQueue {
    /// A named durable queue: events wait while no subscriber runs (a service's own, or the
    /// one of a shared cache). Subscribers of one such queue share its events.
    Durable {
        name: String,
        /// How long an event waits for a subscriber at most (an event older than a cache's TTL
        /// has nothing left to invalidate).
        ttl: Option<Duration>,
    },
    /// A server-named queue that lives as long as the connection: every subscriber hears every
    /// event (a gateway's kept sessions).
    Transient,
}

/// Hands events matching `keys` to `handler` until `shutdown`; acks each after the handler
/// succeeds, and gives failed ones back to the broker. Reconnects by itself.
///
/// The handler hears [`crate::events::SUBSCRIBED`] each time the queue is (re)made or
/// (re)joined, then [`crate::events::CAUGHT_UP`] once no event waits in the queue any more.
pub async fn subscribe(
    settings: Settings,
    queue: SubscriberQueue,
    keys: Vec<String>,
    handler: EventHandler,
    shutdown: CancellationToken,
) {
    let connector = Connector::new(settings.urls, "events-subscriber".to_owned());
    let topology = settings.topology;
    let (queue, keys, handler, stop) = (&queue, &keys, &handler, &shutdown);
    let session = |(channel, mut consumer): (Channel, Consumer)| async move {
        // Events may have gone by while there was no queue: say so to whoever keeps state.
        notify(handler, crate::events::SUBSCRIBED).await;
        let mut caught_up = false;
        loop {
            if !caught_up && waiting(&channel, &consumer).await == Some(0) {
                caught_up = true;
                notify(handler, crate::events::CAUGHT_UP).await;
            }
            let delivery = tokio::select! {
                () = stop.cancelled() => return Ended::Stopped,
                delivery = consumer.next() => delivery,
                // Not caught up yet: look at the queue again soon, whether or not events come.
                () = tokio::time::sleep(Duration::from_millis(50)), if !caught_up => continue,
            };
            match delivery {
                Some(Ok(delivery)) => handle_event(handler, delivery).await,
                Some(Err(error)) => {
                    tracing::warn!(%error, "event subscriber lost the broker");
                    return Ended::Lost;
                }
                None => return Ended::Lost,
            }
        }
    };
    connector.keep_connected(&shutdown, |channel| open_subscriber(channel, topology, queue, keys), session).await;
}

/// Hands a subscriber's own notice (`SUBSCRIBED`, `CAUGHT_UP`) to its handler.
async fn notify(handler: &EventHandler, notice: &str) {
    if let Err(error) = handler(Envelope::new(notice, uuid::Uuid::nil(), None)).await {
        tracing::error!(error = format!("{error:#}"), notice, "event handler failed on a subscriber notice");
    }
}

/// How many events wait in the consumer's queue (not counting those delivered to consumers
/// and not yet acked); `None` when the broker does not say.
async fn waiting(channel: &Channel, consumer: &Consumer) -> Option<u32> {
    let options = QueueDeclareOptions { passive: true, ..QueueDeclareOptions::default() };
    let queue = consumer.queue();
    channel.queue_declare(queue, options, FieldTable::default()).await.ok().map(|queue| queue.message_count())
}

async fn open_subscriber(
    channel: Channel,
    topology: Topology,
    queue: &SubscriberQueue,
    keys: &[String],
) -> lapin::Result<(Channel, Consumer)> {
    declare_events_exchange(&channel).await?;
    let (name, options, mut arguments, prefetch) = match queue {
        // One event at a time: a paused subscriber holds back one event, not a batch, from
        // its twins.
        SubscriberQueue::Durable { name, .. } => {
            (name.as_str(), QueueDeclareOptions::durable(), topology.durable_queue(), 1)
        }
        SubscriberQueue::Transient => (
            "",
            QueueDeclareOptions { exclusive: true, auto_delete: true, ..QueueDeclareOptions::default() },
            FieldTable::default(),
            16,
        ),
    };
    if let SubscriberQueue::Durable { ttl: Some(ttl), .. } = queue {
        let millis = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
        arguments.insert("x-message-ttl".into(), lapin::types::AMQPValue::LongLongInt(millis));
    }
    let name = channel.queue_declare(name.into(), options, arguments).await?.name().clone();
    for key in keys {
        channel
            .queue_bind(
                name.clone(),
                EXCHANGE.into(),
                key.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
    }
    channel.basic_qos(prefetch, BasicQosOptions::default()).await?;
    let consumer =
        channel.basic_consume(name, "".into(), BasicConsumeOptions::default(), FieldTable::default()).await?;
    Ok((channel, consumer))
}

async fn handle_event(handler: &EventHandler, delivery: Delivery) {
    let event: Event = match serde_json::from_slice(&delivery.data) {
        Ok(event) => event,
        Err(error) => {
            tracing::warn!(%error, routing_key = delivery.routing_key.as_str(), "dropping an undecodable event");
            let _ = tokio::time::timeout(BROKER_OPERATION_TIMEOUT, delivery.ack(BasicAckOptions::default())).await;
            return;
        }
    };
    let envelope = Envelope { routing_key: delivery.routing_key.to_string(), event };
    match handler(envelope).await {
        Ok(()) => {
            let acked = tokio::time::timeout(BROKER_OPERATION_TIMEOUT, delivery.ack(BasicAckOptions::default())).await;
            if !matches!(acked, Ok(Ok(true))) {
                tracing::warn!("event ack not delivered; it will come again (handlers are idempotent)");
            }
        }
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "event handler failed; requeueing");
            // Do not spin on a failing event: give the cause a moment to pass.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let nack = delivery.nack(BasicNackOptions { requeue: true, ..BasicNackOptions::default() });
            let _ = tokio::time::timeout(BROKER_OPERATION_TIMEOUT, nack).await;
        }
    }
}
