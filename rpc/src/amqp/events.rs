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
    PERSISTENT, declare_events_exchange,
    reconnect::{Connector, Ended},
};
use crate::{Envelope, Event, EventHandler, EventPublisher, codec, events::EXCHANGE};

/// Publishes events, persistent and confirmed, on the `events` topic exchange. Opens its
/// connection on first use and again after it breaks: an event is published right after a
/// commit, so it cannot wait for a background reconnect.
pub struct AmqpPublisher {
    connector: Connector,
    link: tokio::sync::Mutex<Option<(Connection, Channel)>>,
}

impl AmqpPublisher {
    pub fn new(url: String, name: &str) -> Self {
        Self { connector: Connector::new(url, format!("{name}-events")), link: tokio::sync::Mutex::new(None) }
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

    async fn try_publish(&self, envelope: &Envelope) -> anyhow::Result<()> {
        let channel = self.channel().await?;
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
            .await?
            .await?;
        anyhow::ensure!(confirm.is_ack(), "the broker refused the event");
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
    async fn publish(&self, envelope: Envelope) {
        // One retry covers a connection that broke since the last event.
        for attempt in 1..=2 {
            match self.try_publish(&envelope).await {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        attempt,
                        routing_key = envelope.routing_key,
                        "cannot publish event"
                    );
                    *self.link.lock().await = None;
                }
            }
        }
        tracing::error!(routing_key = envelope.routing_key, id = %envelope.event.id, "event lost");
    }
}

/// Where a subscriber's events wait.
#[derive(Debug, Clone)]
pub enum SubscriberQueue {
    /// A named durable queue: events wait while the subscriber is down (a service's own).
    Durable(String),
    /// A server-named queue that lives as long as the connection (a gateway's cache).
    Transient,
}

/// Hands events matching `keys` to `handler` until `shutdown`; acks each after the handler
/// succeeds, and gives failed ones back to the broker. Reconnects by itself.
pub async fn subscribe(
    url: String,
    queue: SubscriberQueue,
    keys: Vec<String>,
    handler: EventHandler,
    shutdown: CancellationToken,
) {
    let connector = Connector::new(url, "events-subscriber".to_owned());
    let (queue, keys, handler, stop) = (&queue, &keys, &handler, &shutdown);
    let session = |mut consumer: Consumer| async move {
        // Events may have gone by while there was no queue: say so to whoever keeps state.
        let subscribed = Envelope::new(crate::events::SUBSCRIBED, uuid::Uuid::nil(), None);
        if let Err(error) = handler(subscribed).await {
            tracing::error!(error = format!("{error:#}"), "event handler failed on (re)subscribing");
        }
        loop {
            let delivery = tokio::select! {
                () = stop.cancelled() => return Ended::Stopped,
                delivery = consumer.next() => delivery,
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
    connector.keep_connected(&shutdown, |channel| open_subscriber(channel, queue, keys), session).await;
}

async fn open_subscriber(channel: Channel, queue: &SubscriberQueue, keys: &[String]) -> lapin::Result<Consumer> {
    declare_events_exchange(&channel).await?;
    let (name, options) = match queue {
        SubscriberQueue::Durable(name) => (name.as_str(), QueueDeclareOptions::durable()),
        SubscriberQueue::Transient => {
            ("", QueueDeclareOptions { exclusive: true, auto_delete: true, ..QueueDeclareOptions::default() })
        }
    };
    let name = channel.queue_declare(name.into(), options, FieldTable::default()).await?.name().clone();
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
    channel.basic_qos(16, BasicQosOptions::default()).await?;
    channel.basic_consume(name, "".into(), BasicConsumeOptions::default(), FieldTable::default()).await
}

async fn handle_event(handler: &EventHandler, delivery: Delivery) {
    let event: Event = match serde_json::from_slice(&delivery.data) {
        Ok(event) => event,
        Err(error) => {
            tracing::warn!(%error, routing_key = delivery.routing_key.as_str(), "dropping an undecodable event");
            let _ = delivery.ack(BasicAckOptions::default()).await;
            return;
        }
    };
    let envelope = Envelope { routing_key: delivery.routing_key.to_string(), event };
    match handler(envelope).await {
        Ok(()) => {
            if !matches!(delivery.ack(BasicAckOptions::default()).await, Ok(true)) {
                tracing::warn!("event ack not delivered; it will come again (handlers are idempotent)");
            }
        }
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "event handler failed; requeueing");
            // Do not spin on a failing event: give the cause a moment to pass.
            tokio::time::sleep(Duration::from_secs(1)).await;
            let _ = delivery.nack(BasicNackOptions { requeue: true, ..BasicNackOptions::default() }).await;
        }
    }
}
