//! No log level prints a password: a real call over RabbitMQ carrying one, with the processes'
//! own logging at `RUST_LOG=trace`. A test binary of its own, because the subscriber must be
//! the process's global one: lapin logs from its I/O thread, which no thread-local subscriber
//! reaches.
#![allow(clippy::unwrap_used)]

use std::{
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

use rpc::{Broker, Router, Service};
use serde::{Deserialize, Serialize};
use test_support::{Vhost, rabbitmqctl};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::util::SubscriberInitExt;
use uuid::Uuid;

/// A stand-in for a method that carries a password.
#[derive(Serialize, Deserialize)]
struct SignIn {
    password: String,
}
rpc::method!(SignIn, Users, "test.sign_in", String);

/// Everything logged, in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A RabbitMQ user of its own, whose password is a canary too; deleted however the test ends.
struct BrokerUser(String);

impl Drop for BrokerUser {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl").args(["delete_user", &self.0]).output();
    }
}

/// `text` as lapin prints a frame's bytes (`[99, 97, ...]`), without the brackets.
fn as_debug_bytes(text: &str) -> String {
    let debug = format!("{:?}", text.as_bytes());
    debug.trim_start_matches('[').trim_end_matches(']').to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_level_prints_a_password_carried_over_rabbitmq() {
    let captured = Captured::default();
    let writer = captured.clone();
    rpc::process::subscriber(Some("trace"), false, move || writer.clone()).init();

    let vhost = Vhost::create("rpc-logs").await;
    let (user, login_password) = (format!("logs-{}", Uuid::now_v7().simple()), format!("login-{}", Uuid::now_v7()));
    rabbitmqctl(&["add_user", &user, &login_password]).await;
    let _user = BrokerUser(user.clone());
    let (scheme, rest) = vhost.url.split_once("://").unwrap();
    let (_, host_and_vhost) = rest.split_once('@').unwrap();
    let (_, vhost_name) = host_and_vhost.rsplit_once('/').unwrap();
    rabbitmqctl(&["set_permissions", "-p", vhost_name, &user, ".*", ".*", ".*"]).await;
    let url = format!("{scheme}://{user}:{login_password}@{host_and_vhost}");

    let broker = Broker::amqp(&url);
    let shutdown = CancellationToken::new();
    let router = Router::new(()).route(|request: SignIn, ()| async move { Ok(request.password) });
    let worker = tokio::spawn({
        let (broker, shutdown) = (broker.clone(), shutdown.clone());
        async move { broker.serve(Service::Users, router, 8, shutdown).await.unwrap() }
    });
    let client = broker.client("test", Duration::from_secs(5));
    let password = format!("hunter2-{}", Uuid::now_v7());
    // Echoed back, so that the reply carries it too.
    assert_eq!(client.call(&SignIn { password: password.clone() }).await.unwrap(), password);
    tracing::trace!("trace is on");
    shutdown.cancel();
    worker.await.unwrap();
    drop(client);

    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(logs.contains("trace is on"), "the capture must see TRACE");
    assert!(logs.contains("worker consuming"), "the capture must see the worker's logs");
    for secret in [&password, &login_password] {
        assert!(!logs.contains(secret.as_str()), "a password was logged as text");
        assert!(!logs.contains(&as_debug_bytes(secret)), "a password was logged as bytes");
    }
}
