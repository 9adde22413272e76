//! A worker paused while it holds a request (a GC pause, VM steal, SIGSTOP) and resumed after
//! the request's deadline runs nothing it held: a newer write, acknowledged meanwhile through
//! another worker, stays. The workers are the real binary, on a vhost and a PostgreSQL database
//! of the test's own.

#![allow(clippy::unwrap_used)]

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use entities::orders::order;
use rpc::{Broker, Caller, ErrorCode, RpcClient, Service, orders::UpdateOrder};
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use test_support::{Backend, Vhost, with_test_database};
use uuid::Uuid;

/// An `orders-worker` process that is killed when dropped.
struct WorkerProcess(Child);

impl WorkerProcess {
    fn start(amqp_url: &str, database_url: &str, prefetch: u16) -> Self {
        let child = Command::new(env!("CARGO_BIN_EXE_orders-worker"))
            .env("AMQP_URL", amqp_url)
            .env("ORDERS_DATABASE_URL", database_url)
            .env("RPC_PREFETCH", prefetch.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("the orders-worker binary starts");
        Self(child)
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.0.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill {signal}");
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Pings until a worker answers: one that can take requests consumes the queue.
async fn until_answered(client: &RpcClient) {
    for _ in 0..600 {
        if client.ping(Service::Orders).await.is_ok() {
            return;
        }
    }
    panic!("no orders worker answered");
}

/// The requests of the orders queue that a worker holds and has not acked.
async fn held(vhost: &Vhost) -> u64 {
    let output = tokio::process::Command::new("rabbitmqctl")
        .args(["-q", "list_queues", "-p", vhost.name(), "name", "messages_unacknowledged"])
        .output()
        .await
        .unwrap();
    let listing = String::from_utf8_lossy(&output.stdout);
    listing
        .lines()
        .find_map(|line| line.strip_prefix("orders.rpc\t"))
        .and_then(|count| count.trim().parse().ok())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_worker_resumed_after_the_deadline_commits_nothing_it_held() {
    let vhost = Vhost::create("pause").await;
    with_test_database(Backend::Postgres, "orders_pause", |url| async move {
        let db = orders_worker::open_database(&url).await.unwrap();
        let now = entities::now();
        let stored = order::ActiveModel {
            id: Set(Uuid::now_v7()),
            user_id: Set(Uuid::now_v7()),
            item_description: Set("tea".into()),
            item_quantity: Set(1),
            item_price_cents: Set(100),
            total_value_cents: Set(100),
            created_at: Set(now),
            updated_at: Set(now),
        }
        .insert(&db)
        .await
        .unwrap();
        let client =
            Broker::amqp(&vhost.url).client("pause-test", Duration::from_millis(800)).as_caller(Caller::Service);
        let update = |quantity| UpdateOrder { id: stored.id, item_quantity: Some(quantity), ..UpdateOrder::default() };

        // Worker A holds one request at a time; it is the only one when it is paused.
        let paused = WorkerProcess::start(&vhost.url, &url, 1);
        until_answered(&client).await;
        paused.signal("-STOP");
        // vN reaches A, which cannot run it: its caller gives up.
        let late = client.call(&update(2)).await;
        assert_eq!(late.map_err(|error| error.code), Err(ErrorCode::ServiceUnavailable));
        assert_eq!(held(&vhost).await, 1, "the paused worker holds vN");

        // Worker B takes vN+1 (A's one place is taken) and it is acknowledged.
        let _twin = WorkerProcess::start(&vhost.url, &url, 32);
        until_answered(&client).await;
        assert_eq!(client.call(&update(3)).await.unwrap().item_quantity, 3);

        // A resumes long after vN's deadline: it drops vN rather than run it.
        paused.signal("-CONT");
        for _ in 0..500 {
            if held(&vhost).await == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(held(&vhost).await, 0, "the resumed worker dealt with vN");
        let row = order::Entity::find_by_id(stored.id).one(&db).await.unwrap().unwrap();
        assert_eq!(row.item_quantity, 3, "the late vN overwrote the acknowledged vN+1");
    })
    .await;
}
