//! The inbox (`DESIGN.md`, "Outbox, deadlines and outcomes"): each write records its request
//! id and its answer in the transaction of its effect ([`crate::write::Write::commit`]), so a
//! redelivery of the request, or a client's retry with the same idempotency key, answers what
//! the first run answered and does nothing else ([`replay`]). Rows are kept at least
//! [`KEPT_FOR`], then swept.
//!
//! On PostgreSQL a deferred constraint trigger on this table fences a write at its deadline:
//! the database's own clock refuses the COMMIT of a write whose caller gave up (57014), however
//! late its process got there.

use std::time::Duration;

use rpc::{ErrorCode, Headers, Method, RpcError, RpcResult, error::OrInternal};
use sea_orm::{
    ActiveValue::Set, DatabaseConnection, DbErr, EntityTrait, QueryFilter, QueryTrait, entity::prelude::*,
    sea_query::InsertStatement,
};
use serde::de::DeserializeOwned;

/// The answer one request got.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "inbox")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub request_id: Uuid,
    /// The method it was (`orders.create`).
    pub method: String,
    /// Its input's fingerprint, as its sender gave it (empty when the body was the input).
    pub input: String,
    /// The answer, as JSON.
    pub answer: String,
    /// Until when its caller waited: PostgreSQL refuses the commit after it.
    pub deadline: Option<DateTimeUtc>,
    #[sea_orm(indexed)]
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// How long an answer is kept: a client may retry with the same idempotency key this long.
pub const KEPT_FOR: Duration = Duration::from_secs(24 * 60 * 60);

/// The answer an earlier run of this request recorded, if it may have run before (a
/// redelivery, a client's retry) and did. BAD_USER_INPUT when the same request id came with
/// another method or input: the client reused an idempotency key for another request.
pub async fn replay<M: Method>(db: &DatabaseConnection, headers: &Headers) -> RpcResult<Option<M::Response>> {
    if !headers.may_repeat() {
        return Ok(None);
    }
    answered::<M>(db, headers).await
}

/// The answer a twin of this request (a client's retry sent while it ran) committed, if any:
/// what a write that ran into the twin's effect (a unique value it took first) answers.
pub async fn answered<M: Method>(db: &DatabaseConnection, headers: &Headers) -> RpcResult<Option<M::Response>> {
    let Some(request_id) = headers.request_id else { return Ok(None) };
    recorded(db, request_id, M::NAME, headers).await
}

/// The answer recorded for `request_id`, which must have been method `method` with the input
/// `headers` name.
pub(crate) async fn recorded<T: DeserializeOwned>(
    db: &DatabaseConnection,
    request_id: Uuid,
    method: &str,
    headers: &Headers,
) -> RpcResult<Option<T>> {
    let Some(row) = Entity::find_by_id(request_id).one(db).await.or_internal("reading a request's answer")? else {
        return Ok(None);
    };
    if row.method != method || row.input != headers.input.as_deref().unwrap_or_default() {
        return Err(RpcError::new(
            ErrorCode::BadUserInput,
            "this Idempotency-Key was used for another request: use a new key for new input",
        ));
    }
    serde_json::from_str(&row.answer).map(Some).or_internal("decoding a request's recorded answer")
}

/// The statement that records `answer` as request `request_id`'s, in the transaction of its
/// effect ([`crate::write::Write::commit`] runs it).
pub(crate) fn record(request_id: Uuid, method: &str, headers: &Headers, answer: String) -> InsertStatement {
    let row = ActiveModel {
        request_id: Set(request_id),
        method: Set(method.to_owned()),
        input: Set(headers.input.clone().unwrap_or_default()),
        answer: Set(answer),
        deadline: Set(headers.deadline.map(chrono::DateTime::<chrono::Utc>::from)),
        created_at: Set(crate::now()),
    };
    Entity::insert(row).into_query()
}

/// Deletes the answers older than [`KEPT_FOR`].
pub async fn sweep(db: &DatabaseConnection) -> Result<u64, DbErr> {
    let cutoff = crate::now() - chrono::Duration::from_std(KEPT_FOR).unwrap_or_default();
    Ok(Entity::delete_many().filter(Column::CreatedAt.lt(cutoff)).exec(db).await?.rows_affected)
}
