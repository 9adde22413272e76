//! What every binary does the same way: logging, the shutdown signal and shared defaults.

use tokio_util::sync::CancellationToken;
use tracing::{Subscriber, level_filters::LevelFilter};
use tracing_subscriber::{EnvFilter, Layer, filter::Targets, fmt, fmt::MakeWriter, prelude::*};

/// Logs to stderr, filtered by `RUST_LOG` (default `info`), as JSON when `LOG_FORMAT=json`.
pub fn init_tracing() {
    let rust_log = std::env::var(EnvFilter::DEFAULT_ENV).ok();
    let json = std::env::var("LOG_FORMAT").is_ok_and(|format| format == "json");
    subscriber(rust_log.as_deref(), json, std::io::stderr).init();
}

/// What [`init_tracing`] installs, writing to `writer`: `rust_log`'s directives (`info` when
/// missing or invalid), then [`no_message_bodies`] over them.
pub fn subscriber<W>(rust_log: Option<&str>, json: bool, writer: W) -> impl Subscriber + Send + Sync + 'static
where
    W: for<'writer> MakeWriter<'writer> + Send + Sync + 'static,
{
    let filter =
        rust_log.and_then(|directives| EnvFilter::try_new(directives).ok()).unwrap_or_else(|| EnvFilter::new("info"));
    let format =
        if json { fmt::layer().json().with_writer(writer).boxed() } else { fmt::layer().with_writer(writer).boxed() };
    tracing_subscriber::registry().with(filter).with(no_message_bodies()).with(format)
}

/// Keeps the RabbitMQ client's logs that print whole frames out of every log, whatever
/// `RUST_LOG` says: at TRACE lapin logs each frame it reads and writes, message bodies
/// (passwords) and the login included. A filter of its own rather than directives appended
/// to `RUST_LOG`'s, because a more specific directive there (`lapin::channels=trace`) would
/// win over ours.
pub fn no_message_bodies() -> Targets {
    Targets::new()
        .with_default(LevelFilter::TRACE)
        // Also covers amq_protocol_tcp, _types and _uri: targets match by prefix.
        .with_target("amq_protocol", LevelFilter::DEBUG)
        .with_target("lapin", LevelFilter::DEBUG)
        // Warns with a returned message whole, body included. Only messages published as
        // `mandatory` come back, and we publish none.
        .with_target("lapin::returned_messages", LevelFilter::OFF)
}

/// A token cancelled on the first SIGINT or SIGTERM.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown signal received; finishing work in flight");
        cancel.cancel();
    });
    token
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Shows a URL with its password masked, for logs: credentials never reach a log.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Defaults of the settings that more than one binary reads (the gateway passes the workers'
/// on to its embedded services), written once for all of them.
pub mod defaults {
    /// `RPC_PREFETCH`: the requests a worker holds, and so handles, at once.
    pub const RPC_PREFETCH: u16 = 32;
    /// `RPC_TIMEOUT_MS`: how long a caller waits for a service, in milliseconds.
    pub const RPC_TIMEOUT_MS: u64 = 5000;
    /// `DATA_DIR`: where the services' SQLite files live when no database URL is given.
    pub const DATA_DIR: &str = "./data";
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn passwords_in_urls_are_masked() {
        assert_eq!(redact_url("amqp://guest:secret@localhost:5672/vh"), "amqp://guest:***@localhost:5672/vh");
        assert_eq!(redact_url("postgres://localhost/users"), "postgres://localhost/users");
    }
}
