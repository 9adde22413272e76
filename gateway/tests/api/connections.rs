//! Connections are bounded (README, "Configuration"): a request's head has REQUEST_HEAD_TIMEOUT_MS
//! to arrive, an idle kept-alive connection KEEP_ALIVE_TIMEOUT_MS, at most MAX_CONNECTIONS are
//! open (past it new clients wait for a slot), and a shutdown finishes what is in flight.
//!
//! Raw sockets, so nothing pools or retries behind the test's back; every wait for the server
//! is a read with a generous upper bound, never a sleep.

use std::time::{Duration, Instant};

use gateway::serve::ConnectionLimits;
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::helpers::*;

/// The upper bound of every wait: far above any limit set here, far below "never".
const PATIENCE: Duration = Duration::from_secs(5);

const HEALTHZ: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n\r\n";

async fn app_with(limits: ConnectionLimits) -> TestApp {
    spawn_app_with(Backend::Embedded, |config| config.connections = limits).await
}

/// Head 300 ms, keep-alive 500 ms, 4 connections.
fn small_limits() -> ConnectionLimits {
    ConnectionLimits { request_head_timeout_ms: 300, keep_alive_timeout_ms: 500, max_connections: 4 }
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.address.trim_start_matches("http://")).await.expect("the gateway accepts")
}

/// Reads until the server closes the connection (a FIN, or a reset when it closed with our
/// bytes unread) and returns what it sent before; panics after [`PATIENCE`].
async fn read_until_closed(stream: &mut (impl AsyncRead + Unpin)) -> Vec<u8> {
    let mut received = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        match tokio::time::timeout(PATIENCE, stream.read(&mut chunk)).await {
            Err(_) => panic!("the connection is still open after {PATIENCE:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return received,
            Ok(Ok(n)) => received.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Reads one response (head and a `content-length` body) and returns it as text.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let mut chunk = [0; 4096];
    loop {
        let text = String::from_utf8_lossy(&received).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| line.to_ascii_lowercase().strip_prefix("content-length:").map(|n| n.trim().to_owned()))
                .map_or(0, |n| n.parse::<usize>().unwrap());
            if received.len() >= end + 4 + length {
                return text;
            }
        }
        let n = tokio::time::timeout(PATIENCE, stream.read(&mut chunk))
            .await
            .expect("a response within the patience")
            .expect("the connection stays open");
        assert_ne!(n, 0, "closed before a whole response: {text:?}");
        received.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slowloris_head_is_cut_off_after_the_head_timeout() {
    let app = app_with(small_limits()).await;
    let (mut reader, mut writer) = connect(&app).await.into_split();
    let started = Instant::now();
    // One byte of a never-ending head every 100 ms, until the server stops taking them.
    let dripping = tokio::spawn(async move {
        let head = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n".iter().chain(b"X-Drip: 1\r\n".iter().cycle());
        let mut interval = tokio::time::interval(Duration::from_millis(100));
        for byte in head.take(100) {
            interval.tick().await;
            if writer.write_all(&[*byte]).await.is_err() {
                break;
            }
        }
    });

    let received = read_until_closed(&mut reader).await;

    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(250), "closed after {elapsed:?}, before the head timeout");
    assert!(!String::from_utf8_lossy(&received).starts_with("HTTP/1.1 200"), "the head was never whole");
    dripping.abort();
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_that_never_sends_is_closed_after_the_head_timeout() {
    let app = app_with(small_limits()).await;
    let mut stream = connect(&app).await;
    let started = Instant::now();

    let received = read_until_closed(&mut stream).await;

    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(250), "closed after {elapsed:?}, before the head timeout");
    assert!(received.is_empty());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_serves_two_requests_on_one_connection_then_closes_it_when_idle() {
    let app = app_with(small_limits()).await;
    let mut stream = connect(&app).await;
    for _ in 0..2 {
        stream.write_all(HEALTHZ).await.unwrap();
        let response = read_response(&mut stream).await;
        assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    }
    let idle_since = Instant::now();

    let received = read_until_closed(&mut stream).await;

    // The keep-alive time (500 ms), not the head's (300 ms): idle is not a slow head.
    let elapsed = idle_since.elapsed();
    assert!(elapsed >= Duration::from_millis(450), "closed after {elapsed:?} idle, before the keep-alive timeout");
    assert!(received.is_empty());
    // This one, and maybe the test client's own from before.
    assert!(app.metric("gateway_http_connections_timed_out_total{reason=\"idle\"}").await >= 1.0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_connections_a_new_client_waits_for_a_slot_and_is_answered() {
    let limits = ConnectionLimits { request_head_timeout_ms: 1000, keep_alive_timeout_ms: 1000, max_connections: 4 };
    let app = app_with(limits).await;
    let mut holders = Vec::new();
    for _ in 0..3 {
        holders.push(connect(&app).await);
    }
    // The test's HTTP client holds the fourth slot: all four are taken once it counts four.
    let counting = Instant::now();
    while app.metric("gateway_http_connections ").await < 4.0 {
        assert!(counting.elapsed() < PATIENCE, "the gateway never counted four connections");
    }

    let mut newcomer = connect(&app).await;
    let waiting_since = Instant::now();
    newcomer.write_all(HEALTHZ).await.unwrap();
    let response = read_response(&mut newcomer).await;

    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let waited = waiting_since.elapsed();
    assert!(waited >= Duration::from_millis(500), "answered after {waited:?}, while every slot was held");
    for mut holder in holders {
        assert!(read_until_closed(&mut holder).await.is_empty());
    }
    assert!(app.metric("gateway_http_connections_at_limit_total").await >= 1.0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_the_request_in_flight_and_closes_idle_connections_at_once() {
    let slow = ConnectionLimits { request_head_timeout_ms: 60_000, keep_alive_timeout_ms: 60_000, max_connections: 16 };
    let app = app_with(slow).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    // In flight: its head was read and the handler asks for the body (hyper's 100 Continue).
    let body = r#"{"query":"{ __typename }"}"#;
    let mut in_flight = connect(&app).await;
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nExpect: 100-continue\r\n\r\n",
        body.len()
    );
    in_flight.write_all(head.as_bytes()).await.unwrap();
    let mut continue_line = [0; 25];
    tokio::time::timeout(PATIENCE, in_flight.read_exact(&mut continue_line)).await.unwrap().unwrap();
    assert_eq!(&continue_line, b"HTTP/1.1 100 Continue\r\n\r\n");
    // Idle: kept alive after one request, and one that never sent a byte.
    let mut kept_alive = connect(&app).await;
    kept_alive.write_all(HEALTHZ).await.unwrap();
    read_response(&mut kept_alive).await;
    let mut silent = connect(&app).await;

    let stopping = tokio::spawn(app.stop());

    assert!(read_until_closed(&mut kept_alive).await.is_empty());
    assert!(read_until_closed(&mut silent).await.is_empty());
    in_flight.write_all(body.as_bytes()).await.unwrap();
    let response = read_response(&mut in_flight).await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.ends_with(r#"{"data":{"__typename":"Query"}}"#), "{response}");
    assert!(read_until_closed(&mut in_flight).await.is_empty());
    tokio::time::timeout(PATIENCE, stopping).await.expect("the gateway stops").unwrap();
    assert!(TcpStream::connect(address).await.is_err(), "the listener is closed");
}
