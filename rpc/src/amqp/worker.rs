//! The answering side: a worker consumes its service's queue, handles up to `prefetch`
//! messages at once, and acks each only after its reply is published.

use std::sync::Arc;

use futures_util::StreamExt;
use lapin::{
    BasicProperties, Channel, Consumer,
    message::Delivery,
    options::{BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions},
    types::{AMQPValue, FieldTable, ShortString},
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::Instrument;

use super::{
    BROKER_OPERATION_TIMEOUT, Settings, TRANSIENT, Topology, declare_service_queues,
    reconnect::{Connector, Ended},
};
use crate::{
    Caller, Headers, RpcError, Service, caller, codec, headers,
    server::{Refused, Router, message_span},
};

/// How a worker consumes its queue.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub settings: Settings,
    /// How many messages a worker holds, and so handles at once.
    pub prefetch: u16,
}

/// How long a stopping worker waits for the next of the deliveries the broker had already sent.
const DRAIN_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The largest message copied to a dead-letter queue; a bigger one is logged and dropped.
const DEAD_LETTER_MAX_BYTES: usize = 1024 * 1024;

/// Answers `service`'s queue with `router` until `shutdown`; reconnects whenever the broker
/// goes away. On `shutdown` it stops taking messages, finishes and acks those it holds, and
/// closes the connection.
///
/// The consume loop runs as a task of its own: awaited in place from `main`, it would run on
/// the thread of `block_on`, and every delivery would cost one more thread hand-off to reach
/// the runtime's workers.
pub async fn serve<S: crate::RequestState>(
    options: ServeOptions,
    service: Service,
    router: Router<S>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    tokio::spawn(consume(options, service, router, shutdown)).await?
}

async fn consume<S: crate::RequestState>(
    options: ServeOptions,
    service: Service,
    router: Router<S>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let ServeOptions { settings, prefetch } = options;
    let topology = settings.topology;
    let connector = Connector::new(settings.urls, format!("{}-worker", service.name()));
    let (router, tracker) = (&Arc::new(router), &TaskTracker::new());
    let stop = &shutdown;
    let session = |(channel, mut consumer): (Channel, Consumer)| async move {
        tracing::info!(queue = service.queue(), prefetch, "worker consuming");
        loop {
            tokio::select! {
                () = stop.cancelled() => {
                    // Stop deliveries, then handle what the broker already sent us: the
                    // stream yields those and ends after the cancel. The acks need this
                    // connection, so it stays open until every handler is done. Each wait is
                    // bounded: on a connection that died unnoticed, neither would ever end.
                    let cancel = channel.basic_cancel(consumer.tag(), BasicCancelOptions::default());
                    match tokio::time::timeout(BROKER_OPERATION_TIMEOUT, cancel).await {
                        Ok(Ok(())) => {}
                        Ok(Err(error)) => tracing::warn!(%error, "cannot cancel the consumer"),
                        Err(_) => tracing::warn!("cancelling the consumer hung; stopping anyway"),
                    }
                    while let Ok(Some(Ok(delivery))) = tokio::time::timeout(DRAIN_WAIT, consumer.next()).await {
                        tracker.spawn(handle_delivery(channel.clone(), router.clone(), service, delivery));
                    }
                    tracker.close();
                    tracker.wait().await;
                    return Ended::Stopped;
                }
                delivery = consumer.next() => match delivery {
                    Some(Ok(delivery)) => {
                        tracker.spawn(handle_delivery(channel.clone(), router.clone(), service, delivery));
                    }
                    Some(Err(error)) => {
                        tracing::warn!(%error, "worker lost the broker");
                        return Ended::Lost;
                    }
                    None => return Ended::Lost,
                },
            }
        }
    };
    connector.keep_connected(&shutdown, |channel| open(channel, service, topology, prefetch), session).await;
    // Shutdown may also come while disconnected, with handlers of the last session still
    // running (their acks will fail, and the broker redelivers those messages).
    tracker.close();
    tracker.wait().await;
    tracing::info!(queue = service.queue(), "worker stopped");
    Ok(())
}

async fn open(
    channel: Channel,
    service: Service,
    topology: Topology,
    prefetch: u16,
) -> lapin::Result<(Channel, Consumer)> {
    declare_service_queues(&channel, service, topology).await?;
    channel.basic_qos(prefetch, BasicQosOptions::default()).await?;
    let consumer = channel
        .basic_consume(service.queue().into(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
        .await?;
    Ok((channel, consumer))
}

async fn handle_delivery<S: crate::RequestState>(
    channel: Channel,
    router: Arc<Router<S>>,
    service: Service,
    delivery: Delivery,
) {
    let properties = &delivery.properties;
    let method = properties.kind().as_ref().map(ShortString::as_str).unwrap_or_default();
    let correlation_id = properties.correlation_id().as_ref().map(ShortString::as_str);
    let request = request_headers(&delivery);
    let span = message_span(method, correlation_id);
    let reply = match span.in_scope(|| router.handle(method, request, &delivery.data)) {
        Ok(reply) => Some(reply.instrument(span.clone()).await),
        // Its caller has given up: ack it unanswered.
        Err(Refused::Expired) => {
            tracing::info!(parent: &span, "dropping a request past its deadline");
            None
        }
        Err(Refused::Undecodable(error)) => {
            tracing::warn!(parent: &span, %error, "dead-lettering an undecodable message");
            if let Err(error) = dead_letter(&channel, service, &delivery, &error.reason).await {
                // Leave it unacked: the broker gives it back after we reconnect.
                tracing::error!(parent: &span, %error, "cannot dead-letter; leaving the message to the broker");
                return;
            }
            // Tell the caller at once rather than let it wait for its deadline.
            Some(codec::encode_error(&RpcError::internal()))
        }
    };
    let publish_reply = async {
        let (Some(reply), Some(reply_to)) = (reply, properties.reply_to()) else { return Ok(()) };
        let reply_properties = BasicProperties::default()
            .with_correlation_id(correlation_id.unwrap_or_default().into())
            .with_content_type(codec::CONTENT_TYPE.into())
            .with_delivery_mode(TRANSIENT);
        let options = BasicPublishOptions::default();
        channel.basic_publish("".into(), reply_to.clone(), options, &reply, reply_properties).await.map(drop)
    };
    // The ack goes out on the same channel right behind the reply (`join!` queues the reply's
    // frames first), so the broker sees it only after the reply; and if the reply cannot be
    // written, neither can the ack, and the broker redelivers. Waiting for both at once costs
    // one hand-off with the connection's thread instead of two.
    let both = async { tokio::join!(publish_reply, delivery.ack(BasicAckOptions::default())) };
    let Ok((published, acked)) = tokio::time::timeout(BROKER_OPERATION_TIMEOUT, both).await else {
        tracing::warn!(parent: &span, "the reply and ack hung (a dead connection); the broker will redeliver");
        return;
    };
    if let Err(error) = published {
        tracing::warn!(parent: &span, %error, "cannot publish the reply; the request will be redelivered");
        return;
    }
    match acked {
        Ok(true) => {}
        // After a reconnect the delivery tag belongs to a dead channel: the broker redelivers.
        Ok(false) => tracing::warn!(parent: &span, "ack not delivered; the broker will redeliver"),
        Err(error) => tracing::warn!(parent: &span, %error, "cannot ack; the broker will redeliver"),
    }
}

/// The headers of a delivered request. A missing or unreadable `x-caller` is anonymous; a
/// missing `x-deadline`, none (a sender of an older version: its `expiration` still holds).
fn request_headers(delivery: &Delivery) -> Headers {
    let properties = &delivery.properties;
    let table = properties.headers().as_ref().map(|headers| headers.inner());
    let text = |name: &str| match table?.get(name)? {
        AMQPValue::LongString(text) => Some(text.to_string()),
        _ => None,
    };
    let deadline = table.and_then(|table| match table.get(headers::DEADLINE)? {
        AMQPValue::LongLongInt(millis) => Some(headers::from_millis(*millis)),
        _ => None,
    });
    Headers {
        caller: text(caller::HEADER).map(|value| Caller::from_header(&value)).unwrap_or_default(),
        request_id: properties.message_id().as_ref().and_then(|id| uuid::Uuid::try_parse(id.as_str()).ok()),
        input: text(headers::INPUT),
        deadline,
        redelivered: delivery.redelivered,
    }
}

/// Moves an undecodable message to the service's dead-letter queue, keeping it transient
/// (it may hold a password) and noting why in a header. One too big to keep is dropped: the
/// dead-letter queue is for a human to read, and is bounded.
async fn dead_letter(channel: &Channel, service: Service, delivery: &Delivery, reason: &str) -> lapin::Result<()> {
    if delivery.data.len() > DEAD_LETTER_MAX_BYTES {
        tracing::warn!(bytes = delivery.data.len(), reason, "dropping an undecodable message too big to dead-letter");
        return Ok(());
    }
    let mut headers = FieldTable::default();
    headers.insert("x-rpc-error".into(), AMQPValue::LongString(reason.into()));
    // Keep what tells the message apart, not the expiration: a dead letter waits for a human.
    let original = &delivery.properties;
    let mut properties = BasicProperties::default().with_headers(headers).with_delivery_mode(TRANSIENT);
    if let Some(method) = original.kind() {
        properties = properties.with_type(method.clone());
    }
    if let Some(correlation_id) = original.correlation_id() {
        properties = properties.with_correlation_id(correlation_id.clone());
    }
    channel
        .basic_publish(
            "".into(),
            service.dead_letter_queue().into(),
            BasicPublishOptions::default(),
            &delivery.data,
            properties,
        )
        .await?;
    Ok(())
}
