//! The answering side: a [`Router`] maps method names to handlers. Both transports feed it
//! raw messages, so a handler runs the same way over RabbitMQ and in-process.

use std::{collections::HashMap, future::Future, panic::AssertUnwindSafe, sync::Arc};

use futures_util::{FutureExt, future::BoxFuture};
use serde_json::error::Category;
use tracing::{Span, field::Empty};

use crate::{Headers, Method, PING, RpcError, RpcResult, codec};

type Route<S> = Arc<dyn Fn(S, &[u8]) -> Result<BoxFuture<'static, Vec<u8>>, DecodeError> + Send + Sync>;
type Health<S> = Arc<dyn Fn(S) -> BoxFuture<'static, RpcResult<()>> + Send + Sync>;

/// Why a message is not handled.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// Not a request of this service: transports park it in a dead-letter queue.
    #[error(transparent)]
    Undecodable(#[from] DecodeError),
    /// Its deadline passed before it could start: its caller has given up, so nobody wants
    /// its answer, and running it late could overwrite a newer write.
    #[error("the request's deadline passed before it started")]
    Expired,
}

/// A message that is not a request of this service: unknown method or a body that does not
/// decode. Transports park it in a dead-letter queue rather than answer it.
#[derive(Debug, thiserror::Error)]
#[error("undecodable message for method {method:?}: {reason}")]
pub struct DecodeError {
    pub method: String,
    pub reason: String,
}

/// Why a body is not a request, quoting none of its values: serde's own messages quote the
/// value they refused (`invalid type: string "hunter2"`), and this reason is logged.
fn decode_reason(error: &serde_json::Error) -> String {
    let what = match error.classify() {
        Category::Syntax => "not JSON",
        Category::Eof => "truncated JSON",
        Category::Data => "not a request of this method",
        Category::Io => "unreadable",
    };
    format!("{what} (line {}, column {})", error.line(), error.column())
}

/// Opens the span one message is handled in, whichever transport carried it: its method and,
/// where the transport has one, its correlation id. The id is declared empty and recorded
/// after, so that every message's span has the same fields.
pub fn message_span(method: &str, correlation_id: Option<&str>) -> Span {
    let span = tracing::info_span!("rpc", method, correlation_id = Empty);
    if let Some(correlation_id) = correlation_id {
        span.record("correlation_id", correlation_id);
    }
    span
}

/// A service's state, as each handler gets it: the same for every request but its headers
/// (who it is for, its id, its deadline).
pub trait RequestState: Clone + Send + Sync + 'static {
    /// This state, for the request with `headers`.
    fn for_request(&self, headers: Headers) -> Self;
}

/// Shared state that does not care who asks (a test's fake service, say).
impl<T: Send + Sync + 'static> RequestState for Arc<T> {
    fn for_request(&self, _headers: Headers) -> Self {
        self.clone()
    }
}

impl RequestState for () {
    fn for_request(&self, _headers: Headers) -> Self {}
}

/// Dispatches requests to plain async handlers `fn(request, state) -> RpcResult<response>`,
/// the state made for the request's headers.
pub struct Router<S> {
    state: S,
    routes: HashMap<&'static str, Route<S>>,
    health: Option<Health<S>>,
}

impl<S: RequestState> Router<S> {
    pub fn new(state: S) -> Self {
        Self { state, routes: HashMap::new(), health: None }
    }

    /// Answers [`PING`] with `check` (can the service reach its database?) instead of at once,
    /// so that a gateway's readiness tells the truth about the service.
    pub fn health<F, Fut>(mut self, check: F) -> Self
    where
        F: Fn(S) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = RpcResult<()>> + Send + 'static,
    {
        self.health = Some(Arc::new(move |state| check(state).boxed()));
        self
    }

    /// Answers `M::NAME` with `handler`.
    pub fn route<M, F, Fut>(mut self, handler: F) -> Self
    where
        M: Method,
        F: Fn(M, S) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = RpcResult<M::Response>> + Send + 'static,
    {
        let route: Route<S> = Arc::new(move |state, body| {
            let request: M = serde_json::from_slice(body)
                .map_err(|error| DecodeError { method: M::NAME.to_owned(), reason: decode_reason(&error) })?;
            let reply = handler(request, state);
            Ok(async move { codec::encode_reply(&reply.await) }.boxed())
        });
        self.routes.insert(M::NAME, route);
        self
    }

    /// Runs the handler of `method` on `body` and encodes its answer. A panicking handler
    /// answers INTERNAL_SERVER_ERROR: one bad message never takes the service down. A request
    /// past its deadline is not started.
    pub fn handle(&self, method: &str, headers: Headers, body: &[u8]) -> Result<BoxFuture<'static, Vec<u8>>, Refused> {
        if headers.expired() {
            return Err(Refused::Expired);
        }
        if method == PING {
            let check = self.health.as_ref().map(|check| check(self.state.for_request(headers)));
            return Ok(async move {
                let healthy = match check {
                    Some(check) => check.await,
                    None => Ok(()),
                };
                codec::encode_reply(&healthy)
            }
            .boxed());
        }
        let route = self
            .routes
            .get(method)
            .ok_or_else(|| DecodeError { method: method.to_owned(), reason: "unknown method".to_owned() })?;
        let reply = route(self.state.for_request(headers), body)?;
        let method = method.to_owned();
        Ok(async move {
            match AssertUnwindSafe(reply).catch_unwind().await {
                Ok(reply) => reply,
                Err(panic) => {
                    let panic = panic
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    tracing::error!(%method, %panic, "handler panicked");
                    codec::encode_error(&RpcError::internal())
                }
            }
        }
        .boxed())
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::atomic::{AtomicUsize, Ordering},
        time::{Duration, SystemTime},
    };

    use super::*;

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Count;
    crate::method!(Count, Users, "test.count", usize);

    #[tokio::test]
    async fn a_request_past_its_deadline_is_never_started() {
        let runs = Arc::new(AtomicUsize::new(0));
        let router = Router::new(runs.clone())
            .route(|_: Count, runs: Arc<AtomicUsize>| async move { Ok(runs.fetch_add(1, Ordering::SeqCst) + 1) });
        let late = Headers { deadline: Some(SystemTime::now() - Duration::from_millis(1)), ..Headers::default() };
        assert!(matches!(router.handle("test.count", late, b"null"), Err(Refused::Expired)));
        assert_eq!(runs.load(Ordering::SeqCst), 0);
        let in_time = Headers { deadline: Some(SystemTime::now() + Duration::from_secs(60)), ..Headers::default() };
        let Ok(reply) = router.handle("test.count", in_time, b"null") else { panic!("a request in time runs") };
        assert_eq!(codec::decode_reply::<usize>(&reply.await), Ok(1));
    }

    #[test]
    fn the_reason_a_body_is_refused_quotes_none_of_its_values() {
        let Err(error) = serde_json::from_slice::<u32>(br#""hunter2""#) else { panic!("a string is not a u32") };
        assert!(error.to_string().contains("hunter2"), "serde quotes the value: {error}");
        assert_eq!(decode_reason(&error), "not a request of this method (line 1, column 9)");
        let Err(error) = serde_json::from_slice::<u32>(b"nope") else { panic!("not JSON") };
        assert!(decode_reason(&error).starts_with("not JSON"), "{}", decode_reason(&error));
    }
}
