//! A graphql-transport-ws client for the subscription tests: what `graphql-ws` does, written
//! over tokio-tungstenite so that a test can also stall its socket or read its close frame.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::{
    WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue, protocol::frame::coding::CloseCode},
};

use crate::helpers::TestApp;

/// How long a test waits for a message it expects.
pub const WAIT: Duration = Duration::from_secs(15);

pub struct LiveClient {
    socket: WebSocketStream<TcpStream>,
    /// The text of the last message read, as it came.
    last_text: String,
}

impl LiveClient {
    /// Opens a socket to `app`, sends `connection_init` with this token and waits for the ack.
    pub async fn connect(app: &TestApp, token: Option<&str>) -> Self {
        let mut client = Self::open(app, None).await;
        client.init(token).await;
        let ack = client.message().await;
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        client
    }

    /// Opens a socket without `connection_init`. With `receive_buffer`, the socket's kernel
    /// receive buffer is that small: a client that then does not read fills it soon.
    pub async fn open(app: &TestApp, receive_buffer: Option<u32>) -> Self {
        let address = app.address.trim_start_matches("http://");
        let mut request = format!("ws://{address}/graphql").into_client_request().unwrap();
        request.headers_mut().insert("sec-websocket-protocol", HeaderValue::from_static("graphql-transport-ws"));
        let tcp = TcpSocket::new_v4().unwrap();
        if let Some(bytes) = receive_buffer {
            tcp.set_recv_buffer_size(bytes).unwrap();
        }
        let stream = tcp.connect(address.parse().unwrap()).await.unwrap();
        let (socket, response) = tokio_tungstenite::client_async(request, stream).await.expect("the upgrade");
        assert_eq!(response.headers()["sec-websocket-protocol"], "graphql-transport-ws");
        Self { socket, last_text: String::new() }
    }

    pub async fn init(&mut self, token: Option<&str>) {
        let payload = token.map(|token| json!({ "authorization": format!("Bearer {token}") }));
        self.send(json!({ "type": "connection_init", "payload": payload })).await;
    }

    pub async fn send(&mut self, message: Value) {
        self.socket.send(Message::text(message.to_string())).await.unwrap();
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } }))
            .await;
    }

    /// The next protocol message, answering pings on the way.
    pub async fn message(&mut self) -> Value {
        self.read(true).await
    }

    /// The next protocol message, pings included, answering none.
    pub async fn raw_message(&mut self) -> Value {
        self.read(false).await
    }

    async fn read(&mut self, answer_pings: bool) -> Value {
        loop {
            let frame = tokio::time::timeout(WAIT, self.socket.next())
                .await
                .expect("a message within the wait")
                .expect("the socket is open")
                .expect("a readable frame");
            match frame {
                Message::Text(text) => {
                    let message: Value = serde_json::from_str(text.as_str()).unwrap();
                    if answer_pings && message["type"] == "ping" {
                        self.send(json!({ "type": "pong" })).await;
                        continue;
                    }
                    self.last_text = text.to_string();
                    return message;
                }
                Message::Close(frame) => panic!("closed while a message was expected: {frame:?}"),
                _ => {}
            }
        }
    }

    /// The last message read, as its text came (a `Value` sorts an object's fields).
    pub fn last_text(&self) -> &str {
        &self.last_text
    }

    /// The payload of the next `next` of operation `id`.
    pub async fn next(&mut self, id: &str) -> Value {
        let message = self.message().await;
        assert_eq!((&message["type"], &message["id"]), (&json!("next"), &json!(id)), "{message}");
        message["payload"].clone()
    }

    /// Reads until the server closes the socket: its close code and reason.
    pub async fn closed(&mut self) -> (u16, String) {
        loop {
            let frame = tokio::time::timeout(WAIT, self.socket.next()).await.expect("a close within the wait");
            match frame {
                Some(Ok(Message::Close(Some(frame)))) => return (u16::from(frame.code), frame.reason.to_string()),
                Some(Ok(Message::Close(None))) | None => return (u16::from(CloseCode::Status), String::new()),
                Some(Ok(_)) => {}
                Some(Err(error)) => panic!("the socket failed before a close frame: {error}"),
            }
        }
    }
}

/// Waits until `app` has `count` subscriptions following changes: a change made after that
/// reaches them.
pub async fn wait_for_subscriptions(app: &TestApp, count: f64) {
    for _ in 0..500 {
        if app.metric("gateway_subscriptions").await >= count {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the subscriptions never registered");
}
