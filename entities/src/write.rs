//! [`Write`]: the one way a handler changes its service's data. One transaction holds the
//! change, the events that announce it (the outbox) and the answer (the inbox), and it commits
//! only while its caller still waits:
//!
//! - [`Write::begin`] refuses a request past its deadline, and on PostgreSQL bounds every
//!   statement and every idle moment of the transaction by the time left, so a paused process
//!   holds no lock past its deadline;
//! - [`Write::commit`] records the answer under the request id (PostgreSQL's clock then fences
//!   the COMMIT at the deadline, see [`crate::inbox`]), and answers what a twin delivery
//!   recorded first when there was one.
//!
//! ```text
//! if let Some(answer) = inbox::replay::<DeleteOrder>(&ctx.db, &ctx.request).await? {
//!     return Ok(answer);
//! }
//! let mut write = Write::begin::<DeleteOrder>(&ctx.db, &ctx.outbox, &ctx.request).await?;
//! // ... statements on `&*write` ...
//! write.announce(Envelope::new(ORDER_DELETED, id, Some(user_id)));
//! write.commit(true).await
//! ```

use std::ops::Deref;

use rpc::{Envelope, Headers, Method, RpcError, RpcResult, error::OrInternal, headers::deadline_passed};
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, SqlErr,
    sea_query::{CommonTableExpression, WithClause},
};
use serde::{Serialize, de::DeserializeOwned};

use crate::{inbox, outbox::Outbox};

/// A write in progress: its transaction, and what it will announce.
pub struct Write {
    txn: DatabaseTransaction,
    db: DatabaseConnection,
    outbox: Outbox,
    headers: Headers,
    method: &'static str,
    events: Vec<Envelope>,
}

impl Deref for Write {
    type Target = DatabaseTransaction;

    fn deref(&self) -> &DatabaseTransaction {
        &self.txn
    }
}

impl Write {
    /// Begins request `headers`' write of method `M` (on SQLite, holding the write lock);
    /// SERVICE_UNAVAILABLE past the deadline.
    pub async fn begin<M: Method>(db: &DatabaseConnection, outbox: &Outbox, headers: &Headers) -> RpcResult<Self> {
        Self::begin_locking::<M>(db, outbox, headers, None).await
    }

    /// [`Self::begin`], then on PostgreSQL `lock`, a statement of no parameters (an advisory
    /// lock), sent in the same round trip as the deadline's bounds, which already bound it.
    pub async fn begin_locking<M: Method>(
        db: &DatabaseConnection,
        outbox: &Outbox,
        headers: &Headers,
        lock: Option<&str>,
    ) -> RpcResult<Self> {
        headers.check_deadline()?;
        let txn = crate::db::begin_write(db).await.or_internal("beginning a write")?;
        if txn.get_database_backend() == DbBackend::Postgres {
            // PostgreSQL cancels a statement (57014) or ends the session of a transaction left
            // idle past the deadline: either rolls the write back and frees its locks. Whole
            // milliseconds only, so the text is ours alone: one simple query for all of it.
            let mut sql = String::new();
            if let Some(left) = headers.remaining() {
                let millis = left.as_millis().max(1);
                sql = format!(
                    "SET LOCAL statement_timeout = {millis}; SET LOCAL idle_in_transaction_session_timeout = {millis};"
                );
            }
            sql.extend(lock);
            if !sql.is_empty() {
                txn.execute_unprepared(&sql).await.or_internal("bounding a write by its deadline")?;
            }
        }
        Ok(Self {
            txn,
            db: db.clone(),
            outbox: outbox.clone(),
            headers: headers.clone(),
            method: M::NAME,
            events: Vec::new(),
        })
    }

    /// Announces `envelope` once the write commits.
    pub fn announce(&mut self, envelope: Envelope) {
        self.events.push(envelope);
    }

    /// Writes the events and the answer, and commits while the caller still waits. Answers
    /// `answer`, or the answer a twin delivery of the same request committed first (this one
    /// then rolls back and changes nothing).
    pub async fn commit<T: Serialize + DeserializeOwned>(self, answer: T) -> RpcResult<T> {
        let Self { txn, db, outbox, headers, method, events } = self;
        let events_insert = crate::outbox::insert(&events).or_internal("encoding events")?;
        let answer_insert = match headers.request_id {
            Some(request_id) => {
                let recorded = serde_json::to_string(&answer).or_internal("encoding an answer")?;
                Some(inbox::record(request_id, method, &headers, recorded))
            }
            None => None,
        };
        let written = match (events_insert, answer_insert) {
            // On PostgreSQL, one round trip for both: the events' insert as a CTE of the answer's.
            (Some(events_insert), Some(answer_insert)) if txn.get_database_backend() == DbBackend::Postgres => {
                let events_cte = CommonTableExpression::new().query(events_insert).table_name("events").to_owned();
                txn.execute(&WithClause::new().cte(events_cte).to_owned().query(answer_insert)).await.map(drop)
            }
            (events_insert, answer_insert) => {
                if let Some(events_insert) = events_insert {
                    txn.execute(&events_insert).await.or_internal("writing events to the outbox")?;
                }
                match answer_insert {
                    Some(answer_insert) => txn.execute(&answer_insert).await.map(drop),
                    None => Ok(()),
                }
            }
        };
        if let Err(error) = written {
            if matches!(error.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
                // A twin delivery committed first: its answer is this request's.
                drop(txn);
                return twin_answer(&db, &headers, method).await;
            }
            return Err(error).or_internal("recording an answer and the events");
        }
        // SQLite has no clock of its own to fence with; this process's is the next best.
        if txn.get_database_backend() != DbBackend::Postgres && headers.expired() {
            return Err(deadline_passed());
        }
        txn.commit().await.or_internal("committing a write")?;
        if !events.is_empty() {
            outbox.wake();
        }
        Ok(answer)
    }
}

/// What the twin of a request recorded: the same request id committed first.
async fn twin_answer<T: DeserializeOwned>(db: &DatabaseConnection, headers: &Headers, method: &str) -> RpcResult<T> {
    let request_id = headers.request_id.ok_or_else(RpcError::internal)?;
    inbox::recorded(db, request_id, method, headers).await?.ok_or_else(|| {
        tracing::error!(%request_id, "a request id clashed in the inbox, but no answer has it");
        RpcError::internal()
    })
}
