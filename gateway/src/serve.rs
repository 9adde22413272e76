//! The HTTP server: an accept loop over hyper's HTTP/1.1 connections that bounds what a
//! connection may hold without asking anything, so idle sockets and slowloris clients cannot
//! use up the process's file descriptors (axum's own `serve` never closes them).
//!
//! Each connection is, at any time, in one [`Phase`], and the phase says its deadline:
//! - a request's head must arrive whole within `REQUEST_HEAD_TIMEOUT_MS`, counted from the
//!   accept on a new connection and from its first byte on a kept-alive one;
//! - between requests, a kept-alive connection waits `KEEP_ALIVE_TIMEOUT_MS` for that byte;
//! - while a request is answered there is no deadline here: `REQUEST_TIMEOUT_MS` bounds it.
//!
//! hyper's own `header_read_timeout` is not used: its timer starts when a connection goes
//! idle (`proto/h1/conn.rs`, `poll_read_head`), so it cannot tell a slow head from an idle
//! keep-alive connection. Past `MAX_CONNECTIONS` open at once, the loop stops accepting: new
//! clients wait in the kernel's backlog and are served as soon as one of the bounded
//! connections above frees its slot.

use std::{
    io,
    pin::{Pin, pin},
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::{Router, body::Body, extract::Request};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, watch},
    time::Instant,
};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// Files the process keeps for itself beyond its connections (broker, Redis, SQLite, logs):
/// `MAX_CONNECTIONS` is lowered to leave them free.
const RESERVED_FILES: u64 = 256;

/// How connections are bounded, from the environment (README, "Configuration").
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectionLimits {
    /// How long a client may take to send a request's head (request line and headers), in
    /// milliseconds, from the accept or from the head's first byte; then the connection is
    /// closed. Default 10000: a head is a few KiB, one round trip even on a poor mobile link.
    #[arg(long, env = "REQUEST_HEAD_TIMEOUT_MS", default_value_t = ConnectionLimits::DEFAULT.request_head_timeout_ms,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub request_head_timeout_ms: u64,

    /// How long a kept-alive connection may wait for its next request, in milliseconds.
    /// Default 75000 (nginx's): longer than the 60 s after which the proxies usually in front
    /// (nginx upstreams, cloud load balancers) drop an idle connection themselves, so they
    /// never reuse one the gateway is closing.
    #[arg(long, env = "KEEP_ALIVE_TIMEOUT_MS", default_value_t = ConnectionLimits::DEFAULT.keep_alive_timeout_ms,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub keep_alive_timeout_ms: u64,

    /// How many connections may be open at once; past it new ones wait in the kernel's
    /// backlog until one closes. Default 10000, lowered to the file limit less 256.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = ConnectionLimits::DEFAULT.max_connections,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
}

impl ConnectionLimits {
    /// The defaults, in one place for clap and for [`Default`].
    pub const DEFAULT: Self =
        Self { request_head_timeout_ms: 10_000, keep_alive_timeout_ms: 75_000, max_connections: 10_000 };

    fn request_head_timeout(&self) -> Duration {
        Duration::from_millis(self.request_head_timeout_ms)
    }

    fn keep_alive_timeout(&self) -> Duration {
        Duration::from_millis(self.keep_alive_timeout_ms)
    }

    /// `max_connections`, lowered so that connections cannot exhaust the file limit: past it
    /// `accept` fails with EMFILE and every client waits, which is what the cap prevents.
    fn effective_max_connections(&self) -> usize {
        let configured = u64::from(self.max_connections);
        let room = match rlimit::Resource::NOFILE.get() {
            Ok((soft, _)) => soft.saturating_sub(RESERVED_FILES).max(1),
            Err(_) => configured,
        };
        if room < configured {
            tracing::warn!(
                configured,
                effective = room,
                "MAX_CONNECTIONS is above the open-file limit less {RESERVED_FILES}: lowered"
            );
        }
        usize::try_from(configured.min(room)).unwrap_or(usize::MAX)
    }
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Raises this process's soft limit on open files to its hard limit: the default soft limit
/// (often 1024) is what a few idle clients exhausted. Logs both; a failure only warns.
pub fn raise_open_file_limit() {
    let before = rlimit::Resource::NOFILE.get();
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(now) => tracing::info!(before = ?before.map(|(soft, _)| soft).ok(), now, "open-file limit raised"),
        Err(error) => tracing::warn!(%error, "cannot raise the open-file limit"),
    }
}

/// The connection metrics, registered with the gateway's [`Registry`](crate::metrics).
#[derive(Clone)]
pub struct ConnectionMetrics {
    /// HTTP connections open now.
    open: IntGauge,
    /// Connections closed by a deadline, by `reason`: `head` (a request's head came too
    /// slowly, or not at all) or `idle` (the keep-alive time passed).
    timed_out: IntCounterVec,
    /// Times the accept loop paused because `MAX_CONNECTIONS` were open.
    at_limit: IntCounter,
}

impl ConnectionMetrics {
    pub fn new() -> Self {
        let open = IntGauge::new("gateway_http_connections", "HTTP connections open").expect("valid metric");
        let timed_out = IntCounterVec::new(
            Opts::new("gateway_http_connections_timed_out_total", "HTTP connections closed by a deadline"),
            &["reason"],
        )
        .expect("valid metric");
        let at_limit = IntCounter::new(
            "gateway_http_connections_at_limit_total",
            "Times the gateway stopped accepting because MAX_CONNECTIONS were open",
        )
        .expect("valid metric");
        Self { open, timed_out, at_limit }
    }

    pub fn register(&self, registry: &Registry) {
        for collector in [
            Box::new(self.open.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(self.timed_out.clone()),
            Box::new(self.at_limit.clone()),
        ] {
            registry.register(collector).expect("metric names are unique");
        }
    }
}

impl Default for ConnectionMetrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Serves `app` on `listener` until `shutdown` is cancelled; then stops accepting, closes idle
/// connections at once, lets requests in flight finish, and returns when every connection
/// (but upgraded ones, which live on their own) is closed.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &ConnectionLimits,
    metrics: ConnectionMetrics,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.effective_max_connections()));
    let connections = TaskTracker::new();
    let mut builder = http1::Builder::new();
    // Deadlines are ours (see the module's doc); without this hyper warns on every connection.
    builder.header_read_timeout(None);
    loop {
        let slot = match slots.clone().try_acquire_owned() {
            Ok(slot) => slot,
            Err(_) => {
                metrics.at_limit.inc();
                tokio::select! {
                    slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
                    () = shutdown.cancelled() => break,
                }
            }
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    on_accept_error(error).await;
                    continue;
                }
            },
            () = shutdown.cancelled() => break,
        };
        metrics.open.inc();
        let opened = Opened { _slot: slot, open: metrics.open.clone() };
        let connection = Connection::new(limits);
        let io = TokioIo::new(Watched { stream, connection: connection.clone(), _opened: opened });
        let service = {
            let (app, connection) = (app.clone(), connection.clone());
            service_fn(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ClientAddress(peer.ip()));
                let answering = connection.answering();
                let mut app = app.clone();
                async move {
                    let response = tower_service::Service::call(&mut app, request).await?;
                    Ok::<_, std::convert::Infallible>(
                        response.map(|body| Body::new(Answer { body, _answering: answering })),
                    )
                }
            })
        };
        let served = builder.serve_connection(io, service).with_upgrades();
        connections.spawn(watch_over(served, connection, metrics.clone(), shutdown.clone()));
    }
    // Dropping the listener now refuses new clients while the open connections finish.
    drop(listener);
    connections.close();
    connections.wait().await;
    Ok(())
}

/// The address of the client a request came from (its TCP peer), for the limits on failed
/// sign-in attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub std::net::IpAddr);

/// Errors of one connection (reset, aborted) are skipped. Anything else, such as EMFILE, is
/// logged and waited out for a moment, as axum does, rather than retried in a busy loop.
async fn on_accept_error(error: io::Error) {
    use io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if !matches!(error.kind(), ConnectionAborted | ConnectionRefused | ConnectionReset) {
        tracing::error!(%error, "cannot accept a connection");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Drives one connection and closes it when its phase's deadline passes; on shutdown, asks
/// hyper to finish the request in flight and close an idle connection at once.
async fn watch_over<S>(
    served: http1::UpgradeableConnection<TokioIo<Watched>, S>,
    connection: Connection,
    metrics: ConnectionMetrics,
    shutdown: CancellationToken,
) where
    S: hyper::service::HttpService<Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::ResBody: 'static,
    <S::ResBody as http_body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut served = pin!(served);
    let mut phases = connection.phase.subscribe();
    let mut draining = false;
    loop {
        let phase = *phases.borrow_and_update();
        let deadline = connection.deadline(phase);
        if let Some((passed, reason)) = deadline
            && passed <= Instant::now()
        {
            metrics.timed_out.with_label_values(&[reason]).inc();
            tracing::debug!(reason, "connection closed: deadline passed");
            return;
        }
        // hyper's graceful shutdown closes a connection once its response is flushed, or at
        // once when it is idle between requests; not one that never sent a byte.
        if draining && matches!(phase, Phase::New { .. }) {
            return;
        }
        tokio::select! {
            result = served.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            Ok(()) = phases.changed() => {}
            () = sleep_until(deadline.map(|(deadline, _)| deadline)) => {}
            () = shutdown.cancelled(), if !draining => {
                draining = true;
                served.as_mut().graceful_shutdown();
            }
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// Where a connection is, which says its deadline.
#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Accepted, and not a byte received yet: nothing to lose by closing it.
    New { since: Instant },
    /// Reading a request's head, since the accept or since the head's first byte.
    Head { since: Instant },
    /// Answering requests: from the head's end until the response's last byte is handed over.
    Answering { requests: usize },
    /// Kept alive between requests, since the last response ended.
    Idle { since: Instant },
}

/// One connection's phase, shared by its socket (which sees bytes arrive), its service (which
/// sees requests start and their responses end) and [`watch_over`].
#[derive(Clone)]
struct Connection {
    phase: Arc<watch::Sender<Phase>>,
    head_timeout: Duration,
    keep_alive_timeout: Duration,
}

impl Connection {
    fn new(limits: &ConnectionLimits) -> Self {
        Self {
            phase: Arc::new(watch::Sender::new(Phase::New { since: Instant::now() })),
            head_timeout: limits.request_head_timeout(),
            keep_alive_timeout: limits.keep_alive_timeout(),
        }
    }

    fn deadline(&self, phase: Phase) -> Option<(Instant, &'static str)> {
        match phase {
            Phase::New { since } | Phase::Head { since } => Some((since + self.head_timeout, "head")),
            Phase::Idle { since } => Some((since + self.keep_alive_timeout, "idle")),
            Phase::Answering { .. } => None,
        }
    }

    /// Moves to another phase; [`watch_over`] is woken only when the deadline came closer,
    /// since it looks at the phase again anyway when its current deadline passes.
    fn advance(&self, next: impl FnOnce(Phase) -> Option<Phase>) {
        self.phase.send_if_modified(|phase| {
            let Some(next) = next(*phase) else { return false };
            let before = self.deadline(*phase).map(|(deadline, _)| deadline);
            *phase = next;
            match (before, self.deadline(next)) {
                (_, None) => false,
                (None, Some(_)) => true,
                (Some(before), Some((after, _))) => after < before,
            }
        });
    }

    fn bytes_arrived(&self) {
        self.advance(|phase| match phase {
            Phase::New { since } => Some(Phase::Head { since }),
            Phase::Idle { .. } => Some(Phase::Head { since: Instant::now() }),
            Phase::Head { .. } | Phase::Answering { .. } => None,
        });
    }

    /// A request's head was read: the connection is busy until the guard's response ends.
    fn answering(&self) -> Answering {
        self.advance(|phase| match phase {
            Phase::Answering { requests } => Some(Phase::Answering { requests: requests + 1 }),
            _ => Some(Phase::Answering { requests: 1 }),
        });
        Answering(self.clone())
    }
}

/// Held from a request's head until hyper drops its response body (sent, or abandoned).
struct Answering(Connection);

impl Drop for Answering {
    fn drop(&mut self) {
        self.0.advance(|phase| match phase {
            Phase::Answering { requests } if requests > 1 => Some(Phase::Answering { requests: requests - 1 }),
            _ => Some(Phase::Idle { since: Instant::now() }),
        });
    }
}

/// A response body that ends its request's [`Answering`] when hyper drops it.
struct Answer {
    body: Body,
    _answering: Answering,
}

impl http_body::Body for Answer {
    type Data = <Body as http_body::Body>::Data;
    type Error = <Body as http_body::Body>::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// One slot of `MAX_CONNECTIONS`, held as long as the socket is open, upgraded or not.
struct Opened {
    _slot: OwnedSemaphorePermit,
    open: IntGauge,
}

impl Drop for Opened {
    fn drop(&mut self) {
        self.open.dec();
    }
}

/// The socket, telling its [`Connection`] when bytes arrive.
struct Watched {
    stream: TcpStream,
    connection: Connection,
    _opened: Opened,
}

impl AsyncRead for Watched {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let filled = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > filled {
            self.connection.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
