//! The calling side: requests on the services' queues, replies on one exclusive queue per
//! process, matched to their callers by correlation id.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use async_trait::async_trait;
use futures_util::StreamExt;
use lapin::{
    BasicProperties, Channel, Consumer,
    message::Delivery,
    options::{BasicConsumeOptions, BasicPublishOptions, QueueDeclareOptions},
    types::{AMQPValue, FieldTable, ShortString},
};
use tokio::{
    sync::{Notify, oneshot, watch},
    time::Instant,
};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::{
    Settings, TRANSIENT, Topology, declare_service_queues,
    reconnect::{Connector, Ended},
};
use crate::{Headers, RpcError, RpcResult, Service, Transport, caller, codec, headers};

/// What a connected client publishes on.
#[derive(Clone)]
struct Link {
    channel: Channel,
    reply_queue: ShortString,
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Vec<u8>>>>>;

/// After this many calls in a row timed out with no reply to anything in between, the link is
/// taken for dead though the connection looks alive (seen once a cluster node was killed: a
/// reconnected channel whose requests went nowhere), and the client connects again.
const STUCK_AFTER: u32 = 3;

/// Whether replies still come: counts the calls that timed out since the last reply.
#[derive(Default)]
struct Liveness {
    unanswered: AtomicU32,
    stuck: Notify,
}

impl Liveness {
    fn answered(&self) {
        self.unanswered.store(0, Ordering::Relaxed);
    }

    fn timed_out(&self) {
        if self.unanswered.fetch_add(1, Ordering::Relaxed) + 1 >= STUCK_AFTER {
            self.stuck.notify_one();
        }
    }

    fn is_stuck(&self) -> bool {
        self.unanswered.load(Ordering::Relaxed) >= STUCK_AFTER
    }
}

/// The calling side over RabbitMQ. Connects in the background and keeps reconnecting; calls
/// made while disconnected wait for the link until their deadline.
pub struct AmqpClient {
    link: watch::Receiver<Option<Link>>,
    pending: Pending,
    liveness: Arc<Liveness>,
    supervisor: tokio::task::JoinHandle<()>,
}

impl AmqpClient {
    /// Starts connecting to the broker of `settings` in the background; returns at once.
    pub fn start(settings: &Settings, name: &str) -> Self {
        let (link_sender, link) = watch::channel(None);
        let pending = Pending::default();
        let connector = Connector::new(settings.urls.clone(), name.to_owned());
        let liveness = Arc::new(Liveness::default());
        let supervisor =
            tokio::spawn(supervise(connector, settings.topology, link_sender, pending.clone(), liveness.clone()));
        Self { link, pending, liveness, supervisor }
    }

    async fn current_link(&self, deadline: Instant) -> Option<Link> {
        let mut link = self.link.clone();
        let ready = tokio::time::timeout_at(deadline, link.wait_for(Option::is_some)).await;
        ready.ok()?.ok()?.clone()
    }
}

impl Drop for AmqpClient {
    fn drop(&mut self) {
        // The client has no shutdown of its own: it lives as long as its owner.
        self.supervisor.abort();
    }
}

async fn supervise(
    connector: Connector,
    topology: Topology,
    link: watch::Sender<Option<Link>>,
    pending: Pending,
    liveness: Arc<Liveness>,
) {
    let (link, pending, liveness) = (&link, &pending, &liveness);
    let session = |(new_link, mut replies): (Link, Consumer)| async move {
        tracing::info!(reply_queue = new_link.reply_queue.as_str(), "RPC client connected to the broker");
        liveness.answered();
        link.send_replace(Some(new_link));
        loop {
            let reply = tokio::select! {
                reply = replies.next() => reply,
                () = liveness.stuck.notified() => {
                    if !liveness.is_stuck() {
                        continue;
                    }
                    tracing::warn!(calls = STUCK_AFTER, "no reply to the last calls; connecting again");
                    break;
                }
            };
            match reply {
                Some(Ok(reply)) => {
                    liveness.answered();
                    deliver_reply(pending, reply);
                }
                Some(Err(error)) => {
                    tracing::warn!(%error, "RPC client lost the broker");
                    break;
                }
                None => break,
            }
        }
        link.send_replace(None);
        // The reply queue died with the connection: nothing in flight can be answered any
        // more, so fail those calls now rather than at their deadline.
        pending.lock().map(|mut pending| pending.clear()).ok();
        Ended::Lost
    };
    // Never cancelled: dropping the client aborts this task.
    connector.keep_connected(&CancellationToken::new(), |channel| open(channel, topology), session).await;
}

async fn open(channel: Channel, topology: Topology) -> lapin::Result<(Link, Consumer)> {
    for service in Service::ALL {
        declare_service_queues(&channel, service, topology).await?;
    }
    let options = QueueDeclareOptions { exclusive: true, auto_delete: true, ..QueueDeclareOptions::default() };
    let reply_queue = channel.queue_declare("".into(), options, FieldTable::default()).await?.name().clone();
    let consume = BasicConsumeOptions { no_ack: true, ..BasicConsumeOptions::default() };
    let replies = channel.basic_consume(reply_queue.clone(), "".into(), consume, FieldTable::default()).await?;
    Ok((Link { channel, reply_queue }, replies))
}

fn deliver_reply(pending: &Pending, reply: Delivery) {
    let Some(correlation_id) = reply.properties.correlation_id() else { return };
    let waiter = pending.lock().ok().and_then(|mut pending| pending.remove(correlation_id.as_str()));
    match waiter {
        // The caller may have given up between the lookup and now; that is fine.
        Some(waiter) => drop(waiter.send(reply.data)),
        None => tracing::debug!(correlation_id = correlation_id.as_str(), "dropping a reply nobody waits for"),
    }
}

/// Removes a call's entry from the pending map however the call ends.
struct PendingGuard<'a> {
    pending: &'a Pending,
    correlation_id: String,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.remove(&self.correlation_id);
        }
    }
}

#[async_trait]
impl Transport for AmqpClient {
    async fn call(&self, service: Service, method: &str, request: Headers, body: Vec<u8>) -> RpcResult<Vec<u8>> {
        // The deadline travels as wall-clock time; the wait here runs on the monotonic clock.
        let deadline = Instant::now() + request.remaining().unwrap_or(Duration::from_secs(3600));
        let unavailable = || RpcError::unavailable(format!("the {} service did not answer in time", service.name()));
        let link = self.current_link(deadline).await.ok_or_else(unavailable)?;

        let correlation_id = Uuid::now_v7().simple().to_string();
        let (sender, answer) = oneshot::channel();
        self.pending.lock().map_err(|_| RpcError::internal())?.insert(correlation_id.clone(), sender);
        let _guard = PendingGuard { pending: &self.pending, correlation_id: correlation_id.clone() };

        // The request may only be taken while its caller still waits.
        let expiration = deadline.saturating_duration_since(Instant::now()).as_millis().max(1);
        let mut headers = FieldTable::default();
        headers.insert(caller::HEADER.into(), AMQPValue::LongString(request.caller.to_header().into()));
        if let Some(deadline) = request.deadline {
            headers.insert(headers::DEADLINE.into(), AMQPValue::LongLongInt(headers::to_millis(deadline)));
        }
        if let Some(input) = request.input {
            headers.insert(headers::INPUT.into(), AMQPValue::LongString(input.into()));
        }
        let mut properties = BasicProperties::default();
        if let Some(request_id) = request.request_id {
            properties = properties.with_message_id(request_id.simple().to_string().into());
        }
        let properties = properties
            .with_headers(headers)
            .with_correlation_id(correlation_id.into())
            .with_reply_to(link.reply_queue.clone())
            .with_type(method.into())
            .with_content_type(codec::CONTENT_TYPE.into())
            .with_expiration(expiration.to_string().into())
            .with_delivery_mode(TRANSIENT);
        let published = link
            .channel
            .basic_publish("".into(), service.queue().into(), BasicPublishOptions::default(), &body, properties)
            .await;
        if let Err(error) = published {
            tracing::warn!(%error, service = service.name(), "cannot publish request");
            return Err(unavailable());
        }
        match tokio::time::timeout_at(deadline, answer).await {
            Ok(Ok(reply)) => Ok(reply),
            // The sender was dropped: the connection went away under the call.
            Ok(Err(_)) => {
                Err(RpcError::unavailable(format!("lost the broker while calling the {} service", service.name())))
            }
            Err(_) => {
                self.liveness.timed_out();
                Err(unavailable())
            }
        }
    }

    fn is_connected(&self) -> bool {
        self.link.borrow().is_some()
    }
}
