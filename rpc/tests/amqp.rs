//! The RabbitMQ transport against a real broker, each test on a vhost of its own: replies by
//! correlation id, a panicking handler, an undecodable message, a request that expires
//! unanswered, and a worker that drains on shutdown.
#![allow(clippy::unwrap_used)]

use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures_util::StreamExt;
use lapin::{
    BasicProperties, Connection, ConnectionProperties,
    options::{BasicConsumeOptions, BasicGetOptions, BasicPublishOptions, QueueDeclareOptions},
    types::FieldTable,
};
use rpc::{Broker, Caller, ErrorCode, Headers, RequestState, Router, Service, users::GetUsers, users::User};
use serde::{Deserialize, Serialize};
use test_support::Vhost;
use tokio_util::sync::CancellationToken;

/// A stand-in users method whose handler the test controls.
#[derive(Serialize, Deserialize)]
struct Echo {
    text: String,
}
rpc::method!(Echo, Users, "test.echo", String);

#[derive(Serialize, Deserialize)]
struct Explode;
rpc::method!(Explode, Users, "test.explode", String);

#[derive(Serialize, Deserialize)]
struct WhoAsks;
rpc::method!(WhoAsks, Users, "test.who_asks", Caller);

/// What the worker knew of a request beside its body: its id, its input's fingerprint,
/// whether it was redelivered, whether it had a deadline.
#[derive(Serialize, Deserialize)]
struct WhichRequest;
rpc::method!(WhichRequest, Users, "test.which_request", (Option<uuid::Uuid>, Option<String>, bool, bool));

/// Counts calls; knows the headers of the one it handles.
#[derive(Clone, Default)]
struct Counter(Arc<AtomicUsize>, Headers);

impl RequestState for Counter {
    fn for_request(&self, headers: Headers) -> Self {
        Self(self.0.clone(), headers)
    }
}

fn test_router(counter: Counter) -> Router<Counter> {
    Router::new(counter)
        .route(|_: WhoAsks, counter: Counter| async move { Ok(counter.1.caller) })
        .route(|_: WhichRequest, counter: Counter| async move {
            let headers = counter.1;
            Ok((headers.request_id, headers.input, headers.redelivered, headers.deadline.is_some()))
        })
        .route(|request: Echo, counter: Counter| async move {
            counter.0.fetch_add(1, Ordering::SeqCst);
            Ok(request.text)
        })
        .route(|_: Explode, _: Counter| async move {
            if true {
                panic!("handler blew up");
            }
            Ok(String::new())
        })
}

fn serve(broker: &Broker, counter: Counter) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let shutdown = CancellationToken::new();
    let (broker, token) = (broker.clone(), shutdown.clone());
    let handle = tokio::spawn(async move {
        broker.serve(Service::Users, test_router(counter), 8, token).await.unwrap();
    });
    (shutdown, handle)
}

#[tokio::test]
async fn every_call_carries_its_caller_and_a_message_without_one_is_anonymous() {
    let vhost = Vhost::create("rpc").await;
    let broker = Broker::amqp(&vhost.url);
    let (shutdown, worker) = serve(&broker, Counter::default());
    let client = broker.client("test", Duration::from_secs(5));
    let id = uuid::Uuid::now_v7();
    for caller in [Caller::Anonymous, Caller::User(id), Caller::Admin(id), Caller::Service] {
        assert_eq!(client.as_caller(caller).call(&WhoAsks).await.unwrap(), caller);
    }
    assert_eq!(client.call(&WhoAsks).await.unwrap(), Caller::Anonymous, "a client is anonymous until told");

    // A message someone published by hand, with no header: anonymous, never privileged.
    let connection = Connection::connect(&vhost.url, ConnectionProperties::default()).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    let reply_queue = channel
        .queue_declare(
            "".into(),
            lapin::options::QueueDeclareOptions { exclusive: true, ..Default::default() },
            Default::default(),
        )
        .await
        .unwrap();
    let properties = BasicProperties::default()
        .with_type("test.who_asks".into())
        .with_correlation_id("by-hand".into())
        .with_reply_to(reply_queue.name().clone());
    channel
        .basic_publish("".into(), Service::Users.queue().into(), BasicPublishOptions::default(), b"null", properties)
        .await
        .unwrap();
    let reply = loop {
        if let Some(message) =
            channel.basic_get(reply_queue.name().clone(), BasicGetOptions { no_ack: true }).await.unwrap()
        {
            break message.delivery.data;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(rpc::codec::decode_reply::<Caller>(&reply).unwrap(), Caller::Anonymous);
    shutdown.cancel();
    worker.await.unwrap();
}

#[tokio::test]
async fn a_call_gets_the_reply_to_its_own_request() {
    let vhost = Vhost::create("rpc").await;
    let broker = Broker::amqp(&vhost.url);
    let counter = Counter::default();
    let (shutdown, worker) = serve(&broker, counter.clone());
    let client = broker.client("test", Duration::from_secs(5));

    let calls = (0..50).map(|i| {
        let client = client.clone();
        async move { client.call(&Echo { text: format!("hello {i}") }).await }
    });
    let replies = futures_util::future::join_all(calls).await;
    for (i, reply) in replies.into_iter().enumerate() {
        assert_eq!(reply.unwrap(), format!("hello {i}"));
    }
    assert_eq!(counter.0.load(Ordering::SeqCst), 50);
    shutdown.cancel();
    worker.await.unwrap();
}

#[tokio::test]
async fn a_panicking_handler_answers_internal_error_and_the_worker_lives_on() {
    let vhost = Vhost::create("rpc").await;
    let broker = Broker::amqp(&vhost.url);
    let (shutdown, worker) = serve(&broker, Counter::default());
    let client = broker.client("test", Duration::from_secs(5));

    let error = client.call(&Explode).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::InternalServerError);
    assert!(!error.message.contains("blew up"), "the panic message must not reach the caller");
    assert_eq!(client.call(&Echo { text: "still here".into() }).await.unwrap(), "still here");
    shutdown.cancel();
    worker.await.unwrap();
}

#[tokio::test]
async fn an_undecodable_message_goes_to_the_dead_letter_queue() {
    let vhost = Vhost::create("rpc").await;
    let broker = Broker::amqp(&vhost.url);
    let counter = Counter::default();
    let (shutdown, worker) = serve(&broker, counter.clone());
    let client = broker.client("test", Duration::from_secs(5));
    // The worker is up once it answers.
    client.ping(Service::Users).await.unwrap();

    // A message that no method of the service can decode, sent the way a buggy client would.
    let connection = Connection::connect(&vhost.url, ConnectionProperties::default()).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    // One too big to keep: the dead-letter queue is bounded, and this one is dropped.
    let properties = BasicProperties::default().with_type("test.echo".into());
    let huge = vec![b'x'; 2 * 1024 * 1024];
    channel
        .basic_publish("".into(), "users.rpc".into(), BasicPublishOptions::default(), &huge, properties.clone())
        .await
        .unwrap();
    channel
        .basic_publish("".into(), "users.rpc".into(), BasicPublishOptions::default(), b"{not json", properties)
        .await
        .unwrap();
    // Users with an unknown method go the same way.
    let properties = BasicProperties::default().with_type("users.no_such_method".into());
    channel
        .basic_publish("".into(), "users.rpc".into(), BasicPublishOptions::default(), b"{}", properties)
        .await
        .unwrap();

    let mut dead = Vec::new();
    for _ in 0..200 {
        if let Some(message) =
            channel.basic_get("users.rpc.dead".into(), BasicGetOptions { no_ack: true }).await.unwrap()
        {
            dead.push(message.delivery.data.clone());
            if dead.len() == 2 {
                break;
            }
            continue;
        }
        // Polling the queue: the worker moves messages asynchronously.
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(dead, vec![b"{not json".to_vec(), b"{}".to_vec()]);
    assert_eq!(counter.0.load(Ordering::SeqCst), 0);
    // And the worker still answers.
    assert_eq!(client.call(&Echo { text: "ok".into() }).await.unwrap(), "ok");
    shutdown.cancel();
    worker.await.unwrap();
}

#[tokio::test]
async fn a_request_carries_its_id_input_and_deadline_and_a_redelivery_says_so() {
    let vhost = Vhost::create("rpc").await;
    let broker = Broker::amqp(&vhost.url);
    let client = broker.client("test", Duration::from_secs(5));
    // The client declares the queues once it is connected.
    let _ = client.call(&GetUsers { ids: Vec::new() }).await;
    let id = uuid::Uuid::now_v7();
    let (shutdown, worker) = serve(&broker, Counter::default());
    let answer = client.idempotent(id, "fingerprint".into()).call(&WhichRequest).await.unwrap();
    assert_eq!(answer, (Some(id), Some("fingerprint".to_owned()), false, true));
    // Every call has an id of its own otherwise.
    let (own, input, _, _) = client.call(&WhichRequest).await.unwrap();
    assert!(own.is_some_and(|own| own != id) && input.is_none());
    shutdown.cancel();
    worker.await.unwrap();

    // A request taken by a consumer that died before its ack comes back marked redelivered.
    let connection = Connection::connect(&vhost.url, ConnectionProperties::default()).await.unwrap();
    let channel = connection.create_channel().await.unwrap();
    let replies = channel
        .queue_declare("".into(), QueueDeclareOptions { exclusive: true, ..Default::default() }, FieldTable::default())
        .await
        .unwrap();
    let properties = BasicProperties::default()
        .with_type("test.which_request".into())
        .with_message_id(id.simple().to_string().into())
        .with_reply_to(replies.name().clone())
        .with_correlation_id("first".into());
    channel
        .basic_publish("".into(), "users.rpc".into(), BasicPublishOptions::default(), b"null", properties)
        .await
        .unwrap();
    let dying = connection.create_channel().await.unwrap();
    let mut taken = dying
        .basic_consume("users.rpc".into(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
        .await
        .unwrap();
    taken.next().await.unwrap().unwrap();
    dying.close(200, "dies before its ack".into()).await.unwrap();
    let (shutdown, worker) = serve(&broker, Counter::default());
    let mut reply = channel
        .basic_consume(
            replies.name().clone(),
            "".into(),
            BasicConsumeOptions { no_ack: true, ..Default::default() },
            FieldTable::default(),
        )
        .await
        .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(10), reply.next()).await.unwrap().unwrap().unwrap();
    let answer: Result<(Option<uuid::Uuid>, Option<String>, bool, bool), rpc::RpcError> =
        serde_json::from_slice(&reply.data).unwrap();
    assert_eq!(answer.unwrap(), (Some(id), None, true, false));
    shutdown.cancel();
    worker.await.unwrap();
}

#[tokio::test]
async fn a_client_and_a_worker_given_several_addresses_use_one_that_answers() {
    let vhost = Vhost::create("rpc").await;
    // Nothing listens on port 1: the first address fails, the second is the broker.
    let broker = Broker::amqp(&format!("amqp://guest:guest@127.0.0.1:1/%2f, {}", vhost.url));
    let (shutdown, worker) = serve(&broker, Counter::default());
    let client = broker.client("test", Duration::from_secs(10));
    assert_eq!(client.call(&Echo { text: "over the second".into() }).await.unwrap(), "over the second");
    shutdown.cancel();
    worker.await.unwrap();
}

#[tokio::test]
async fn a_request_nobody_takes_in_time_fails_and_is_never_run() {
    let vhost = Vhost::create("rpc").await;
    let broker = Broker::amqp(&vhost.url);
    let client = broker.client("test", Duration::from_millis(300));

    // No worker: the call waits its deadline and gives up.
    let started = std::time::Instant::now();
    let error = client.call(&Echo { text: "too late".into() }).await.unwrap_err();
    assert_eq!(error.code, ErrorCode::ServiceUnavailable);
    assert!(started.elapsed() < Duration::from_secs(3));

    // A worker that starts afterwards never runs it: the request expired in the queue.
    let counter = Counter::default();
    let (shutdown, worker) = serve(&broker, counter.clone());
    let answered = broker.client("test", Duration::from_secs(5));
    assert_eq!(answered.call(&Echo { text: "on time".into() }).await.unwrap(), "on time");
    assert_eq!(counter.0.load(Ordering::SeqCst), 1, "only the request made in time ran");
    shutdown.cancel();
    worker.await.unwrap();
}

#[tokio::test]
async fn a_stopping_worker_finishes_what_it_holds() {
    let vhost = Vhost::create("rpc").await;
    let broker = Broker::amqp(&vhost.url);
    let shutdown = CancellationToken::new();
    let started = Arc::new(tokio::sync::Notify::new());
    let router = Router::new(started.clone()).route(|_: GetUsers, started: Arc<tokio::sync::Notify>| async move {
        started.notify_one();
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(Vec::<User>::new())
    });
    let worker = tokio::spawn({
        let (broker, token) = (broker.clone(), shutdown.clone());
        async move { broker.serve(Service::Users, router, 8, token).await.unwrap() }
    });
    let client = broker.client("test", Duration::from_secs(5));
    let call = tokio::spawn(async move { client.call(&GetUsers { ids: vec![] }).await });
    started.notified().await;
    // Stop while the handler runs: its answer must still arrive.
    shutdown.cancel();
    assert_eq!(call.await.unwrap().unwrap(), Vec::<User>::new());
    worker.await.unwrap();
}
