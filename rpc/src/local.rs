//! The in-process transport: tokio channels instead of RabbitMQ, for embedded mode and fast
//! tests. Requests and replies still go through the codec, so handlers cannot tell.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::Duration,
};

use async_trait::async_trait;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::Instrument;

use crate::{
    Envelope, EventHandler, EventPublisher, Headers, RpcError, RpcResult, Service, Transport, codec,
    events::topic_matches,
    server::{Refused, Router, message_span},
};

struct LocalRequest {
    method: String,
    headers: Headers,
    body: Vec<u8>,
    reply: oneshot::Sender<Vec<u8>>,
}

/// Connects clients, services and event subscribers living in one process. Cheap to clone.
#[derive(Clone)]
pub struct LocalHub {
    services: Arc<RwLock<HashMap<Service, mpsc::Sender<LocalRequest>>>>,
    events: broadcast::Sender<Envelope>,
}

impl Default for LocalHub {
    fn default() -> Self {
        Self { services: Arc::default(), events: broadcast::channel(1024).0 }
    }
}

impl LocalHub {
    /// Answers requests for `service` with `router` until `shutdown`, then finishes the
    /// requests it holds.
    pub async fn serve<S: crate::RequestState>(
        &self,
        service: Service,
        router: Router<S>,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let (sender, mut requests) = mpsc::channel::<LocalRequest>(1024);
        self.services.write().map_err(|_| anyhow::anyhow!("hub lock poisoned"))?.insert(service, sender);
        let router = Arc::new(router);
        let tracker = TaskTracker::new();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                request = requests.recv() => {
                    let Some(request) = request else { break };
                    // In-process calls carry no correlation id: the reply has its own channel.
                    let span = message_span(&request.method, None);
                    match span.in_scope(|| router.handle(&request.method, request.headers, &request.body)) {
                        Ok(reply) => {
                            tracker.spawn(async move {
                                // The caller may have given up; then nobody wants the reply.
                                let _ = request.reply.send(reply.instrument(span).await);
                            });
                        }
                        // Its caller has given up already: nobody waits for the reply.
                        Err(Refused::Expired) => tracing::debug!(parent: &span, "dropping a request past its deadline"),
                        Err(Refused::Undecodable(error)) => {
                            tracing::warn!(parent: &span, %error, "dropping undecodable in-process request");
                            let _ = request.reply.send(codec::encode_error(&RpcError::internal()));
                        }
                    }
                }
            }
        }
        if let Ok(mut services) = self.services.write() {
            services.remove(&service);
        }
        tracker.close();
        tracker.wait().await;
        Ok(())
    }

    /// Hands every event whose routing key matches one of `keys` to `handler`, until
    /// `shutdown`. In-process events are not durable: they reach subscribers running now.
    pub async fn subscribe(&self, keys: &[&str], handler: EventHandler, shutdown: CancellationToken) {
        let mut events = self.events.subscribe();
        // Nothing waits in process: subscribed is caught up.
        for notice in [crate::events::SUBSCRIBED, crate::events::CAUGHT_UP] {
            if let Err(error) = handler(Envelope::new(notice, uuid::Uuid::nil(), None)).await {
                tracing::error!(error = format!("{error:#}"), "event handler failed");
            }
        }
        loop {
            let envelope = tokio::select! {
                () = shutdown.cancelled() => return,
                envelope = events.recv() => envelope,
            };
            match envelope {
                Ok(envelope) if keys.iter().any(|key| topic_matches(key, &envelope.routing_key)) => {
                    if let Err(error) = handler(envelope).await {
                        tracing::error!(error = format!("{error:#}"), "event handler failed");
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::error!(missed, "in-process event subscriber fell behind");
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}

#[async_trait]
impl Transport for LocalHub {
    async fn call(&self, service: Service, method: &str, headers: Headers, body: Vec<u8>) -> RpcResult<Vec<u8>> {
        let timeout = headers.remaining().unwrap_or(Duration::MAX);
        let sender = self.services.read().ok().and_then(|services| services.get(&service).cloned());
        let Some(sender) = sender else {
            return Err(RpcError::unavailable(format!("the {} service is not running", service.name())));
        };
        let (reply, answer) = oneshot::channel();
        let request = LocalRequest { method: method.to_owned(), headers, body, reply };
        let exchange = async {
            sender.send(request).await.ok()?;
            answer.await.ok()
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(Some(reply)) => Ok(reply),
            Ok(None) => Err(RpcError::unavailable(format!("the {} service stopped", service.name()))),
            Err(_) => Err(RpcError::unavailable(format!("the {} service did not answer in time", service.name()))),
        }
    }

    fn is_connected(&self) -> bool {
        true
    }
}

#[async_trait]
impl EventPublisher for LocalHub {
    async fn publish(&self, envelopes: &[Envelope]) -> anyhow::Result<()> {
        for envelope in envelopes {
            // No subscriber is not an error: nobody needed to hear it.
            let _ = self.events.send(envelope.clone());
        }
        Ok(())
    }
}
