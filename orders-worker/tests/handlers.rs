//! The orders service's handlers, called directly (no broker), each scenario on a fresh SQLite
//! file and on a fresh PostgreSQL database.
//!
//! Events go to an in-process hub, where a subscriber collects them; the users service is a
//! fake served on the same hub that knows the users a test made. PostgreSQL comes from
//! `TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`); each test
//! creates `orders_test_<TEST_RUN_ID or "local">_<uuid>` there and drops it afterwards.

#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::{
    collections::HashSet,
    future::Future,
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};

use entities::{
    orders::{deleted_user, order},
    write::Write,
};
use futures_util::FutureExt;
use orders_worker::{
    Context,
    cascade::{on_user_created, on_user_deleted},
    handlers::{create_order, delete_order, get_orders, list_orders, orders_of_users, update_order},
};
use rpc::{
    Caller, Envelope, ErrorCode, Headers, Page, PageExtras, RequestState, RpcClient, RpcError, RpcResult, Service,
    events::{ORDER_CREATED, ORDER_DELETED, ORDER_UPDATED, USER_DELETED},
    local::LocalHub,
    orders::{
        CreateOrder, DeleteOrder, Deleted, GetOrders, ListOrders, Order, OrdersOfUsers, UpdateOrder, UserOrdersKey,
    },
    users::{GetUsers, User},
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, sea_query::Expr};
use test_support::{Backend, with_test_database};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------

/// Events the tests never assert on: a marker that proves the subscriber caught up.
const PROBE: &str = "test.probe";
const WATCHED: &[&str] = &["order.*", PROBE];

/// The handlers' context over a fresh database, a hub, a fake users service and an event log.
struct TestApp {
    ctx: Context,
    hub: LocalHub,
    url: String,
    known_users: Arc<Mutex<HashSet<Uuid>>>,
    seen: Arc<Mutex<Vec<Envelope>>>,
    users_service: Option<(CancellationToken, JoinHandle<()>)>,
    /// Stops the background tasks when the test ends, however it ends.
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestApp {
    async fn start(url: &str) -> Self {
        let db = orders_worker::open_database(url).await.unwrap();
        let hub = LocalHub::default();
        let shutdown = CancellationToken::new();
        let users = RpcClient::new(Arc::new(hub.clone()), Duration::from_secs(2));
        let ctx = Context::new(db, Arc::new(hub.clone()), users);
        let mut app = Self {
            ctx,
            hub,
            url: url.to_owned(),
            known_users: Arc::default(),
            seen: Arc::default(),
            users_service: None,
            shutdown,
        };
        app.start_event_log().await;
        app.start_users_service().await;
        app
    }

    async fn start_event_log(&self) {
        let seen = self.seen.clone();
        let handler: rpc::EventHandler = Arc::new(move |envelope| {
            seen.lock().unwrap().push(envelope);
            async { Ok(()) }.boxed()
        });
        let (hub, token) = (self.hub.clone(), self.shutdown.clone());
        tokio::spawn(async move { hub.subscribe(WATCHED, handler, token).await });
        // The subscription starts when the task first runs: wait until it hears a probe.
        self.events().await;
    }

    async fn start_users_service(&mut self) {
        let token = self.shutdown.child_token();
        let router = rpc::Router::new(self.known_users.clone()).route(
            |req: GetUsers, known: Arc<Mutex<HashSet<Uuid>>>| async move {
                let known = known.lock().unwrap().clone();
                Ok(req.ids.into_iter().filter(|id| known.contains(id)).map(fake_user).collect::<Vec<_>>())
            },
        );
        let (hub, serve_token) = (self.hub.clone(), token.clone());
        let task = tokio::spawn(async move { hub.serve(Service::Users, router, serve_token).await.unwrap() });
        self.users_service = Some((token, task));
        for _ in 0..500 {
            if self.ctx.users.ping(Service::Users).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("the fake users service never answered");
    }

    async fn stop_users_service(&mut self) {
        let (token, task) = self.users_service.take().unwrap();
        token.cancel();
        task.await.unwrap();
    }

    /// A user the fake users service knows.
    fn new_user(&self) -> Uuid {
        let id = Uuid::now_v7();
        self.known_users.lock().unwrap().insert(id);
        id
    }

    /// The events published since the last call, in order, without their outbox sequences,
    /// which rise from one to the next (asserted here). A probe published now comes back
    /// after everything published before it, so nothing in flight is missed.
    async fn events(&self) -> Vec<Envelope> {
        let mut events = self.published().await;
        // The orders service's own: what the tests publish themselves goes round the outbox.
        let sequences: Vec<Option<i64>> = events
            .iter()
            .filter(|envelope| envelope.routing_key.starts_with("order."))
            .map(|envelope| envelope.event.sequence)
            .collect();
        assert!(sequences.iter().all(Option::is_some), "every relayed event has its sequence: {sequences:?}");
        assert!(sequences.is_sorted_by(|a, b| a < b), "sequences rise in publishing order: {sequences:?}");
        for envelope in &mut events {
            envelope.event.sequence = None;
        }
        events
    }

    async fn published(&self) -> Vec<Envelope> {
        // What the handlers committed waits in the outbox: send it, as the relay would.
        self.ctx.outbox.flush().await.unwrap();
        let probe = Uuid::now_v7();
        for attempt in 0..2500 {
            // Again now and then: at start-up the subscriber may not be listening yet.
            if attempt % 50 == 0 {
                rpc::EventPublisher::publish(&self.hub, &[Envelope::new(PROBE, probe, None)]).await.unwrap();
            }
            {
                let mut seen = self.seen.lock().unwrap();
                if seen.iter().any(|envelope| envelope.event.id == probe) {
                    return seen.drain(..).filter(|envelope| envelope.routing_key != PROBE).collect();
                }
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        panic!("the event subscriber never caught up");
    }

    async fn create(&self, user_id: Uuid, quantity: i64, price: &str) -> RpcResult<Order> {
        create_order(create_request(user_id, quantity, price), self.ctx.clone()).await
    }

    /// Creates an order that must be accepted, and forgets its event.
    async fn order(&self, user_id: Uuid) -> Order {
        let order = self.create(user_id, 2, "10.5").await.unwrap();
        self.events().await;
        order
    }

    async fn list(&self, first: u32, after: Option<Uuid>, user_id: Option<Uuid>) -> RpcResult<Page<Order>> {
        self.list_with(first, after, user_id, PageExtras::ALL).await
    }

    async fn list_with(
        &self,
        first: u32,
        after: Option<Uuid>,
        user_id: Option<Uuid>,
        extras: PageExtras,
    ) -> RpcResult<Page<Order>> {
        list_orders(ListOrders { first, after, user_id, extras }, self.ctx.clone()).await
    }

    async fn rows(&self) -> Vec<order::Model> {
        order::Entity::find().all(&self.ctx.db).await.unwrap()
    }

    /// Asserts a refused write left the table as it was and announced nothing.
    async fn assert_unchanged(&self, before: &[order::Model]) {
        let mut after = self.rows().await;
        after.sort_by_key(|row| row.id);
        let mut before = before.to_vec();
        before.sort_by_key(|row| row.id);
        assert_eq!(after, before, "a refused write changed the table");
        assert_eq!(self.events().await, Vec::new(), "a refused write announced something");
    }
}

fn fake_user(id: Uuid) -> User {
    let now = chrono::Utc::now();
    User {
        id,
        nick_name: format!("user_{}", &id.simple().to_string()[24..]),
        full_name: "Test User".to_owned(),
        cpf: "52998224725".to_owned(),
        email: format!("{}@example.com", id.simple()),
        phone_number: "+5511999999999".to_owned(),
        created_at: now,
        updated_at: now,
    }
}

fn create_request(user_id: Uuid, quantity: i64, price: &str) -> CreateOrder {
    CreateOrder {
        id: Uuid::now_v7(),
        user_id,
        item_description: "A red chair".to_owned(),
        item_quantity: quantity,
        item_price: price.to_owned(),
    }
}

#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(result: RpcResult<T>, field: &str) {
    let error = result.unwrap_err();
    assert_eq!((error.code, error.field.as_deref()), (ErrorCode::BadUserInput, Some(field)), "{error:?}");
}

#[track_caller]
fn assert_code<T: std::fmt::Debug>(result: RpcResult<T>, code: ErrorCode) -> RpcError {
    let error = result.unwrap_err();
    assert_eq!(error.code, code, "{error:?}");
    error
}

/// Runs `scenario` on a fresh database of `backend`, and drops the database even when the
/// scenario panics.
async fn run<F, Fut>(backend: Backend, scenario: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    with_test_database(backend, "orders_test", |url| async move { scenario(TestApp::start(&url).await).await }).await;
}

// Each scenario as two tests, `sqlite::NAME` and `postgres::NAME`.
test_support::on_both_backends! {
    run: crate::run,
    sqlite => crate::Backend::Sqlite,
    postgres => crate::Backend::Postgres;
    a_valid_order_is_stored_trimmed_with_its_exact_total_and_announced,
    item_quantity_must_be_between_one_and_a_million,
    item_price_must_have_at_most_two_places_and_stay_within_a_billion,
    item_description_must_have_one_to_five_hundred_characters_after_trimming,
    money_stays_exact_at_both_ends_of_the_range,
    an_order_for_an_unknown_user_is_refused_on_user_id,
    when_the_users_service_is_down_only_creates_for_users_not_known_yet_fail,
    a_user_heard_of_in_user_created_is_known_without_a_call_until_deleted,
    a_repeated_create_answers_the_first_order_without_a_second_row_or_event,
    concurrent_deliveries_of_one_create_make_one_order,
    update_changes_the_given_fields_recomputes_the_total_and_bumps_updated_at,
    an_update_that_changes_nothing_keeps_updated_at_and_announces_nothing,
    a_refused_update_changes_nothing,
    update_and_delete_of_an_unknown_order_answer_not_found,
    delete_removes_the_order_and_announces_it,
    a_redelivered_delete_answers_true_again_and_announces_once,
    creates_racing_the_cascade_leave_no_order_of_the_deleted_user,
    a_write_whose_deadline_passes_before_it_commits_changes_nothing,
    get_answers_each_existing_order_once,
    get_refuses_more_than_a_thousand_ids,
    list_pages_through_all_orders_or_one_users_orders_by_id,
    list_counts_and_looks_back_only_when_asked,
    list_refuses_pages_above_a_hundred,
    orders_of_users_answers_one_page_per_key_exactly_like_list,
    orders_of_users_refuses_more_than_a_thousand_keys,
    the_cascade_deletes_only_that_users_orders_and_is_idempotent,
    a_deleted_user_cannot_get_new_orders,
    run_serves_every_method_and_consumes_user_deleted_over_the_hub,
    migrations_run_again_on_a_migrated_database_without_harm,
}

// ---------------------------------------------------------------------------------------------
// Scenarios
// ---------------------------------------------------------------------------------------------

async fn a_valid_order_is_stored_trimmed_with_its_exact_total_and_announced(app: TestApp) {
    let user = app.new_user();
    let mut req = create_request(user, 3, "19.9");
    req.item_description = "  A red chair \n".to_owned();
    let order = create_order(req.clone(), app.ctx.clone()).await.unwrap();

    assert_eq!(order.id, req.id);
    assert_eq!(order.user_id, user);
    assert_eq!(order.item_description, "A red chair");
    assert_eq!(order.item_quantity, 3);
    assert_eq!(order.item_price, "19.90");
    assert_eq!(order.total_value, "59.70");
    assert_eq!(order.created_at, order.updated_at);
    assert_eq!(app.events().await, vec![Envelope::new(ORDER_CREATED, order.id, Some(user))]);

    // What was stored reads back equal, timestamps included (microseconds on both backends).
    let stored = get_orders(GetOrders { ids: vec![order.id] }, app.ctx.clone()).await.unwrap();
    assert_eq!(stored, vec![order.clone()]);
    let row = order::Entity::find_by_id(order.id).one(&app.ctx.db).await.unwrap().unwrap();
    assert_eq!((row.item_price_cents, row.total_value_cents), (1990, 5970));
}

async fn item_quantity_must_be_between_one_and_a_million(app: TestApp) {
    let user = app.new_user();
    for quantity in [0, -1, 1_000_001, i64::from(i32::MAX) + 1] {
        let before = app.rows().await;
        assert_invalid(app.create(user, quantity, "1").await, "itemQuantity");
        app.assert_unchanged(&before).await;
    }
    assert_eq!(app.create(user, 1, "1").await.unwrap().item_quantity, 1);
    assert_eq!(app.create(user, 1_000_000, "1").await.unwrap().total_value, "1000000.00");
}

async fn item_price_must_have_at_most_two_places_and_stay_within_a_billion(app: TestApp) {
    let user = app.new_user();
    for (price, shown) in [("0", "0.00"), ("19.9", "19.90"), ("19.90", "19.90"), ("1000000000", "1000000000.00")] {
        assert_eq!(app.create(user, 1, price).await.unwrap().item_price, shown, "{price}");
    }
    app.events().await;
    for price in ["1000000000.01", "1.234", "-1", "abc", "", "1e3", "19,90", "0x10", " 1"] {
        let before = app.rows().await;
        assert_invalid(app.create(user, 1, price).await, "itemPrice");
        app.assert_unchanged(&before).await;
    }
}

async fn item_description_must_have_one_to_five_hundred_characters_after_trimming(app: TestApp) {
    let user = app.new_user();
    for description in [String::new(), "   ".to_owned(), "é".repeat(501), "a".repeat(501)] {
        let before = app.rows().await;
        let mut req = create_request(user, 1, "1");
        req.item_description = description;
        assert_invalid(create_order(req, app.ctx.clone()).await, "itemDescription");
        app.assert_unchanged(&before).await;
    }
    for description in ["x".to_owned(), "é".repeat(500), format!("  {}  ", "a".repeat(500))] {
        let mut req = create_request(user, 1, "1");
        req.item_description = description.clone();
        let order = create_order(req, app.ctx.clone()).await.unwrap();
        assert_eq!(order.item_description, description.trim());
    }
}

async fn money_stays_exact_at_both_ends_of_the_range(app: TestApp) {
    let user = app.new_user();
    assert_eq!(app.create(user, 7, "0.1").await.unwrap().total_value, "0.70");
    assert_eq!(app.create(user, 3, "0.10").await.unwrap().total_value, "0.30");
    let largest = app.create(user, 1_000_000, "999999999.99").await.unwrap();
    assert_eq!((largest.item_price.as_str(), largest.total_value.as_str()), ("999999999.99", "999999999990000.00"));
    let read_back = get_orders(GetOrders { ids: vec![largest.id] }, app.ctx.clone()).await.unwrap();
    assert_eq!(read_back[0].total_value, "999999999990000.00");
    let row = order::Entity::find_by_id(largest.id).one(&app.ctx.db).await.unwrap().unwrap();
    assert_eq!(row.total_value_cents, 99_999_999_999_000_000);
}

async fn an_order_for_an_unknown_user_is_refused_on_user_id(app: TestApp) {
    app.order(app.new_user()).await;
    let before = app.rows().await;
    let error = app.create(Uuid::now_v7(), 1, "1").await.unwrap_err();
    assert_eq!((error.code, error.field.as_deref()), (ErrorCode::BadUserInput, Some("userId")));
    assert_eq!(error.message, "no user with this id");
    app.assert_unchanged(&before).await;
}

async fn when_the_users_service_is_down_only_creates_for_users_not_known_yet_fail(mut app: TestApp) {
    let (known, unknown) = (app.new_user(), app.new_user());
    // The users service said once that `known` exists: the orders service keeps that.
    app.order(known).await;
    app.stop_users_service().await;
    let before = app.rows().await;
    assert_code(app.create(unknown, 1, "1").await, ErrorCode::ServiceUnavailable);
    app.assert_unchanged(&before).await;
    // Reads do not need the users service, nor creates for a known user.
    app.create(known, 1, "1").await.unwrap();
    assert_eq!(app.list(10, None, Some(known)).await.unwrap().items.len(), 2);
}

async fn a_user_heard_of_in_user_created_is_known_without_a_call_until_deleted(mut app: TestApp) {
    // Nobody the fake users service knows: only the event says the user exists.
    let user = Uuid::now_v7();
    on_user_created(&app.ctx, user).await.unwrap();
    app.stop_users_service().await;
    app.create(user, 1, "1").await.unwrap();
    on_user_deleted(&app.ctx, user).await.unwrap();
    assert_invalid(app.create(user, 1, "1").await, "userId");
    // A `user.created` heard after the user's deletion (another queue) does not bring them back.
    on_user_created(&app.ctx, user).await.unwrap();
    assert_invalid(app.create(user, 1, "1").await, "userId");
    assert_eq!(app.list(10, None, Some(user)).await.unwrap().items.len(), 0);
}

async fn a_repeated_create_answers_the_first_order_without_a_second_row_or_event(app: TestApp) {
    let user = app.new_user();
    let req = create_request(user, 2, "5");
    let first = create_order(req.clone(), app.ctx.clone()).await.unwrap();
    assert_eq!(app.events().await.len(), 1);

    let again = create_order(req.clone(), app.ctx.clone()).await.unwrap();
    assert_eq!(again, first);
    // A redelivery answers what the first delivery made, whatever else it says.
    let mut changed = req.clone();
    changed.item_quantity = 9;
    assert_eq!(create_order(changed, app.ctx.clone()).await.unwrap(), first);
    assert_eq!(app.rows().await.len(), 1);
    assert_eq!(app.events().await, Vec::new());
}

async fn concurrent_deliveries_of_one_create_make_one_order(app: TestApp) {
    let user = app.new_user();
    let req = create_request(user, 2, "5");
    let deliveries: Vec<_> =
        (0..8).map(|_| tokio::spawn(create_order(req.clone(), app.ctx.clone()))).collect::<Vec<_>>();
    let mut answers = Vec::new();
    for delivery in deliveries {
        answers.push(delivery.await.unwrap().unwrap());
    }
    assert!(answers.iter().all(|answer| *answer == answers[0]), "{answers:#?}");
    assert_eq!(app.rows().await.len(), 1);
    assert_eq!(app.events().await, vec![Envelope::new(ORDER_CREATED, req.id, Some(user))]);
}

async fn update_changes_the_given_fields_recomputes_the_total_and_bumps_updated_at(app: TestApp) {
    let user = app.new_user();
    let order = app.order(user).await;
    assert_eq!(order.total_value, "21.00");
    tokio::time::sleep(Duration::from_millis(5)).await;

    let req = UpdateOrder { id: order.id, item_quantity: Some(7), ..UpdateOrder::default() };
    let updated = update_order(req, app.ctx.clone()).await.unwrap();
    assert_eq!((updated.item_quantity, updated.item_price.as_str()), (7, "10.50"));
    assert_eq!(updated.total_value, "73.50");
    assert_eq!(updated.item_description, order.item_description);
    assert_eq!(updated.created_at, order.created_at);
    assert!(updated.updated_at > order.updated_at);
    assert_eq!(app.events().await, vec![Envelope::new(ORDER_UPDATED, order.id, Some(user))]);

    let req = UpdateOrder {
        id: order.id,
        item_description: Some("  A blue chair ".to_owned()),
        item_price: Some("0.1".to_owned()),
        ..UpdateOrder::default()
    };
    let updated = update_order(req, app.ctx.clone()).await.unwrap();
    assert_eq!(updated.item_description, "A blue chair");
    assert_eq!((updated.item_price.as_str(), updated.total_value.as_str()), ("0.10", "0.70"));
    let stored = get_orders(GetOrders { ids: vec![order.id] }, app.ctx.clone()).await.unwrap();
    assert_eq!(stored, vec![updated]);
    assert_eq!(app.events().await.len(), 1);
}

async fn an_update_that_changes_nothing_keeps_updated_at_and_announces_nothing(app: TestApp) {
    let order = app.order(app.new_user()).await;
    for req in [
        UpdateOrder { id: order.id, ..UpdateOrder::default() },
        UpdateOrder {
            id: order.id,
            item_description: Some(format!(" {} ", order.item_description)),
            item_quantity: Some(2),
            item_price: Some("10.50".to_owned()),
        },
    ] {
        assert_eq!(update_order(req, app.ctx.clone()).await.unwrap(), order);
    }
    assert_eq!(app.events().await, Vec::new());
}

async fn a_refused_update_changes_nothing(app: TestApp) {
    let order = app.order(app.new_user()).await;
    let before = app.rows().await;
    let refusals = [
        (UpdateOrder { id: order.id, item_quantity: Some(0), ..UpdateOrder::default() }, "itemQuantity"),
        (UpdateOrder { id: order.id, item_quantity: Some(1_000_001), ..UpdateOrder::default() }, "itemQuantity"),
        (UpdateOrder { id: order.id, item_price: Some("1.234".to_owned()), ..UpdateOrder::default() }, "itemPrice"),
        (UpdateOrder { id: order.id, item_price: Some("-1".to_owned()), ..UpdateOrder::default() }, "itemPrice"),
        (
            UpdateOrder { id: order.id, item_description: Some(" ".to_owned()), ..UpdateOrder::default() },
            "itemDescription",
        ),
        // One bad field refuses the whole update, good fields included.
        (
            UpdateOrder {
                id: order.id,
                item_description: Some("fine".to_owned()),
                item_quantity: Some(3),
                item_price: Some("1000000000.01".to_owned()),
            },
            "itemPrice",
        ),
    ];
    for (req, field) in refusals {
        assert_invalid(update_order(req, app.ctx.clone()).await, field);
        app.assert_unchanged(&before).await;
    }
}

async fn update_and_delete_of_an_unknown_order_answer_not_found(app: TestApp) {
    app.order(app.new_user()).await;
    let before = app.rows().await;
    let missing = Uuid::now_v7();
    let req = UpdateOrder { id: missing, item_quantity: Some(3), ..UpdateOrder::default() };
    assert_code(update_order(req, app.ctx.clone()).await, ErrorCode::NotFound);
    assert_code(delete_order(DeleteOrder { id: missing }, app.ctx.clone()).await, ErrorCode::NotFound);
    app.assert_unchanged(&before).await;
}

async fn delete_removes_the_order_and_announces_it(app: TestApp) {
    let user = app.new_user();
    let (gone, kept) = (app.order(user).await, app.order(user).await);
    assert_eq!(delete_order(DeleteOrder { id: gone.id }, app.ctx.clone()).await.unwrap().owner(), Some(gone.user_id));
    assert_eq!(app.events().await, vec![Envelope::new(ORDER_DELETED, gone.id, Some(user))]);
    let left = get_orders(GetOrders { ids: vec![gone.id, kept.id] }, app.ctx.clone()).await.unwrap();
    assert_eq!(left, vec![kept]);
    assert_code(delete_order(DeleteOrder { id: gone.id }, app.ctx.clone()).await, ErrorCode::NotFound);
    assert_eq!(app.events().await, Vec::new());
}

async fn a_redelivered_delete_answers_true_again_and_announces_once(app: TestApp) {
    let user = app.new_user();
    let order = app.order(user).await;
    let first = Headers { caller: Caller::Service, request_id: Some(Uuid::now_v7()), ..Headers::default() };
    let ctx = |headers: &Headers| app.ctx.for_request(headers.clone());
    assert_eq!(
        delete_order(DeleteOrder { id: order.id }, ctx(&first)).await.map(Deleted::owner),
        Ok(Some(order.user_id))
    );
    assert_eq!(app.events().await, vec![Envelope::new(ORDER_DELETED, order.id, Some(user))]);
    // The broker gives the same request again (its first worker died before the ack).
    let redelivered = Headers { redelivered: true, ..first.clone() };
    assert_eq!(
        delete_order(DeleteOrder { id: order.id }, ctx(&redelivered)).await.map(Deleted::owner),
        Ok(Some(order.user_id))
    );
    assert_eq!(app.events().await, Vec::new(), "a redelivery announces nothing again");
    // Another request for the same order finds nothing.
    let another = Headers { request_id: Some(Uuid::now_v7()), ..first };
    assert_code(delete_order(DeleteOrder { id: order.id }, ctx(&another)).await, ErrorCode::NotFound);
}

/// A worker paused between its statements and its COMMIT (GC, VM steal, SIGSTOP) resumes
/// after its caller's deadline: the write does not commit, and it announces nothing.
async fn a_write_whose_deadline_passes_before_it_commits_changes_nothing(app: TestApp) {
    let user = app.new_user();
    let order = app.order(user).await;
    let deadline = SystemTime::now() + Duration::from_millis(300);
    let headers = Headers {
        caller: Caller::Service,
        request_id: Some(Uuid::now_v7()),
        deadline: Some(deadline),
        ..Headers::default()
    };
    let mut write = Write::begin::<UpdateOrder>(&app.ctx.db, &app.ctx.outbox, &headers).await.unwrap();
    order::Entity::update_many()
        .col_expr(order::Column::ItemQuantity, Expr::value(9))
        .filter(order::Column::Id.eq(order.id))
        .exec(&*write)
        .await
        .unwrap();
    write.announce(Envelope::new(ORDER_UPDATED, order.id, Some(user)));
    // The pause.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_code(write.commit(true).await, ErrorCode::ServiceUnavailable);
    let stored = order::Entity::find_by_id(order.id).one(&app.ctx.db).await.unwrap().unwrap();
    assert_eq!(stored.item_quantity, 2, "the late write committed");
    assert_eq!(app.events().await, Vec::new());
    // A request already past its deadline does not even begin.
    let late = Headers { deadline: Some(SystemTime::now() - Duration::from_millis(1)), ..headers };
    assert_code(
        Write::begin::<UpdateOrder>(&app.ctx.db, &app.ctx.outbox, &late).await.map(drop),
        ErrorCode::ServiceUnavailable,
    );
}

async fn get_answers_each_existing_order_once(app: TestApp) {
    let (a, b) = (app.order(app.new_user()).await, app.order(app.new_user()).await);
    let ids = vec![b.id, Uuid::now_v7(), a.id, b.id, a.id];
    let mut found = get_orders(GetOrders { ids }, app.ctx.clone()).await.unwrap();
    found.sort_by_key(|order| order.id);
    let mut expected = vec![a, b];
    expected.sort_by_key(|order| order.id);
    assert_eq!(found, expected);
    assert_eq!(get_orders(GetOrders { ids: Vec::new() }, app.ctx.clone()).await.unwrap(), Vec::new());
}

async fn get_refuses_more_than_a_thousand_ids(app: TestApp) {
    let ids: Vec<Uuid> = (0..1000).map(|_| Uuid::now_v7()).collect();
    assert_eq!(get_orders(GetOrders { ids: ids.clone() }, app.ctx.clone()).await.unwrap(), Vec::new());
    let mut too_many = ids;
    too_many.push(Uuid::now_v7());
    assert_invalid(get_orders(GetOrders { ids: too_many }, app.ctx.clone()).await, "ids");
}

async fn list_pages_through_all_orders_or_one_users_orders_by_id(app: TestApp) {
    let (alice, bob) = (app.new_user(), app.new_user());
    let mut all = Vec::new();
    for user in [alice, bob, alice, alice, bob, alice, alice] {
        all.push(app.order(user).await);
    }
    all.sort_by_key(|order| order.id);
    let of_alice: Vec<Order> = all.iter().filter(|order| order.user_id == alice).cloned().collect();

    for (filter, expected) in [(None, &all), (Some(alice), &of_alice)] {
        let mut after = None;
        let mut collected = Vec::new();
        loop {
            let page = app.list(2, after, filter).await.unwrap();
            assert_eq!(page.total_count, Some(expected.len() as u64));
            assert_eq!(page.has_previous, after.is_some());
            assert!(page.items.len() <= 2);
            collected.extend(page.items.iter().cloned());
            assert_eq!(page.has_next, collected.len() < expected.len());
            if !page.has_next {
                break;
            }
            after = page.items.last().map(|order| order.id);
        }
        assert_eq!(&collected, expected);
    }

    // Edges: an empty page still counts, a cursor past the end has only previous items, and
    // a cursor taken from another user's order works as a position.
    let empty = app.list(0, None, Some(alice)).await.unwrap();
    assert_eq!((empty.items.len(), empty.has_previous, empty.has_next, empty.total_count), (0, false, true, Some(5)));
    let past_end = app.list(10, Some(all[6].id), Some(alice)).await.unwrap();
    assert_eq!((past_end.items.len(), past_end.has_previous, past_end.has_next), (0, true, false));
    let bobs_first = all.iter().find(|order| order.user_id == bob).unwrap();
    let page = app.list(100, Some(bobs_first.id), Some(alice)).await.unwrap();
    let expected: Vec<Order> = of_alice.iter().filter(|order| order.id > bobs_first.id).cloned().collect();
    assert_eq!(page.items, expected);
    assert_eq!(page.has_previous, of_alice.iter().any(|order| order.id <= bobs_first.id));
    let nobody = app.list(10, None, Some(Uuid::now_v7())).await.unwrap();
    assert_eq!(nobody, Page::empty());
}

async fn list_counts_and_looks_back_only_when_asked(app: TestApp) {
    let user = app.new_user();
    let mut orders = Vec::new();
    for _ in 0..4 {
        orders.push(app.order(user).await);
    }
    for filter in [None, Some(user)] {
        for after in [None, Some(orders[0].id)] {
            let full = app.list(2, after, filter).await.unwrap();
            let bare = app.list_with(2, after, filter, PageExtras::NONE).await.unwrap();
            // The same items and has_next; no count, and has_previous stays false.
            assert_eq!((&bare.items, bare.has_next), (&full.items, full.has_next));
            assert_eq!((bare.total_count, bare.has_previous), (None, false));
            assert_eq!(full.total_count, Some(4));
            assert_eq!(full.has_previous, after.is_some());
            let counted = app.list_with(2, after, filter, PageExtras { total_count: true, has_previous: false }).await;
            assert_eq!(counted.unwrap(), Page { has_previous: false, ..full.clone() });
            let looked = app.list_with(2, after, filter, PageExtras { total_count: false, has_previous: true }).await;
            assert_eq!(looked.unwrap(), Page { total_count: None, ..full });
        }
    }
}

async fn list_refuses_pages_above_a_hundred(app: TestApp) {
    assert_invalid(app.list(101, None, None).await, "first");
    assert_eq!(app.list(100, None, None).await.unwrap(), Page::empty());
}

async fn orders_of_users_answers_one_page_per_key_exactly_like_list(app: TestApp) {
    let users: Vec<Uuid> = (0..4).map(|_| app.new_user()).collect();
    // 5, 0, 1 and 3 orders, interleaved so each user's ids are not contiguous.
    let mut orders = Vec::new();
    for user in [0, 2, 3, 0, 0, 3, 0, 3, 0] {
        orders.push(app.order(users[user]).await);
    }
    let stranger = Uuid::now_v7();
    let cursors: Vec<Option<Uuid>> = vec![None, Some(orders[0].id), Some(orders[4].id), Some(orders[8].id)];

    // The DataLoader's usual batch: every user, one (first, after).
    let mut keys: Vec<UserOrdersKey> = users
        .iter()
        .map(|&user_id| UserOrdersKey { user_id, first: 2, after: None, extras: PageExtras::ALL })
        .collect();
    // Then everything else at once: other sizes, cursors (of the user's own orders or of
    // someone else's), repeated keys, and a user nobody knows.
    // Each with every choice of extras.
    let only_count = PageExtras { total_count: true, has_previous: false };
    let only_previous = PageExtras { total_count: false, has_previous: true };
    for &user_id in users.iter().chain([&stranger]) {
        for first in [0, 1, 3, 20] {
            for &after in &cursors {
                for extras in [PageExtras::ALL, PageExtras::NONE, only_count, only_previous] {
                    keys.push(UserOrdersKey { user_id, first, after, extras });
                }
            }
        }
    }
    keys.push(keys[0]);
    keys.push(keys[5]);

    let pages = orders_of_users(OrdersOfUsers { keys: keys.clone() }, app.ctx.clone()).await.unwrap();
    assert_eq!(pages.len(), keys.len());
    for (key, page) in keys.iter().zip(&pages) {
        let listed = app.list_with(key.first, key.after, Some(key.user_id), key.extras).await.unwrap();
        assert_eq!(page, &listed, "{key:?}");
    }
    // The usual batch alone (one group, no extras) is one query outside a transaction.
    let plain: Vec<UserOrdersKey> = users
        .iter()
        .map(|&user_id| UserOrdersKey { user_id, first: 2, after: None, extras: PageExtras::NONE })
        .collect();
    let plain_pages = orders_of_users(OrdersOfUsers { keys: plain }, app.ctx.clone()).await.unwrap();
    for (page, full) in plain_pages.iter().zip(&pages) {
        assert_eq!((&page.items, page.has_next, page.total_count), (&full.items, full.has_next, None));
    }
    // Spot checks of what list itself answers, so the comparison means something.
    assert_eq!((pages[0].items.len(), pages[0].total_count, pages[0].has_next), (2, Some(5), true));
    assert_eq!((pages[1].items.len(), pages[1].total_count, pages[1].has_next), (0, Some(0), false));
    assert!(pages[0].items.iter().all(|order| order.user_id == users[0]));
    assert_eq!(orders_of_users(OrdersOfUsers { keys: Vec::new() }, app.ctx.clone()).await.unwrap(), Vec::new());
}

async fn orders_of_users_refuses_more_than_a_thousand_keys(app: TestApp) {
    let user = app.new_user();
    app.order(user).await;
    let keys: Vec<UserOrdersKey> = (0..1000)
        .map(|i| UserOrdersKey {
            user_id: if i == 0 { user } else { Uuid::now_v7() },
            first: 20,
            after: None,
            extras: PageExtras::ALL,
        })
        .collect();
    let pages = orders_of_users(OrdersOfUsers { keys: keys.clone() }, app.ctx.clone()).await.unwrap();
    assert_eq!(pages.len(), 1000);
    assert_eq!(pages[0].items.len(), 1);
    let mut too_many = keys;
    too_many.push(UserOrdersKey { user_id: user, first: 20, after: None, extras: PageExtras::ALL });
    assert_invalid(orders_of_users(OrdersOfUsers { keys: too_many }, app.ctx.clone()).await, "keys");
    let too_large = vec![UserOrdersKey { user_id: user, first: 101, after: None, extras: PageExtras::ALL }];
    assert_invalid(orders_of_users(OrdersOfUsers { keys: too_large }, app.ctx.clone()).await, "first");
}

async fn the_cascade_deletes_only_that_users_orders_and_is_idempotent(app: TestApp) {
    let (leaving, staying) = (app.new_user(), app.new_user());
    let mut gone = Vec::new();
    let mut kept = Vec::new();
    for user in [leaving, staying, leaving, leaving, staying] {
        let order = app.order(user).await;
        if user == leaving { gone.push(order) } else { kept.push(order) }
    }

    on_user_deleted(&app.ctx, leaving).await.unwrap();
    let mut announced = app.events().await;
    announced.sort_by_key(|envelope| envelope.event.id);
    let expected: Vec<Envelope> =
        gone.iter().map(|order| Envelope::new(ORDER_DELETED, order.id, Some(leaving))).collect();
    assert_eq!(announced, expected);
    assert_eq!(app.list(100, None, Some(leaving)).await.unwrap(), Page::empty());
    assert_eq!(app.list(100, None, None).await.unwrap().items, kept);

    // A redelivered `user.deleted`: nothing left to delete, nothing announced, one tombstone.
    let before = app.rows().await;
    on_user_deleted(&app.ctx, leaving).await.unwrap();
    app.assert_unchanged(&before).await;
    assert_eq!(deleted_user::Entity::find().count(&app.ctx.db).await.unwrap(), 1);

    // A user with no orders at all is fine too.
    on_user_deleted(&app.ctx, Uuid::now_v7()).await.unwrap();
    assert_eq!(app.events().await, Vec::new());
}

/// Creates hold the user's lock shared, so they go on beside each other, and the cascade holds
/// it alone: every create racing the cascade either committed before it (and its order went
/// with the user) or is refused after it. None leaves an order of a deleted user.
async fn creates_racing_the_cascade_leave_no_order_of_the_deleted_user(app: TestApp) {
    let user = app.new_user();
    app.order(user).await;
    let creates: Vec<_> = (0..40)
        .map(|_| {
            let ctx = app.ctx.clone();
            tokio::spawn(async move { create_order(create_request(user, 1, "1"), ctx).await })
        })
        .collect();
    tokio::task::yield_now().await;
    on_user_deleted(&app.ctx, user).await.unwrap();
    let mut refused = 0;
    for create in creates {
        if let Err(error) = create.await.unwrap() {
            assert_eq!(error.field.as_deref(), Some("userId"), "{error:?}");
            refused += 1;
        }
    }
    assert_eq!(app.list(100, None, Some(user)).await.unwrap(), Page::empty(), "{refused} of 40 creates were refused");
}

async fn a_deleted_user_cannot_get_new_orders(app: TestApp) {
    let user = app.new_user();
    let order = app.order(user).await;
    on_user_deleted(&app.ctx, user).await.unwrap();
    app.events().await;

    // The fake users service still knows the user: the tombstone alone refuses it.
    let before = app.rows().await;
    assert_invalid(app.create(user, 1, "1").await, "userId");
    // Even a late redelivery of the order the cascade deleted.
    let late = CreateOrder {
        id: order.id,
        user_id: user,
        item_description: order.item_description.clone(),
        item_quantity: 2,
        item_price: "10.5".to_owned(),
    };
    assert_invalid(create_order(late, app.ctx.clone()).await, "userId");
    app.assert_unchanged(&before).await;
}

/// The whole worker as `main` runs it, over the in-process hub: RPCs go through the router and
/// the codec, and a `user.deleted` event reaches the cascade.
async fn run_serves_every_method_and_consumes_user_deleted_over_the_hub(app: TestApp) {
    let broker = rpc::Broker::Local(app.hub.clone());
    let stop = CancellationToken::new();
    let options =
        orders_worker::Options { prefetch: 8, rpc_timeout_ms: 2000, ..orders_worker::Options::with_database(&app.url) };
    let worker_app = orders_worker::Application::build(options).await.unwrap();
    let worker = tokio::spawn({
        let (broker, stop) = (broker.clone(), stop.clone());
        async move { worker_app.run_until_stopped(&broker, stop).await }
    });
    let client = broker.client("test", Duration::from_secs(2)).as_caller(rpc::Caller::Service);
    for _ in 0..500 {
        if client.ping(Service::Orders).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }

    let user = app.new_user();
    let created = client.call(&create_request(user, 4, "2.5")).await.unwrap();
    assert_eq!(created.total_value, "10.00");
    assert_invalid(client.call(&create_request(Uuid::now_v7(), 1, "1")).await, "userId");
    assert_eq!(client.call(&GetOrders { ids: vec![created.id] }).await.unwrap(), vec![created.clone()]);
    let listed = client
        .call(&ListOrders { first: 10, after: None, user_id: Some(user), extras: PageExtras::ALL })
        .await
        .unwrap();
    assert_eq!(listed.items, vec![created.clone()]);
    let keys = vec![UserOrdersKey { user_id: user, first: 10, after: None, extras: PageExtras::ALL }];
    assert_eq!(client.call(&OrdersOfUsers { keys }).await.unwrap(), vec![listed]);
    let update = UpdateOrder { id: created.id, item_quantity: Some(5), ..UpdateOrder::default() };
    assert_eq!(client.call(&update).await.unwrap().total_value, "12.50");
    let other = client.call(&create_request(user, 1, "1")).await.unwrap();
    assert_eq!(client.call(&DeleteOrder { id: other.id }).await.unwrap().owner(), Some(other.user_id));
    assert_code(client.call(&DeleteOrder { id: other.id }).await, ErrorCode::NotFound);

    // The subscription may start after our first event: repeating it is harmless by design.
    let mut deleted = false;
    for _ in 0..200 {
        rpc::EventPublisher::publish(&app.hub, &[Envelope::new(USER_DELETED, user, None)]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
        if client
            .call(&ListOrders { first: 10, after: None, user_id: Some(user), extras: PageExtras::ALL })
            .await
            .unwrap()
            .total_count
            == Some(0)
        {
            deleted = true;
            break;
        }
    }
    assert!(deleted, "the orders of a deleted user were still listed after 2 seconds");

    stop.cancel();
    tokio::time::timeout(Duration::from_secs(5), worker).await.unwrap().unwrap().unwrap();
}

async fn migrations_run_again_on_a_migrated_database_without_harm(app: TestApp) {
    let order = app.order(app.new_user()).await;
    let again = orders_worker::open_database(&app.url).await.unwrap();
    assert_eq!(order::Entity::find().count(&again).await.unwrap(), 1);
    again.close().await.unwrap();
    assert_eq!(get_orders(GetOrders { ids: vec![order.id] }, app.ctx.clone()).await.unwrap(), vec![order]);
}

// ---------------------------------------------------------------------------------------------
// Control characters in itemDescription
// ---------------------------------------------------------------------------------------------

/// Descriptions holding control characters, NUL first: PostgreSQL cannot store NUL in text
/// at all, and SQLite would keep it as is. Whitespace around a description is trimmed, not
/// refused; inside it, a control character is refused like any other.
mod control_characters {
    use super::*;

    const DESCRIPTIONS: [&str; 8] = [
        "\u{0}",
        "a red\u{0}chair",
        "A red chair\u{0}",
        "a red\nchair",
        "a\tb",
        "bell\u{7}",
        "del\u{7f}",
        "nel\u{85}x",
    ];

    async fn create_refuses_control_characters_in_item_description_and_stores_nothing(app: TestApp) {
        let user = app.new_user();
        for description in DESCRIPTIONS {
            let before = app.rows().await;
            let mut req = create_request(user, 1, "1");
            req.item_description = description.to_owned();
            assert_invalid(create_order(req, app.ctx.clone()).await, "itemDescription");
            app.assert_unchanged(&before).await;
        }
    }

    async fn update_refuses_control_characters_in_item_description_and_changes_nothing(app: TestApp) {
        let order = app.order(app.new_user()).await;
        for description in DESCRIPTIONS {
            let before = app.rows().await;
            let req = UpdateOrder {
                id: order.id,
                item_description: Some(description.to_owned()),
                item_quantity: Some(5),
                ..UpdateOrder::default()
            };
            assert_invalid(update_order(req, app.ctx.clone()).await, "itemDescription");
            app.assert_unchanged(&before).await;
        }
        let read_back = get_orders(GetOrders { ids: vec![order.id] }, app.ctx.clone()).await.unwrap();
        assert_eq!(read_back, vec![order]);
    }

    test_support::on_both_backends! {
        run: crate::run,
        sqlite => crate::Backend::Sqlite,
        postgres => crate::Backend::Postgres;
        create_refuses_control_characters_in_item_description_and_stores_nothing,
        update_refuses_control_characters_in_item_description_and_changes_nothing,
    }
}
