//! The calling side: [`RpcClient`] encodes a typed request, hands it to a [`Transport`] and
//! decodes the answer.

use std::{
    sync::Arc,
    time::{Duration, SystemTime},
};

use async_trait::async_trait;
use uuid::Uuid;

use crate::{Caller, Headers, Method, PING, RpcError, RpcResult, Service};

/// Carries one encoded request to a service and brings its encoded reply back.
#[async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Sends `body` to `service` as `method` with `headers`, and waits for the reply until
    /// `headers.deadline` (which [`RpcClient`] always sets). Every failure to get an answer in
    /// time is SERVICE_UNAVAILABLE.
    async fn call(&self, service: Service, method: &str, headers: Headers, body: Vec<u8>) -> RpcResult<Vec<u8>>;

    /// Whether the transport can carry calls right now (connected to the broker).
    fn is_connected(&self) -> bool;
}

/// Called once per RPC sent, with its service and method: the gateway counts them.
pub type CallObserver = Arc<dyn Fn(Service, &'static str) + Send + Sync>;

/// A typed RPC client whose calls are made for one [`Caller`] (anonymous until
/// [`RpcClient::as_caller`] says otherwise). Cheap to clone.
///
/// Every call gets a request id of its own (or the one [`RpcClient::idempotent`] gives) and a
/// deadline: `timeout` from now, or the one [`RpcClient::within`] sets if that comes first.
#[derive(Clone)]
pub struct RpcClient {
    transport: Arc<dyn Transport>,
    timeout: Duration,
    observer: Option<CallObserver>,
    caller: Caller,
    deadline: Option<SystemTime>,
    idempotency: Option<(Uuid, String)>,
}

impl RpcClient {
    /// Every call through this client gives up after `timeout` (`RPC_TIMEOUT_MS`).
    pub fn new(transport: Arc<dyn Transport>, timeout: Duration) -> Self {
        Self { transport, timeout, observer: None, caller: Caller::Anonymous, deadline: None, idempotency: None }
    }

    pub fn with_observer(mut self, observer: CallObserver) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The same client, its calls made for `caller`.
    pub fn as_caller(&self, caller: Caller) -> Self {
        Self { caller, ..self.clone() }
    }

    /// The same client, its calls due by `deadline` at the latest (the deadline of the request
    /// they are made for).
    pub fn within(&self, deadline: Option<SystemTime>) -> Self {
        Self { deadline, ..self.clone() }
    }

    /// The same client, its calls sent as request `request_id` with input fingerprint `input`:
    /// a client's retry. The service answers a request id it has answered before with that
    /// answer, and refuses it with BAD_USER_INPUT when `input` differs.
    pub fn idempotent(&self, request_id: Uuid, input: String) -> Self {
        Self { idempotency: Some((request_id, input)), ..self.clone() }
    }

    pub fn caller(&self) -> Caller {
        self.caller
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn is_connected(&self) -> bool {
        self.transport.is_connected()
    }

    /// Calls `M::NAME` on `M::SERVICE` and decodes its answer.
    pub async fn call<M: Method>(&self, request: &M) -> RpcResult<M::Response> {
        let body = serde_json::to_vec(request).map_err(|error| {
            tracing::error!(%error, method = M::NAME, "cannot encode request");
            RpcError::internal()
        })?;
        self.call_raw(M::SERVICE, M::NAME, body).await.and_then(|reply| crate::codec::decode_reply(&reply))
    }

    /// Asks `service` whether it answers at all.
    pub async fn ping(&self, service: Service) -> RpcResult<()> {
        let reply = self.call_raw(service, PING, b"null".to_vec()).await?;
        crate::codec::decode_reply(&reply)
    }

    async fn call_raw(&self, service: Service, method: &'static str, body: Vec<u8>) -> RpcResult<Vec<u8>> {
        if let Some(observer) = &self.observer {
            observer(service, method);
        }
        let own = SystemTime::now() + self.timeout;
        let deadline = self.deadline.map_or(own, |outer| outer.min(own));
        let (request_id, input) = match &self.idempotency {
            Some((id, input)) => (*id, Some(input.clone())),
            None => (Uuid::now_v7(), None),
        };
        let headers = Headers {
            caller: self.caller,
            request_id: Some(request_id),
            input,
            deadline: Some(deadline),
            redelivered: false,
        };
        self.transport.call(service, method, headers, body).await
    }
}
