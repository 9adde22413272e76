//! The users service's handlers against real databases, without a broker.
//!
//! Every scenario below runs twice, on SQLite (a temporary file) and on PostgreSQL (a
//! database of its own, created from `TEST_POSTGRES_URL` and dropped afterwards), through
//! the `on_both_backends!` list at the bottom. Events go to an in-process hub that the test
//! subscribes to, so each scenario can tell exactly which events a write published.

#![cfg_attr(test, allow(clippy::unwrap_used))]

use std::{future::Future, sync::Arc, time::Duration};

use entities::users as rows;
use futures_util::FutureExt;
use rpc::{
    Caller, Envelope, ErrorCode, EventPublisher, Headers, PageExtras, RequestState, RpcClient, RpcError, RpcResult,
    Service, events,
    local::LocalHub,
    users::{ChangePassword, CreateUser, DeleteUser, GetUserByNickName, GetUsers, ListUsers, UpdateUser, User},
};
use sea_orm::EntityTrait;
use test_support::{Backend, with_test_database};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, DropGuard};
use users_worker::{
    Context,
    handlers::{by_nick_name, change_password, create, delete, get, list, update},
};
use uuid::Uuid;

// ---------------------------------------------------------------------------------------------
// Harness

/// The service as a test sees it: its context, and the events its handlers published.
struct TestApp {
    url: String,
    ctx: Context,
    hub: LocalHub,
    events: mpsc::UnboundedReceiver<Envelope>,
    _subscriber: DropGuard,
}

impl TestApp {
    async fn spawn(url: &str) -> Self {
        let db = users_worker::open_database(url).await.unwrap();
        let hub = LocalHub::default();
        let (sender, mut events) = mpsc::unbounded_channel();
        let handler: rpc::EventHandler = Arc::new(move |envelope| {
            let _ = sender.send(envelope);
            async { Ok(()) }.boxed()
        });
        let token = CancellationToken::new();
        let (subscriber_hub, subscriber_token) = (hub.clone(), token.clone());
        tokio::spawn(async move { subscriber_hub.subscribe(&["#"], handler, subscriber_token).await });
        // The subscription starts when that task first runs: wait until a probe gets through,
        // so no event of the scenario can be published before anyone listens.
        loop {
            hub.publish(&[Envelope::new("test.probe", Uuid::nil(), None)]).await.unwrap();
            if let Ok(Some(_)) = tokio::time::timeout(Duration::from_millis(20), events.recv()).await {
                break;
            }
        }
        let ctx = Context::new(db, Arc::new(hub.clone()));
        Self { url: url.to_owned(), ctx, hub, events, _subscriber: token.drop_guard() }
    }

    fn ctx(&self) -> Context {
        self.ctx.clone()
    }

    /// The events published since the last call, as (routing key, id). A marker published
    /// now comes out after all of them: the hub keeps order.
    async fn events(&mut self) -> Vec<(String, Uuid)> {
        // What the handlers committed waits in the outbox: send it, as the relay would.
        self.ctx.outbox.flush().await.unwrap();
        let marker = Uuid::now_v7();
        self.hub.publish(&[Envelope::new("test.marker", marker, None)]).await.unwrap();
        let mut seen = Vec::new();
        loop {
            let envelope = tokio::time::timeout(Duration::from_secs(5), self.events.recv())
                .await
                .expect("the marker event arrives")
                .expect("the subscriber runs");
            match envelope.routing_key.as_str() {
                "test.marker" if envelope.event.id == marker => return seen,
                key if key.starts_with("test.") || key.starts_with("subscriber.") => {}
                _ => seen.push((envelope.routing_key, envelope.event.id)),
            }
        }
    }

    async fn stored(&self, id: Uuid) -> Option<rows::Model> {
        rows::Entity::find_by_id(id).one(&self.ctx.db).await.unwrap()
    }

    async fn count(&self) -> u64 {
        list(ListUsers { first: 0, after: None, extras: PageExtras::ALL }, self.ctx())
            .await
            .unwrap()
            .total_count
            .unwrap()
    }

    async fn create(&self, req: CreateUser) -> User {
        create(req, self.ctx()).await.unwrap()
    }
}

/// Runs `scenario` on a fresh database of `backend`, and drops the database whatever happens.
async fn run<F, Fut>(backend: Backend, scenario: F)
where
    F: FnOnce(TestApp) -> Fut,
    Fut: Future<Output = ()>,
{
    with_test_database(backend, "users_test", |url| async move { scenario(TestApp::spawn(&url).await).await }).await;
}

const PASSWORD: &str = "correct horse battery";
/// The client address requests come from, for the limits on failed attempts.
const CLIENT: &str = "192.0.2.1";

/// A valid create request whose unique values belong to `n` alone.
fn new_user(n: u32) -> CreateUser {
    CreateUser {
        id: Uuid::now_v7(),
        nick_name: format!("user{n}"),
        full_name: format!("User Number {n}"),
        password: PASSWORD.to_owned(),
        cpf: test_support::cpf(n.into()),
        email: format!("user{n}@example.com"),
        phone_number: format!("+55 (11) 9{n:04}-{n:04}"),
    }
}

/// `CreateUser` is not `Clone` (it holds a password): copy it on purpose.
fn copy(req: &CreateUser) -> CreateUser {
    CreateUser {
        id: req.id,
        nick_name: req.nick_name.clone(),
        full_name: req.full_name.clone(),
        password: req.password.clone(),
        cpf: req.cpf.clone(),
        email: req.email.clone(),
        phone_number: req.phone_number.clone(),
    }
}

#[track_caller]
fn assert_error<T: std::fmt::Debug>(result: RpcResult<T>, code: ErrorCode, field: Option<&str>) -> RpcError {
    let error = result.expect_err("the call should fail");
    assert_eq!((error.code, error.field.as_deref()), (code, field), "{error:?}");
    error
}

fn created(id: Uuid) -> (String, Uuid) {
    (events::USER_CREATED.to_owned(), id)
}

fn updated(id: Uuid) -> (String, Uuid) {
    (events::USER_UPDATED.to_owned(), id)
}

fn sessions_ended(id: Uuid) -> (String, Uuid) {
    (events::USER_SESSIONS_ENDED.to_owned(), id)
}

fn deleted(id: Uuid) -> (String, Uuid) {
    (events::USER_DELETED.to_owned(), id)
}

// ---------------------------------------------------------------------------------------------
// create

async fn create_stores_normalised_values_and_publishes_user_created(mut app: TestApp) {
    let req = CreateUser {
        nick_name: "Ana.Maria".to_owned(),
        full_name: "  Ana Maria da Silva  ".to_owned(),
        cpf: "529.982.247-25".to_owned(),
        email: "  Ana.Maria@Example.COM ".to_owned(),
        phone_number: "+55 (11) 98765-4321".to_owned(),
        ..new_user(1)
    };
    let id = req.id;
    let user = app.create(req).await;

    assert_eq!(user.id, id);
    assert_eq!(user.nick_name, "Ana.Maria");
    assert_eq!(user.full_name, "Ana Maria da Silva");
    assert_eq!(user.cpf, "52998224725");
    assert_eq!(user.email, "ana.maria@example.com");
    assert_eq!(user.phone_number, "+5511987654321");
    assert_eq!(user.created_at, user.updated_at);
    // What is read back equals what was answered, timestamps to the microsecond.
    assert_eq!(get(GetUsers { ids: vec![id] }, app.ctx()).await.unwrap(), vec![user.clone()]);

    let row = app.stored(id).await.unwrap();
    assert_eq!(row.nick_name_key, "ana.maria");
    assert!(row.password_hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", row.password_hash);
    assert!(users_worker::password::verify(PASSWORD.to_owned(), row.password_hash).await.unwrap());
    assert_eq!(app.events().await, vec![created(id)]);
}

async fn values_at_the_limits_of_the_rules_are_accepted(app: TestApp) {
    let shortest = CreateUser {
        nick_name: "abc".to_owned(),
        full_name: "J".to_owned(),
        password: "12345678".to_owned(),
        email: "a@b.co".to_owned(),
        phone_number: "1198765432".to_owned(),
        ..new_user(1)
    };
    let longest = CreateUser {
        nick_name: "Z".repeat(32),
        full_name: "é".repeat(120),
        password: "p".repeat(128),
        email: format!("{}@example.com", "e".repeat(242)),
        phone_number: "+123456789012345".to_owned(),
        ..new_user(2)
    };
    let shortest = app.create(shortest).await;
    let longest = app.create(longest).await;
    assert_eq!(shortest.phone_number, "1198765432");
    assert_eq!(longest.full_name.chars().count(), 120);
    assert_eq!(longest.email.len(), 254);
    assert_eq!(app.count().await, 2);
}

async fn every_broken_rule_is_refused_on_its_field_and_writes_nothing(mut app: TestApp) {
    type Breaker = fn(&mut CreateUser);
    let cases: [(&str, Breaker); 22] = [
        ("nickName", |req| req.nick_name = "ab".to_owned()),
        ("nickName", |req| req.nick_name = "n".repeat(33)),
        ("nickName", |req| req.nick_name = "ana maria".to_owned()),
        ("nickName", |req| req.nick_name = "ana!".to_owned()),
        ("fullName", |req| req.full_name = "   ".to_owned()),
        ("fullName", |req| req.full_name = "f".repeat(121)),
        ("fullName", |req| req.full_name = "Ana\0Maria".to_owned()),
        ("password", |req| req.password = "1234567".to_owned()),
        ("password", |req| req.password = "p".repeat(129)),
        ("cpf", |req| req.cpf = "529.982.247-26".to_owned()),
        ("cpf", |req| req.cpf = "111.111.111-11".to_owned()),
        ("cpf", |req| req.cpf = "5299822472".to_owned()),
        ("cpf", |req| req.cpf = "529.982.247-2a".to_owned()),
        ("email", |req| req.email = "ana.example.com".to_owned()),
        ("email", |req| req.email = "ana@@example.com".to_owned()),
        ("email", |req| req.email = "ana@example".to_owned()),
        ("email", |req| req.email = "ana maria@example.com".to_owned()),
        ("email", |req| req.email = format!("{}@example.com", "e".repeat(243))),
        ("phoneNumber", |req| req.phone_number = "123456789".to_owned()),
        ("phoneNumber", |req| req.phone_number = "1234567890123456".to_owned()),
        ("phoneNumber", |req| req.phone_number = "11+987654321".to_owned()),
        ("phoneNumber", |req| req.phone_number = "(11) 98765.4321".to_owned()),
    ];
    for (field, breaker) in cases {
        let mut req = new_user(1);
        breaker(&mut req);
        let error = assert_error(create(req, app.ctx()).await, ErrorCode::BadUserInput, Some(field));
        assert!(!error.message.is_empty());
    }
    assert_eq!(app.count().await, 0);
    assert_eq!(app.events().await, vec![]);
}

async fn the_first_broken_field_is_reported_in_the_contract_order(app: TestApp) {
    let mut req = CreateUser {
        id: Uuid::now_v7(),
        nick_name: "x".to_owned(),
        full_name: String::new(),
        password: "short".to_owned(),
        cpf: "123".to_owned(),
        email: "nope".to_owned(),
        phone_number: "12".to_owned(),
    };
    let valid = new_user(1);
    let order = ["nickName", "fullName", "password", "cpf", "email", "phoneNumber"];
    for (position, field) in order.into_iter().enumerate() {
        assert_error(create(copy(&req), app.ctx()).await, ErrorCode::BadUserInput, Some(field));
        // Mend this field; the next one is reported now.
        match position {
            0 => req.nick_name = valid.nick_name.clone(),
            1 => req.full_name = valid.full_name.clone(),
            2 => req.password = valid.password.clone(),
            3 => req.cpf = valid.cpf.clone(),
            4 => req.email = valid.email.clone(),
            _ => req.phone_number = valid.phone_number.clone(),
        }
    }
    app.create(req).await;
}

async fn a_taken_nick_name_is_a_conflict_whatever_its_case(mut app: TestApp) {
    let first = app.create(CreateUser { nick_name: "Ana.Maria".to_owned(), ..new_user(1) }).await;
    let clash = CreateUser { nick_name: "aNA.mARIA".to_owned(), ..new_user(2) };
    assert_error(create(clash, app.ctx()).await, ErrorCode::Conflict, Some("nickName"));
    assert_eq!(app.count().await, 1);
    assert_eq!(app.events().await, vec![created(first.id)]);
}

async fn a_taken_cpf_is_a_conflict_however_it_is_punctuated(mut app: TestApp) {
    let first = app.create(CreateUser { cpf: "52998224725".to_owned(), ..new_user(1) }).await;
    let clash = CreateUser { cpf: "529.982.247-25".to_owned(), ..new_user(2) };
    assert_error(create(clash, app.ctx()).await, ErrorCode::Conflict, Some("cpf"));
    assert_eq!(app.count().await, 1);
    assert_eq!(app.events().await, vec![created(first.id)]);
}

async fn a_taken_email_is_a_conflict_whatever_its_case(mut app: TestApp) {
    let first = app.create(CreateUser { email: "ana@example.com".to_owned(), ..new_user(1) }).await;
    let clash = CreateUser { email: " ANA@Example.com".to_owned(), ..new_user(2) };
    assert_error(create(clash, app.ctx()).await, ErrorCode::Conflict, Some("email"));
    assert_eq!(app.count().await, 1);
    assert_eq!(app.events().await, vec![created(first.id)]);
}

async fn a_repeated_create_with_the_same_id_returns_the_first_row_and_makes_no_second(mut app: TestApp) {
    let req = new_user(1);
    let first = app.create(copy(&req)).await;
    let again = app.create(copy(&req)).await;
    assert_eq!(again, first);
    // The id decides: a redelivery answers the stored row even if the values differ.
    let altered = CreateUser { full_name: "Someone Else".to_owned(), ..copy(&req) };
    assert_eq!(app.create(altered).await, first);
    assert_eq!(app.count().await, 1);
    assert_eq!(app.events().await, vec![created(first.id)]);
}

async fn concurrent_deliveries_of_one_create_make_one_row(mut app: TestApp) {
    let req = new_user(1);
    let (one, other) = tokio::join!(create(copy(&req), app.ctx()), create(copy(&req), app.ctx()));
    let (one, other) = (one.unwrap(), other.unwrap());
    assert_eq!(one, other);
    assert_eq!(app.count().await, 1);
    assert_eq!(app.events().await, vec![created(req.id)]);
}

/// A client retried its `createUser` (same key: same request id and input) while the first
/// still ran: the gateway made a new id for the retry, but both answer the one user made.
async fn a_client_retry_running_beside_its_first_try_answers_the_same_user(mut app: TestApp) {
    let headers = Headers {
        caller: Caller::Anonymous,
        request_id: Some(Uuid::now_v7()),
        input: Some("createUser fingerprint".to_owned()),
        ..Headers::default()
    };
    let first = new_user(1);
    let retry = CreateUser { id: Uuid::now_v7(), ..copy(&first) };
    let ctx = app.ctx().for_request(headers);
    let (one, other) = tokio::join!(create(first, ctx.clone()), create(retry, ctx));
    assert_eq!(one.unwrap(), other.unwrap());
    assert_eq!(app.count().await, 1);
    assert_eq!(app.events().await.len(), 1);
}

async fn concurrent_creates_of_one_cpf_make_one_user_and_one_conflict(app: TestApp) {
    let one = CreateUser { cpf: test_support::cpf(7), ..new_user(1) };
    let other = CreateUser { cpf: test_support::cpf(7), ..new_user(2) };
    let (one, other) = tokio::join!(create(one, app.ctx()), create(other, app.ctx()));
    let (won, lost): (Vec<_>, Vec<_>) = [one, other].into_iter().partition(Result::is_ok);
    assert_eq!((won.len(), lost.len()), (1, 1));
    assert_error(lost.into_iter().next().unwrap(), ErrorCode::Conflict, Some("cpf"));
    assert_eq!(app.count().await, 1);
}

async fn no_response_carries_the_password_or_its_hash(app: TestApp) {
    let user = app.create(new_user(1)).await;
    let updated =
        update(UpdateUser { id: user.id, full_name: Some("New Name".to_owned()), ..Default::default() }, app.ctx())
            .await
            .unwrap();
    let responses = [
        serde_json::to_string(&user).unwrap(),
        serde_json::to_string(&updated).unwrap(),
        serde_json::to_string(&get(GetUsers { ids: vec![user.id] }, app.ctx()).await.unwrap()).unwrap(),
        serde_json::to_string(
            &by_nick_name(GetUserByNickName { nick_name: "user1".to_owned() }, app.ctx()).await.unwrap(),
        )
        .unwrap(),
        serde_json::to_string(
            &list(ListUsers { first: 10, after: None, extras: PageExtras::ALL }, app.ctx()).await.unwrap(),
        )
        .unwrap(),
    ];
    for json in responses {
        assert!(json.contains("user1"), "{json}");
        assert!(!json.contains("$argon2"), "{json}");
        assert!(!json.contains(PASSWORD), "{json}");
        assert!(!json.to_lowercase().contains("password"), "{json}");
    }
}

// ---------------------------------------------------------------------------------------------
// get, by_nick_name, list

async fn get_answers_each_existing_user_once_and_skips_absent_ids(app: TestApp) {
    let a = app.create(new_user(1)).await;
    let b = app.create(new_user(2)).await;
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort_by_key(|user| user.id);

    let found = get(GetUsers { ids: vec![b.id, Uuid::now_v7(), a.id, b.id] }, app.ctx()).await.unwrap();
    assert_eq!(found, expected);
    assert_eq!(get(GetUsers { ids: vec![] }, app.ctx()).await.unwrap(), vec![]);
    assert_eq!(get(GetUsers { ids: vec![Uuid::now_v7()] }, app.ctx()).await.unwrap(), vec![]);
}

async fn get_takes_at_most_a_thousand_distinct_ids(app: TestApp) {
    let user = app.create(new_user(1)).await;
    let mut ids: Vec<Uuid> = (0..999).map(|_| Uuid::now_v7()).collect();
    ids.push(user.id);
    assert_eq!(get(GetUsers { ids: ids.clone() }, app.ctx()).await.unwrap(), vec![user.clone()]);
    // Repeats do not count against the limit.
    ids.extend(std::iter::repeat_n(user.id, 500));
    assert_eq!(get(GetUsers { ids: ids.clone() }, app.ctx()).await.unwrap(), vec![user]);
    ids.push(Uuid::now_v7());
    assert_error(get(GetUsers { ids }, app.ctx()).await, ErrorCode::BadUserInput, Some("ids"));
}

async fn a_nick_name_is_found_whatever_its_case(app: TestApp) {
    let user = app.create(CreateUser { nick_name: "Ana.Maria".to_owned(), ..new_user(1) }).await;
    for asked in ["Ana.Maria", "ana.maria", "ANA.MARIA"] {
        let found = by_nick_name(GetUserByNickName { nick_name: asked.to_owned() }, app.ctx()).await.unwrap();
        assert_eq!(found.as_ref(), Some(&user), "{asked}");
    }
    for absent in ["Ana.Mari", "nobody", "", "ana maria", "ana.maria%"] {
        let found = by_nick_name(GetUserByNickName { nick_name: absent.to_owned() }, app.ctx()).await.unwrap();
        assert_eq!(found, None, "{absent}");
    }
}

async fn list_pages_forward_by_id_with_keyset_cursors(app: TestApp) {
    let mut users = Vec::new();
    for n in 0..5 {
        users.push(app.create(new_user(n)).await);
    }
    users.sort_by_key(|user| user.id);
    let page = |first, after| list(ListUsers { first, after, extras: PageExtras::ALL }, app.ctx());

    let one = page(2, None).await.unwrap();
    assert_eq!(one.items, users[0..2]);
    assert_eq!((one.has_previous, one.has_next, one.total_count), (false, true, Some(5)));

    let two = page(2, Some(users[1].id)).await.unwrap();
    assert_eq!(two.items, users[2..4]);
    assert_eq!((two.has_previous, two.has_next, two.total_count), (true, true, Some(5)));

    let three = page(2, Some(users[3].id)).await.unwrap();
    assert_eq!(three.items, users[4..]);
    assert_eq!((three.has_previous, three.has_next, three.total_count), (true, false, Some(5)));

    let beyond = page(2, Some(users[4].id)).await.unwrap();
    assert_eq!(beyond.items, vec![]);
    assert_eq!((beyond.has_previous, beyond.has_next, beyond.total_count), (true, false, Some(5)));

    let all = page(100, None).await.unwrap();
    assert_eq!(all.items, users);
    assert_eq!((all.has_previous, all.has_next), (false, false));

    // A cursor before every id (here the nil UUID) has nothing before it.
    let from_nil = page(5, Some(Uuid::nil())).await.unwrap();
    assert_eq!(from_nil.items, users);
    assert_eq!((from_nil.has_previous, from_nil.has_next), (false, false));

    // A cursor whose user is gone still pages from where it was.
    delete(DeleteUser { id: users[1].id }, app.ctx()).await.unwrap();
    let after_gone = page(1, Some(users[1].id)).await.unwrap();
    assert_eq!(after_gone.items, users[2..3]);
    assert_eq!((after_gone.has_previous, after_gone.has_next, after_gone.total_count), (true, true, Some(4)));
}

async fn list_counts_and_looks_back_only_when_asked(app: TestApp) {
    let mut users = Vec::new();
    for n in 0..4 {
        users.push(app.create(new_user(n)).await);
    }
    users.sort_by_key(|user| user.id);
    let page = |after, extras| list(ListUsers { first: 2, after, extras }, app.ctx());
    for after in [None, Some(users[0].id)] {
        let full = page(after, PageExtras::ALL).await.unwrap();
        let bare = page(after, PageExtras::NONE).await.unwrap();
        assert_eq!((&bare.items, bare.has_next), (&full.items, full.has_next));
        assert_eq!((bare.total_count, bare.has_previous), (None, false));
        assert_eq!((full.total_count, full.has_previous), (Some(4), after.is_some()));
        let counted = page(after, PageExtras { total_count: true, has_previous: false }).await.unwrap();
        assert_eq!(counted, rpc::Page { has_previous: false, ..full.clone() });
        let looked = page(after, PageExtras { total_count: false, has_previous: true }).await.unwrap();
        assert_eq!(looked, rpc::Page { total_count: None, ..full });
    }
}

async fn an_empty_list_and_a_page_of_zero_still_report_the_counts(app: TestApp) {
    let empty = list(ListUsers { first: 0, after: None, extras: PageExtras::ALL }, app.ctx()).await.unwrap();
    assert_eq!(empty, rpc::Page::empty());
    let empty = list(ListUsers { first: 20, after: None, extras: PageExtras::ALL }, app.ctx()).await.unwrap();
    assert_eq!(empty, rpc::Page::empty());

    app.create(new_user(1)).await;
    let counted = list(ListUsers { first: 0, after: None, extras: PageExtras::ALL }, app.ctx()).await.unwrap();
    assert_eq!(counted.items, vec![]);
    assert_eq!((counted.has_previous, counted.has_next, counted.total_count), (false, true, Some(1)));
}

async fn list_refuses_pages_larger_than_a_hundred(app: TestApp) {
    assert_error(
        list(ListUsers { first: 101, after: None, extras: PageExtras::ALL }, app.ctx()).await,
        ErrorCode::BadUserInput,
        Some("first"),
    );
}

// ---------------------------------------------------------------------------------------------
// update

async fn update_normalises_the_given_fields_and_bumps_updated_at(mut app: TestApp) {
    let user = app.create(new_user(1)).await;
    let req = UpdateUser {
        id: user.id,
        nick_name: Some("New.Nick".to_owned()),
        full_name: None,
        cpf: Some("529.982.247-25".to_owned()),
        email: Some(" New@Example.COM".to_owned()),
        phone_number: Some("(11) 91234-5678".to_owned()),
    };
    let changed = update(req, app.ctx()).await.unwrap();

    assert_eq!(changed.id, user.id);
    assert_eq!(changed.nick_name, "New.Nick");
    assert_eq!(changed.full_name, user.full_name);
    assert_eq!(changed.cpf, "52998224725");
    assert_eq!(changed.email, "new@example.com");
    assert_eq!(changed.phone_number, "11912345678");
    assert_eq!(changed.created_at, user.created_at);
    assert!(changed.updated_at > user.updated_at);
    assert_eq!(get(GetUsers { ids: vec![user.id] }, app.ctx()).await.unwrap(), vec![changed.clone()]);
    assert_eq!(app.stored(user.id).await.unwrap().nick_name_key, "new.nick");
    let found = by_nick_name(GetUserByNickName { nick_name: "new.nick".to_owned() }, app.ctx()).await.unwrap();
    assert_eq!(found, Some(changed));
    assert_eq!(app.events().await, vec![created(user.id), updated(user.id)]);
}

async fn an_update_that_changes_no_value_writes_nothing(mut app: TestApp) {
    let user = app.create(new_user(1)).await;
    app.events().await;
    let empty = update(UpdateUser { id: user.id, ..Default::default() }, app.ctx()).await.unwrap();
    assert_eq!(empty, user);
    // The same values, written differently: after normalisation nothing differs.
    let same = UpdateUser {
        id: user.id,
        nick_name: Some(user.nick_name.clone()),
        full_name: Some(format!("  {}  ", user.full_name)),
        cpf: Some(format!("{}.{}.{}-{}", &user.cpf[..3], &user.cpf[3..6], &user.cpf[6..9], &user.cpf[9..])),
        email: Some(user.email.to_uppercase()),
        phone_number: Some(format!("{}  ", user.phone_number)),
    };
    assert_eq!(update(same, app.ctx()).await.unwrap(), user);
    assert_eq!(app.events().await, vec![]);
}

async fn a_user_may_change_the_case_of_their_own_nick_name(app: TestApp) {
    let user = app.create(CreateUser { nick_name: "ana".to_owned(), ..new_user(1) }).await;
    let changed =
        update(UpdateUser { id: user.id, nick_name: Some("ANA".to_owned()), ..Default::default() }, app.ctx())
            .await
            .unwrap();
    assert_eq!(changed.nick_name, "ANA");
    assert!(changed.updated_at > user.updated_at);
}

async fn update_refuses_broken_fields_in_the_contract_order_and_changes_nothing(mut app: TestApp) {
    let user = app.create(new_user(1)).await;
    app.events().await;
    let mut req = UpdateUser {
        id: user.id,
        nick_name: Some("x".to_owned()),
        full_name: Some(" ".to_owned()),
        cpf: Some("000".to_owned()),
        email: Some("no-at".to_owned()),
        phone_number: Some("1".to_owned()),
    };
    for field in ["nickName", "fullName", "cpf", "email", "phoneNumber"] {
        assert_error(update(req.clone(), app.ctx()).await, ErrorCode::BadUserInput, Some(field));
        match field {
            "nickName" => req.nick_name = Some("Valid.Nick".to_owned()),
            "fullName" => req.full_name = Some("Valid Name".to_owned()),
            "cpf" => req.cpf = Some("529.982.247-25".to_owned()),
            "email" => req.email = Some("valid@example.com".to_owned()),
            _ => req.phone_number = Some("+5511912345678".to_owned()),
        }
    }
    // Every refusal above left the row as it was.
    assert_eq!(get(GetUsers { ids: vec![user.id] }, app.ctx()).await.unwrap(), vec![user]);
    assert_eq!(app.events().await, vec![]);
}

async fn update_to_a_taken_value_is_a_conflict_and_changes_nothing(mut app: TestApp) {
    let taken = app.create(CreateUser { nick_name: "Taken".to_owned(), ..new_user(1) }).await;
    let user = app.create(new_user(2)).await;
    app.events().await;
    let clashes = [
        ("nickName", UpdateUser { nick_name: Some("tAKEN".to_owned()), ..Default::default() }),
        ("cpf", UpdateUser { cpf: Some(taken.cpf.clone()), ..Default::default() }),
        ("email", UpdateUser { email: Some(taken.email.to_uppercase()), ..Default::default() }),
    ];
    for (field, clash) in clashes {
        // A valid change rides along: the whole write is refused, it too.
        let req = UpdateUser { id: user.id, full_name: Some("Changed Name".to_owned()), ..clash };
        assert_error(update(req, app.ctx()).await, ErrorCode::Conflict, Some(field));
    }
    assert_eq!(get(GetUsers { ids: vec![user.id] }, app.ctx()).await.unwrap(), vec![user]);
    assert_eq!(app.events().await, vec![]);
}

async fn writes_to_a_missing_user_are_not_found(mut app: TestApp) {
    let id = Uuid::now_v7();
    let req = UpdateUser { id, full_name: Some("Someone".to_owned()), ..Default::default() };
    assert_error(update(req, app.ctx()).await, ErrorCode::NotFound, None);
    let req = ChangePassword {
        id,
        current_password: PASSWORD.to_owned(),
        new_password: "another password".to_owned(),
        request_id: Uuid::now_v7(),
        client: CLIENT.to_owned(),
    };
    assert_error(change_password(req, app.ctx()).await, ErrorCode::NotFound, None);
    assert_error(delete(DeleteUser { id }, app.ctx()).await, ErrorCode::NotFound, None);
    assert_eq!(app.count().await, 0);
    // Nothing happened, so nothing is announced: a deletion that did happen had its
    // `user.deleted` written in its own transaction (the outbox), and a redelivery of it
    // answers from the inbox.
    assert_eq!(app.events().await, Vec::new());
}

// ---------------------------------------------------------------------------------------------
// change_password

async fn change_password_stores_a_new_hash_when_the_current_password_matches(mut app: TestApp) {
    let user = app.create(new_user(1)).await;
    let old_hash = app.stored(user.id).await.unwrap().password_hash;
    let req = ChangePassword {
        id: user.id,
        current_password: PASSWORD.to_owned(),
        new_password: "a brand new passphrase".to_owned(),
        request_id: Uuid::now_v7(),
        client: CLIENT.to_owned(),
    };
    assert!(change_password(req, app.ctx()).await.unwrap());

    let row = app.stored(user.id).await.unwrap();
    assert_ne!(row.password_hash, old_hash);
    assert!(row.password_hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
    assert!(
        users_worker::password::verify("a brand new passphrase".to_owned(), row.password_hash.clone()).await.unwrap()
    );
    assert!(!users_worker::password::verify(PASSWORD.to_owned(), row.password_hash).await.unwrap());
    assert!(row.updated_at > user.updated_at);
    assert_eq!(row.created_at, user.created_at);
    assert_eq!(app.events().await, vec![created(user.id), sessions_ended(user.id), updated(user.id)]);
}

async fn a_redelivered_change_password_answers_true_again_without_writing(mut app: TestApp) {
    let user = app.create(new_user(1)).await;
    let request_id = Uuid::now_v7();
    let req = || ChangePassword {
        id: user.id,
        current_password: PASSWORD.to_owned(),
        new_password: "a brand new passphrase".to_owned(),
        request_id,
        client: CLIENT.to_owned(),
    };
    assert!(change_password(req(), app.ctx()).await.unwrap());
    let hash = app.stored(user.id).await.unwrap().password_hash;
    assert!(change_password(req(), app.ctx()).await.unwrap());
    assert_eq!(app.stored(user.id).await.unwrap().password_hash, hash);
    assert_eq!(app.events().await, vec![created(user.id), sessions_ended(user.id), updated(user.id)]);
}

async fn a_wrong_current_password_is_unauthenticated_and_changes_nothing(mut app: TestApp) {
    let user = app.create(new_user(1)).await;
    let before = app.stored(user.id).await.unwrap();
    for wrong in ["Correct horse battery", "", "x".repeat(10_000).as_str()] {
        let req = ChangePassword {
            id: user.id,
            current_password: wrong.to_owned(),
            new_password: "a brand new passphrase".to_owned(),
            request_id: Uuid::now_v7(),
            client: CLIENT.to_owned(),
        };
        let error = assert_error(change_password(req, app.ctx()).await, ErrorCode::Unauthenticated, None);
        assert!(!error.message.contains(PASSWORD));
    }
    assert_eq!(app.stored(user.id).await.unwrap(), before);
    assert_eq!(app.events().await, vec![created(user.id)]);
}

async fn the_new_password_is_checked_before_the_current_one(app: TestApp) {
    let user = app.create(new_user(1)).await;
    for (current, new) in [(PASSWORD, "short"), ("wrong password", "short"), (PASSWORD, "n".repeat(129).as_str())] {
        let req = ChangePassword {
            id: user.id,
            current_password: current.to_owned(),
            new_password: new.to_owned(),
            request_id: Uuid::now_v7(),
            client: CLIENT.to_owned(),
        };
        assert_error(change_password(req, app.ctx()).await, ErrorCode::BadUserInput, Some("newPassword"));
    }
}

// ---------------------------------------------------------------------------------------------
// delete

async fn delete_removes_the_user_frees_their_values_and_publishes_user_deleted(mut app: TestApp) {
    let user = app.create(new_user(1)).await;
    assert!(delete(DeleteUser { id: user.id }, app.ctx()).await.unwrap());

    assert_eq!(get(GetUsers { ids: vec![user.id] }, app.ctx()).await.unwrap(), vec![]);
    let found = by_nick_name(GetUserByNickName { nick_name: user.nick_name.clone() }, app.ctx()).await.unwrap();
    assert_eq!(found, None);
    assert_eq!(app.count().await, 0);
    assert_eq!(app.events().await, vec![created(user.id), deleted(user.id)]);

    // The nickName, cpf and email are free again.
    let successor = app.create(new_user(1)).await;
    assert_ne!(successor.id, user.id);
}

/// The first worker committed the delete and died before its ack: the broker gives the same
/// request to another, which answers `true` from the inbox and announces nothing again.
async fn a_redelivered_delete_answers_true_again_and_announces_once(mut app: TestApp) {
    let user = app.create(new_user(1)).await;
    app.events().await;
    let first = Headers { caller: Caller::Service, request_id: Some(Uuid::now_v7()), ..Headers::default() };
    assert_eq!(delete(DeleteUser { id: user.id }, app.ctx().for_request(first.clone())).await, Ok(true));
    assert_eq!(app.events().await, vec![deleted(user.id)]);
    let redelivered = Headers { redelivered: true, ..first };
    assert_eq!(delete(DeleteUser { id: user.id }, app.ctx().for_request(redelivered)).await, Ok(true));
    assert_eq!(app.events().await, Vec::new());
}

/// A client's retry carries its input's fingerprint: the same request id with another input is
/// a key reused by mistake, refused before anything is done.
async fn a_key_reused_for_other_input_is_refused_and_changes_nothing(mut app: TestApp) {
    let user = app.create(new_user(1)).await;
    app.events().await;
    let keyed = |input: &str| Headers {
        caller: Caller::Service,
        request_id: Some(Uuid::from_u128(7)),
        input: Some(input.to_owned()),
        ..Headers::default()
    };
    let rename =
        |full_name: &str| UpdateUser { id: user.id, full_name: Some(full_name.to_owned()), ..Default::default() };
    let renamed = update(rename("First Name"), app.ctx().for_request(keyed("first"))).await.unwrap();
    assert_eq!(update(rename("First Name"), app.ctx().for_request(keyed("first"))).await, Ok(renamed.clone()));
    assert_error(
        update(rename("Other Name"), app.ctx().for_request(keyed("other"))).await,
        ErrorCode::BadUserInput,
        None,
    );
    assert_eq!(app.stored(user.id).await.unwrap().full_name, "First Name");
    assert_eq!(app.events().await, vec![updated(user.id)]);
}

// ---------------------------------------------------------------------------------------------
// wiring

async fn every_method_answers_through_the_in_process_broker(app: TestApp) {
    let hub = LocalHub::default();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn({
        let (hub, router, shutdown) = (hub.clone(), users_worker::router(app.ctx()), shutdown.clone());
        async move { hub.serve(Service::Users, router, shutdown).await }
    });
    let client = RpcClient::new(Arc::new(hub), Duration::from_secs(10)).as_caller(rpc::Caller::Service);
    // The service registers when its task first runs.
    while client.ping(Service::Users).await.is_err() {
        tokio::task::yield_now().await;
    }

    let user = client.call(&new_user(1)).await.unwrap();
    assert_eq!(client.call(&GetUsers { ids: vec![user.id] }).await.unwrap(), vec![user.clone()]);
    let by_nick = client.call(&GetUserByNickName { nick_name: "USER1".to_owned() }).await.unwrap();
    assert_eq!(by_nick, Some(user.clone()));
    assert_eq!(
        client.call(&ListUsers { first: 5, after: None, extras: PageExtras::ALL }).await.unwrap().items,
        vec![user.clone()]
    );
    let renamed = client
        .call(&UpdateUser { id: user.id, full_name: Some("Renamed".to_owned()), ..Default::default() })
        .await
        .unwrap();
    assert_eq!(renamed.full_name, "Renamed");
    let change = ChangePassword {
        id: user.id,
        current_password: "wrong password".to_owned(),
        new_password: "new password".to_owned(),
        request_id: Uuid::now_v7(),
        client: CLIENT.to_owned(),
    };
    assert_error(client.call(&change).await, ErrorCode::Unauthenticated, None);
    assert!(client.call(&DeleteUser { id: user.id }).await.unwrap());
    assert_error(client.call(&DeleteUser { id: user.id }).await, ErrorCode::NotFound, None);

    shutdown.cancel();
    server.await.unwrap().unwrap();
}

async fn migrating_a_migrated_database_again_is_harmless(app: TestApp) {
    let user = app.create(new_user(1)).await;
    let again = users_worker::open_database(&app.url).await.unwrap();
    let ctx = Context::new(again, Arc::new(app.hub.clone()));
    assert_eq!(get(GetUsers { ids: vec![user.id] }, ctx).await.unwrap(), vec![user]);
}

test_support::on_both_backends! {
    run: crate::run,
    sqlite => crate::Backend::Sqlite,
    postgres => crate::Backend::Postgres;
    create_stores_normalised_values_and_publishes_user_created,
    values_at_the_limits_of_the_rules_are_accepted,
    every_broken_rule_is_refused_on_its_field_and_writes_nothing,
    the_first_broken_field_is_reported_in_the_contract_order,
    a_taken_nick_name_is_a_conflict_whatever_its_case,
    a_taken_cpf_is_a_conflict_however_it_is_punctuated,
    a_taken_email_is_a_conflict_whatever_its_case,
    a_repeated_create_with_the_same_id_returns_the_first_row_and_makes_no_second,
    concurrent_deliveries_of_one_create_make_one_row,
    a_client_retry_running_beside_its_first_try_answers_the_same_user,
    concurrent_creates_of_one_cpf_make_one_user_and_one_conflict,
    no_response_carries_the_password_or_its_hash,
    get_answers_each_existing_user_once_and_skips_absent_ids,
    get_takes_at_most_a_thousand_distinct_ids,
    a_nick_name_is_found_whatever_its_case,
    list_pages_forward_by_id_with_keyset_cursors,
    list_counts_and_looks_back_only_when_asked,
    an_empty_list_and_a_page_of_zero_still_report_the_counts,
    list_refuses_pages_larger_than_a_hundred,
    update_normalises_the_given_fields_and_bumps_updated_at,
    an_update_that_changes_no_value_writes_nothing,
    a_user_may_change_the_case_of_their_own_nick_name,
    update_refuses_broken_fields_in_the_contract_order_and_changes_nothing,
    update_to_a_taken_value_is_a_conflict_and_changes_nothing,
    writes_to_a_missing_user_are_not_found,
    change_password_stores_a_new_hash_when_the_current_password_matches,
    a_redelivered_change_password_answers_true_again_without_writing,
    a_wrong_current_password_is_unauthenticated_and_changes_nothing,
    the_new_password_is_checked_before_the_current_one,
    delete_removes_the_user_frees_their_values_and_publishes_user_deleted,
    a_redelivered_delete_answers_true_again_and_announces_once,
    a_key_reused_for_other_input_is_refused_and_changes_nothing,
    every_method_answers_through_the_in_process_broker,
    migrating_a_migrated_database_again_is_harmless,
}

// ---------------------------------------------------------------------------------------------
// Control characters

/// NUL and other control characters in every text field. PostgreSQL cannot store NUL in text
/// at all and SQLite would keep it as is, so no rule may let one through to a row; a password
/// is never stored (only its hash), so the contract lets it hold any character.
mod control_characters {
    use super::*;

    type Breaker = fn(&mut CreateUser, &str);

    /// Each text field of a create with a control character put into an otherwise valid value.
    const BREAKERS: [(&str, Breaker); 5] = [
        ("nickName", |req, control| req.nick_name = format!("ana{control}maria")),
        ("fullName", |req, control| req.full_name = format!("Ana{control}Maria")),
        ("cpf", |req, control| req.cpf = format!("529.982.247{control}25")),
        ("email", |req, control| req.email = format!("ana{control}@example.com")),
        ("phoneNumber", |req, control| req.phone_number = format!("+55 11{control}98765-4321")),
    ];

    /// Control characters that are not whitespace: a cpf or phoneNumber drops whitespace (and
    /// so stores none), the other fields refuse it.
    const CONTROLS: [&str; 5] = ["\u{0}", "\u{7}", "\u{1b}", "\u{7f}", "\u{9b}"];

    async fn control_characters_in_any_text_field_are_refused_on_it_and_store_nothing(mut app: TestApp) {
        for (field, breaker) in BREAKERS {
            for control in CONTROLS {
                let mut req = new_user(1);
                breaker(&mut req, control);
                assert_error(create(req, app.ctx()).await, ErrorCode::BadUserInput, Some(field));
            }
        }
        assert_eq!(app.count().await, 0);
        assert_eq!(app.events().await, vec![]);

        let user = app.create(new_user(2)).await;
        app.events().await;
        for (field, breaker) in BREAKERS {
            for control in CONTROLS {
                let mut broken = new_user(2);
                breaker(&mut broken, control);
                let mut req = UpdateUser { id: user.id, ..UpdateUser::default() };
                match field {
                    "nickName" => req.nick_name = Some(broken.nick_name),
                    "fullName" => req.full_name = Some(broken.full_name),
                    "cpf" => req.cpf = Some(broken.cpf),
                    "email" => req.email = Some(broken.email),
                    _ => req.phone_number = Some(broken.phone_number),
                }
                assert_error(update(req, app.ctx()).await, ErrorCode::BadUserInput, Some(field));
            }
        }
        assert_eq!(get(GetUsers { ids: vec![user.id] }, app.ctx()).await.unwrap(), vec![user]);
        assert_eq!(app.events().await, vec![]);
    }

    async fn a_nick_name_with_a_control_character_belongs_to_nobody(app: TestApp) {
        app.create(new_user(1)).await;
        for control in CONTROLS {
            let req = GetUserByNickName { nick_name: format!("user1{control}") };
            assert_eq!(by_nick_name(req, app.ctx()).await.unwrap(), None);
        }
    }

    async fn a_password_may_hold_any_character_nul_included(mut app: TestApp) {
        let password = "pass\u{0}word\n\u{7}\u{85}é";
        let mut req = new_user(1);
        req.password = password.to_owned();
        let user = app.create(req).await;
        let hash = app.stored(user.id).await.unwrap().password_hash;
        assert!(users_worker::password::verify(password.to_owned(), hash).await.unwrap());

        let next = "\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}\u{0}";
        let req = ChangePassword {
            id: user.id,
            current_password: password.to_owned(),
            new_password: next.to_owned(),
            request_id: Uuid::now_v7(),
            client: CLIENT.to_owned(),
        };
        assert!(change_password(req, app.ctx()).await.unwrap());
        let hash = app.stored(user.id).await.unwrap().password_hash;
        assert!(users_worker::password::verify(next.to_owned(), hash).await.unwrap());
        assert_eq!(app.events().await, vec![created(user.id), sessions_ended(user.id), updated(user.id)]);
    }

    test_support::on_both_backends! {
        run: crate::run,
        sqlite => crate::Backend::Sqlite,
        postgres => crate::Backend::Postgres;
        control_characters_in_any_text_field_are_refused_on_it_and_store_nothing,
        a_nick_name_with_a_control_character_belongs_to_nobody,
        a_password_may_hold_any_character_nul_included,
    }
}
