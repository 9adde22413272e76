//! The one way every side of the RabbitMQ transport connects: a named connection to one of
//! the broker's addresses, and a loop that keeps a session open with backoff until shutdown.
//!
//! lapin's own auto-recovery stays off: one loop, here, is easier to reason about than
//! recovery inside the client library.

use std::{
    future::Future,
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use lapin::{Channel, Connection, ConnectionProperties};
use tokio_util::sync::CancellationToken;

/// How a session on one connection ended.
pub(super) enum Ended {
    /// The broker went away: connect again.
    Lost,
    /// Shutdown, and the session has finished what it held: stop.
    Stopped,
}

/// Where one side connects (the addresses of one broker or cluster), and the name it shows
/// in `rabbitmqctl list_connections`.
pub(super) struct Connector {
    urls: Vec<String>,
    name: String,
    /// The address to try first: the one that worked last, or the next after a failure.
    next: AtomicUsize,
}

impl Connector {
    pub(super) fn new(urls: Vec<String>, name: String) -> Self {
        Self { urls, name, next: AtomicUsize::new(0) }
    }

    /// Opens a connection and one channel on it, then hands the channel to `setup` (declare,
    /// consume...), which returns what the session works with. Tries every address once,
    /// starting from the one that worked last; the error is the last address's.
    pub(super) async fn open<L, Setup, SetupFut>(&self, mut setup: Setup) -> lapin::Result<(Connection, L)>
    where
        Setup: FnMut(Channel) -> SetupFut,
        SetupFut: Future<Output = lapin::Result<L>>,
    {
        let first = self.next.load(Ordering::Relaxed);
        let mut failure = None;
        for attempt in 0..self.urls.len().max(1) {
            let index = (first + attempt) % self.urls.len().max(1);
            let Some(url) = self.urls.get(index) else { break };
            match self.open_one(url, &mut setup).await {
                Ok(opened) => {
                    self.next.store(index, Ordering::Relaxed);
                    return Ok(opened);
                }
                Err(error) => {
                    if self.urls.len() > 1 {
                        let address = crate::process::redact_url(url);
                        tracing::warn!(%error, %address, connection = self.name, "broker address failed; trying the next");
                    }
                    failure = Some(error);
                }
            }
        }
        self.next.store((first + 1) % self.urls.len().max(1), Ordering::Relaxed);
        Err(failure.unwrap_or_else(|| std::io::Error::other("AMQP_URL names no address").into()))
    }

    async fn open_one<L, Setup, SetupFut>(&self, url: &str, setup: &mut Setup) -> lapin::Result<(Connection, L)>
    where
        Setup: FnMut(Channel) -> SetupFut,
        SetupFut: Future<Output = lapin::Result<L>>,
    {
        let properties = ConnectionProperties::default().with_connection_name(self.name.as_str().into());
        let connection = Connection::connect(url, properties).await?;
        let link = setup(connection.create_channel().await?).await?;
        Ok((connection, link))
    }

    /// Keeps a session open until `shutdown`: opens with `setup`, runs `session` on what it
    /// returns until the session ends, closes the connection, and opens again after a loss,
    /// waiting longer after each failed attempt. A session watches `shutdown` itself, so that
    /// it can finish what it holds before saying [`Ended::Stopped`].
    pub(super) async fn keep_connected<L, Setup, SetupFut, Session, SessionFut>(
        &self,
        shutdown: &CancellationToken,
        mut setup: Setup,
        mut session: Session,
    ) where
        Setup: FnMut(Channel) -> SetupFut,
        SetupFut: Future<Output = lapin::Result<L>>,
        Session: FnMut(L) -> SessionFut,
        SessionFut: Future<Output = Ended>,
    {
        let mut backoff = Backoff::new();
        while !shutdown.is_cancelled() {
            let opened = tokio::select! {
                () = shutdown.cancelled() => return,
                opened = self.open(&mut setup) => opened,
            };
            match opened {
                Ok((connection, link)) => {
                    backoff.reset();
                    let ended = session(link).await;
                    // After a loss, whatever the session held can no longer be acked: the
                    // broker redelivers it to whoever consumes next.
                    let reason = match ended {
                        Ended::Lost => "reconnecting",
                        Ended::Stopped => "shutting down",
                    };
                    // Bounded: a connection that died unnoticed never answers its close.
                    let _ = tokio::time::timeout(super::BROKER_OPERATION_TIMEOUT, connection.close(200, reason.into()))
                        .await;
                    if let Ended::Stopped = ended {
                        return;
                    }
                }
                Err(error) => tracing::warn!(%error, connection = self.name, "cannot reach the broker; retrying"),
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(backoff.next()) => {}
            }
        }
    }
}

/// Exponential backoff between reconnects: 100 ms doubling up to 5 s.
struct Backoff(Duration);

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(5);

    fn new() -> Self {
        Self(Self::FIRST)
    }

    fn reset(&mut self) {
        self.0 = Self::FIRST;
    }

    fn next(&mut self) -> Duration {
        let delay = self.0;
        self.0 = (self.0 * 2).min(Self::MAX);
        delay
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::Backoff;

    #[test]
    fn backoff_doubles_up_to_its_cap_and_starts_over_after_a_reset() {
        let mut backoff = Backoff::new();
        let delays: Vec<_> = (0..8).map(|_| backoff.next()).collect();
        let millis: Vec<_> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(millis, [100, 200, 400, 800, 1600, 3200, 5000, 5000]);
        backoff.reset();
        assert_eq!(backoff.next(), Duration::from_millis(100));
    }
}
