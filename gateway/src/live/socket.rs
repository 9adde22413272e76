//! GraphQL over WebSocket at `GET /graphql`: the `graphql-transport-ws` protocol, as the
//! `graphql-ws` library's PROTOCOL.md says it, with every close code it names.
//!
//! Written here rather than taken from async-graphql 7.2's `http::WebSocket`, which closes a
//! refused `connection_init` with 1002 instead of 4403, takes a second subscription with an id
//! in use instead of closing with 4409, has no `connection_init` timeout (4408), and whose
//! keep-alive closes a socket that is quiet rather than pinging it. Operations still run in
//! async-graphql (`execute_stream`), through the same stages as over HTTP: the size limits,
//! persisted queries, parse, the document limits, validation and the DataLoaders.
//!
//! One socket is one task, which reads the client, runs its operations and hands frames to a
//! writer task through a short queue. When the client does not read, the writer blocks, the
//! queue fills, and the socket stops taking answers from its subscriptions; their changes wait
//! in their own bounded queues, and the first change that finds one full closes the socket
//! (`hub::TOO_SLOW`). Nothing else waits for it.

use std::{
    collections::{HashMap, VecDeque},
    pin::pin,
    sync::Arc,
    time::Duration,
};

use async_graphql::{Request, Response, Variables};
use axum::{
    extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade},
    http::HeaderValue,
};
use futures_util::{
    SinkExt, StreamExt,
    stream::{self, AbortHandle, BoxStream, SelectAll, SplitSink},
};
use rpc::ErrorCode;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::{sync::mpsc, time::Instant};
use uuid::Uuid;

use super::{
    Live,
    sockets::{Closer, Registered, UNAUTHORIZED},
};
use crate::{
    auth::Authentication,
    request::{self, error::RequestError, execute::execute_stream, id::RequestId, read, respond},
    serve::ClientAddress,
    state::AppState,
};

/// The subprotocol spoken.
pub const PROTOCOL: &str = "graphql-transport-ws";

/// Frames handed to the writer and not yet written: few, so that a socket that is not read
/// soon stops taking answers.
const WRITER_QUEUE: usize = 8;
/// Frames made and not yet handed to the writer; past this the socket reads nothing more from
/// the client or its operations until the writer takes some.
const PENDING_MAX: usize = 16;
/// How long closing waits for the writer to send what it holds and the close frame.
const CLOSE_WAIT: Duration = Duration::from_secs(3);
/// What a socket reserves to read the client's frames into; a longer message grows it.
const READ_BUFFER_BYTES: usize = 8 * 1024;
/// The longest reason a close frame carries (RFC 6455: 123 bytes).
const MAX_REASON_BYTES: usize = 123;

/// What resolvers of an operation run over a socket find in its data: the socket's closer, for
/// the subscriptions to be dropped through.
pub struct SocketContext(pub Arc<Closer>);

/// Accepts a WebSocket upgrade of `GET /graphql`; one that does not offer `graphql-transport-ws`
/// is accepted, then closed with 4406, as `graphql-ws` servers do.
pub fn upgrade(state: AppState, upgrade: WebSocketUpgrade, client: Option<ClientAddress>) -> axum::response::Response {
    let max_bytes = state.limits().max_body_bytes;
    let upgrade = upgrade
        .protocols([PROTOCOL])
        .max_message_size(max_bytes)
        .max_frame_size(max_bytes)
        // tungstenite reserves 128 KiB per socket to read into by default; a client sends little.
        .read_buffer_size(READ_BUFFER_BYTES);
    let accepted = upgrade.selected_protocol().is_some();
    upgrade.on_upgrade(move |socket| async move {
        let client = client.map(|ClientAddress(address)| address.to_string()).unwrap_or_default();
        let live = state.live.clone();
        let metrics = state.metrics.live.clone();
        metrics.sockets.inc();
        let connection = Connection {
            state,
            live,
            client,
            closer: Arc::default(),
            init_received: false,
            auth: None,
            authorization: None,
            expires_at: None,
            _registered: None,
            operations: HashMap::new(),
            answers: SelectAll::new(),
            pending: VecDeque::new(),
            heard: true,
            max_bytes,
        };
        connection.serve(socket, accepted).await;
        metrics.sockets.dec();
    })
}

/// One answer of one operation, or (`None`) its end.
type Answer = (String, Option<Response>);

struct Connection {
    state: AppState,
    live: Arc<Live>,
    client: String,
    closer: Arc<Closer>,
    init_received: bool,
    /// Who the socket is for, once `connection_init` was acknowledged.
    auth: Option<Authentication>,
    /// What `connection_init` carried, to check the session again.
    authorization: Option<HeaderValue>,
    expires_at: Option<Instant>,
    _registered: Option<Registered>,
    /// The operations running, by the client's id.
    operations: HashMap<String, AbortHandle>,
    answers: SelectAll<BoxStream<'static, Answer>>,
    /// Frames made, waiting for the writer.
    pending: VecDeque<Message>,
    /// Whether the client sent anything since the last ping.
    heard: bool,
    max_bytes: usize,
}

/// What a message from the client leads to.
enum Next {
    Continue,
    /// Close with this code and reason.
    Close(u16, String),
    /// The client closed or went away.
    Gone,
}

impl Connection {
    async fn serve(mut self, socket: WebSocket, accepted: bool) {
        let (sink, mut incoming) = socket.split();
        let (writer, written) = spawn_writer(sink);
        let close = if accepted {
            self.run(&mut incoming, &writer).await
        } else {
            Some((4406, format!("Subprotocol not acceptable: this endpoint speaks {PROTOCOL}")))
        };
        // The subscriptions end here; what they still hold is not sent.
        for (_, operation) in self.operations.drain() {
            operation.abort();
            self.state.metrics.live.operations.dec();
        }
        self.answers = SelectAll::new();
        let abort = written.abort_handle();
        let closing = async move {
            if let Some((code, reason)) = close {
                self.state.metrics.live.closes.with_label_values(&[&code.to_string()]).inc();
                let frame = CloseFrame { code, reason: truncate(reason, MAX_REASON_BYTES).into() };
                let _ = writer.send(Message::Close(Some(frame))).await;
            }
            drop(writer);
            let _ = written.await;
        };
        if tokio::time::timeout(CLOSE_WAIT, closing).await.is_err() {
            abort.abort();
        }
    }

    /// Runs the protocol until the socket is to close (with a code) or the client is gone.
    async fn run(
        &mut self,
        incoming: &mut stream::SplitStream<WebSocket>,
        writer: &mpsc::Sender<Message>,
    ) -> Option<(u16, String)> {
        let settings = self.live.settings.clone();
        let closer = self.closer.clone();
        let stopping = self.live.stopping.clone();
        let mut init_deadline = pin!(tokio::time::sleep(settings.init_timeout()));
        // A period no socket reaches stands for "never".
        let never = Duration::from_secs(60 * 60 * 24 * 365);
        let keepalive = settings.keepalive();
        let mut pings =
            tokio::time::interval_at(Instant::now() + keepalive.unwrap_or(never), keepalive.unwrap_or(never));
        let session_check = self.state.auth.sessions().max_age();
        let mut session_checks = tokio::time::interval_at(Instant::now() + session_check, session_check);
        let mut expiry = pin!(tokio::time::sleep(never));
        loop {
            if let Some(expires_at) = self.expires_at.take() {
                expiry.as_mut().reset(expires_at);
            }
            tokio::select! {
                biased;
                (code, reason) = closer.asked() => return Some((code, reason)),
                () = stopping.cancelled() => return Some((1001, "the gateway is going away: reconnect".to_owned())),
                permit = writer.reserve(), if !self.pending.is_empty() => match (permit, self.pending.pop_front()) {
                    (Ok(permit), Some(frame)) => permit.send(frame),
                    // The writer stopped: the socket failed.
                    _ => return None,
                },
                message = incoming.next(), if self.pending.len() < PENDING_MAX => {
                    let next = match message {
                        None => Next::Gone,
                        Some(Err(error)) => self.read_failed(&error),
                        Some(Ok(message)) => {
                            self.heard = true;
                            self.on_message(message).await
                        }
                    };
                    match next {
                        Next::Continue => {}
                        Next::Close(code, reason) => return Some((code, reason)),
                        Next::Gone => return None,
                    }
                }
                Some((id, answer)) = self.answers.next(), if self.pending.len() < PENDING_MAX && !self.answers.is_empty() => {
                    self.on_answer(id, answer);
                }
                () = &mut init_deadline, if self.auth.is_none() => {
                    return Some((4408, "Connection initialisation timeout".to_owned()));
                }
                _ = pings.tick(), if keepalive.is_some() => {
                    if !self.heard {
                        return Some((1001, "no answer to the keep-alive ping".to_owned()));
                    }
                    self.heard = false;
                    self.pending.push_back(frame(&json!({ "type": "ping" })));
                }
                () = &mut expiry => return Some((UNAUTHORIZED, "the token has expired: sign in again".to_owned())),
                _ = session_checks.tick(), if self.authorization.is_some() => {
                    if let Some(close) = self.check_session().await {
                        return Some(close);
                    }
                }
            }
        }
    }

    fn read_failed(&self, error: &axum::Error) -> Next {
        // tungstenite's "Space limit exceeded: Message too long: <n> > <max>"
        if error.to_string().contains("too long") {
            Next::Close(1009, format!("a message is at most {} bytes", self.max_bytes))
        } else {
            Next::Gone
        }
    }

    async fn on_message(&mut self, message: Message) -> Next {
        match message {
            Message::Text(text) => match serde_json::from_str::<ClientMessage>(text.as_str()) {
                Ok(message) => self.on_client_message(message).await,
                Err(error) => Next::Close(4400, format!("Invalid message received: {error}")),
            },
            Message::Binary(_) => Next::Close(4400, "Invalid message received: binary frames are not taken".to_owned()),
            // tungstenite answers pings itself.
            Message::Ping(_) | Message::Pong(_) => Next::Continue,
            Message::Close(_) => Next::Gone,
        }
    }

    async fn on_client_message(&mut self, message: ClientMessage) -> Next {
        match message {
            ClientMessage::ConnectionInit { payload } => self.on_init(payload).await,
            ClientMessage::Subscribe { id, payload } => {
                if self.auth.is_none() {
                    return Next::Close(4401, "Unauthorized: send connection_init first".to_owned());
                }
                if self.operations.contains_key(&id) {
                    return Next::Close(4409, format!("Subscriber for {id} already exists"));
                }
                self.start(id, payload).await;
                Next::Continue
            }
            ClientMessage::Complete { id } => {
                if let Some(operation) = self.operations.remove(&id) {
                    operation.abort();
                    self.state.metrics.live.operations.dec();
                }
                Next::Continue
            }
            ClientMessage::Ping {} => {
                self.pending.push_back(frame(&json!({ "type": "pong" })));
                Next::Continue
            }
            ClientMessage::Pong {} => Next::Continue,
        }
    }

    /// `connection_init`: who the socket is for, from `payload.authorization` (or
    /// `payload.Authorization`, or the same under `payload.headers`), checked as a request's
    /// `Authorization` header is.
    async fn on_init(&mut self, payload: Option<Value>) -> Next {
        if std::mem::replace(&mut self.init_received, true) {
            return Next::Close(4429, "Too many initialisation requests".to_owned());
        }
        let authorization = match authorization_of(payload.as_ref()) {
            Ok(authorization) => authorization,
            Err(message) => return Next::Close(4400, format!("Invalid message received: {message}")),
        };
        let auth = self.state.auth.authenticate(&self.state.rpc, authorization.as_ref(), self.client.clone()).await;
        let caller = match &auth.caller {
            Ok(caller) => *caller,
            Err(error) if error.code == ErrorCode::Unauthenticated => {
                return Next::Close(4403, format!("Forbidden: {}", error.message));
            }
            Err(error) => return Next::Close(1013, format!("cannot check the token now: {}", error.message)),
        };
        self._registered = Some(self.live.sockets.register(auth.session, caller.user_id(), self.closer.clone()));
        self.expires_at = auth.expires_at.map(|expires_at| {
            let left = (expires_at - chrono::Utc::now().timestamp()).max(0);
            Instant::now() + Duration::from_secs(left.unsigned_abs())
        });
        self.auth = Some(auth);
        self.authorization = authorization;
        self.pending.push_back(frame(&json!({ "type": "connection_ack" })));
        Next::Continue
    }

    /// Asks again whether the socket's session lasts and is still the same caller's: an admin
    /// granted or revoked, or an end no event told of. Closes when not; keeps the socket when
    /// the users service cannot say.
    async fn check_session(&mut self) -> Option<(u16, String)> {
        let auth = self.auth.as_ref()?;
        let again =
            self.state.auth.authenticate(&self.state.rpc, self.authorization.as_ref(), self.client.clone()).await;
        match (&again.caller, &auth.caller) {
            (Ok(now), Ok(before)) if now == before => None,
            (Err(error), _) if error.code != ErrorCode::Unauthenticated => None,
            _ => Some((UNAUTHORIZED, "the session ended or changed: sign in again".to_owned())),
        }
    }

    /// `subscribe`: runs one operation through the request stages; a refused one answers
    /// `error`.
    async fn start(&mut self, id: String, payload: SubscribePayload) {
        let request_id = RequestId(Uuid::now_v7().to_string().into());
        let max = self.live.settings.max_subscriptions;
        if self.operations.len() >= max as usize {
            let refused = respond::refused(&request_id, RequestError::TooManyOperations { max });
            self.pending.push_back(error_frame(&id, &refused));
            return;
        }
        let mut request = payload.into_request();
        if let Err(refusal) = read::check(&mut request) {
            self.pending.push_back(error_frame(&id, &respond::refused(&request_id, refusal)));
            return;
        }
        let prepared = match request::prepare(&self.state, request).await {
            Ok(prepared) => prepared,
            Err(refusal) => {
                self.pending.push_back(error_frame(&id, &respond::refused(&request_id, refusal)));
                return;
            }
        };
        let Some(auth) = &self.auth else { return };
        let answers = execute_stream(&self.state, request_id, auth, prepared, SocketContext(self.closer.clone()));
        let of_id = id.clone();
        let answers = answers.map(Some).chain(stream::once(async { None })).map(move |answer| (of_id.clone(), answer));
        let (answers, operation) = stream::abortable(answers);
        self.operations.insert(id, operation);
        self.state.metrics.live.operations.inc();
        self.answers.push(answers.boxed());
    }

    fn on_answer(&mut self, id: String, answer: Option<Response>) {
        if !self.operations.contains_key(&id) {
            return; // completed by the client meanwhile
        }
        match answer {
            Some(response) if respond::could_not_run(&response) => {
                self.end(&id);
                self.pending.push_back(error_frame(&id, &response));
            }
            Some(response) => self.pending.push_back(operation_frame(&id, "next", &response)),
            None => {
                self.end(&id);
                self.pending.push_back(frame(&json!({ "id": id, "type": "complete" })));
            }
        }
    }

    fn end(&mut self, id: &str) {
        if self.operations.remove(id).is_some() {
            self.state.metrics.live.operations.dec();
        }
    }
}

/// A client's message (graphql-transport-ws). Anything else is invalid (4400).
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ClientMessage {
    ConnectionInit {
        #[serde(default)]
        payload: Option<Value>,
    },
    Subscribe {
        id: String,
        payload: SubscribePayload,
    },
    Complete {
        id: String,
    },
    Ping {},
    Pong {},
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubscribePayload {
    #[serde(default)]
    query: Option<String>,
    #[serde(default)]
    operation_name: Option<String>,
    #[serde(default)]
    variables: Option<Map<String, Value>>,
    #[serde(default)]
    extensions: Option<Map<String, Value>>,
}

impl SubscribePayload {
    fn into_request(self) -> Request {
        let mut request = Request::new(self.query.unwrap_or_default());
        request.operation_name = self.operation_name;
        if let Some(variables) = self.variables {
            request.variables = Variables::from_json(Value::Object(variables));
        }
        if let Some(extensions) = self.extensions {
            request.extensions = serde_json::from_value(Value::Object(extensions)).unwrap_or_default();
        }
        request
    }
}

/// The `Authorization` a `connection_init` payload carries, if any.
fn authorization_of(payload: Option<&Value>) -> Result<Option<HeaderValue>, &'static str> {
    let fields = match payload {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(fields)) => fields,
        Some(_) => return Err("the connection_init payload is an object"),
    };
    let find = |fields: &Map<String, Value>| {
        fields.iter().find(|(name, _)| name.eq_ignore_ascii_case("authorization")).map(|(_, value)| value.clone())
    };
    let headers = fields.get("headers").and_then(Value::as_object);
    match find(fields).or_else(|| headers.and_then(find)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => {
            HeaderValue::from_str(&value).map(Some).map_err(|_| "authorization is `Bearer <token>`")
        }
        Some(_) => Err("authorization is a string: `Bearer <token>`"),
    }
}

fn frame(message: &Value) -> Message {
    Message::Text(message.to_string().into())
}

fn error_frame(id: &str, response: &Response) -> Message {
    operation_frame(id, "error", &response.errors)
}

/// `{"id", "type", "payload"}`, the payload written as it serializes: a response's fields stay
/// in the order the query selected them (a `serde_json::Value` would sort them).
fn operation_frame(id: &str, kind: &str, payload: &impl serde::Serialize) -> Message {
    #[derive(serde::Serialize)]
    struct Frame<'a, P> {
        id: &'a str,
        #[serde(rename = "type")]
        kind: &'a str,
        payload: &'a P,
    }
    let text = serde_json::to_string(&Frame { id, kind, payload }).unwrap_or_default();
    Message::Text(text.into())
}

fn truncate(mut text: String, max_bytes: usize) -> String {
    if text.len() > max_bytes {
        let mut end = max_bytes;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

/// The task that writes a socket's frames, in order, flushing when it has no more; it ends
/// after a close frame, or once every sender is gone.
fn spawn_writer(mut sink: SplitSink<WebSocket, Message>) -> (mpsc::Sender<Message>, tokio::task::JoinHandle<()>) {
    let (frames, mut to_write) = mpsc::channel::<Message>(WRITER_QUEUE);
    let written = tokio::spawn(async move {
        while let Some(message) = to_write.recv().await {
            let last = matches!(message, Message::Close(_));
            if sink.feed(message).await.is_err() {
                return;
            }
            if (last || to_write.is_empty()) && sink.flush().await.is_err() {
                return;
            }
            if last {
                return;
            }
        }
        let _ = sink.close().await;
    });
    (frames, written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_found_in_any_case_and_under_headers() {
        let of = |payload: Value| {
            authorization_of(Some(&payload)).map(|value| value.map(|v| v.to_str().unwrap().to_owned()))
        };
        assert_eq!(of(json!({ "authorization": "Bearer a" })), Ok(Some("Bearer a".to_owned())));
        assert_eq!(of(json!({ "Authorization": "Bearer b" })), Ok(Some("Bearer b".to_owned())));
        assert_eq!(of(json!({ "headers": { "Authorization": "Bearer c" } })), Ok(Some("Bearer c".to_owned())));
        assert_eq!(of(json!({})), Ok(None));
        assert!(of(json!({ "authorization": 1 })).is_err());
        assert!(of(json!("Bearer a")).is_err());
        assert_eq!(authorization_of(None), Ok(None));
    }

    #[test]
    fn a_close_reason_is_cut_on_a_character() {
        assert_eq!(truncate("é".repeat(100), MAX_REASON_BYTES).len(), 122, "not inside a two-byte é");
        assert_eq!(truncate("short".to_owned(), MAX_REASON_BYTES), "short");
    }
}
