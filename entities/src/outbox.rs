//! The transactional outbox (`DESIGN.md`, "Outbox, deadlines and outcomes"): a service writes
//! the events of a change into its `outbox` table in the transaction of the change
//! ([`crate::write::Write`]), and [`Outbox::relay`] publishes them from there with publisher
//! confirms, deleting only what the broker confirmed. A crash or an outage between the commit
//! and the publish delays an event; it never loses one. An event can go out twice (the relay
//! died after the confirm, before the delete): consumers are idempotent.
//!
//! Events leave in the order they were written. One relay at a time works a database (a
//! PostgreSQL advisory lock that the others skip), so replicas never reorder two events of one
//! record: those were written in the order their transactions took the record's lock.

use std::{sync::Arc, time::Duration};

use rpc::{Envelope, EventPublisher};
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ConnectionTrait, DatabaseConnection, DbBackend, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    QueryTrait, Statement,
    entity::prelude::*,
    sea_query::InsertStatement,
};
use tokio::sync::{Mutex, Notify};
use tokio_util::sync::CancellationToken;

/// One event waiting to be published.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    /// The order events were written in.
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub routing_key: String,
    /// The event's body, as JSON.
    pub body: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

/// Writes `envelopes` into the outbox, in the transaction `txn` of the change they announce.
pub async fn add(txn: &impl ConnectionTrait, envelopes: &[Envelope]) -> Result<(), DbErr> {
    match insert(envelopes)? {
        Some(statement) => txn.execute(&statement).await.map(drop),
        None => Ok(()),
    }
}

/// The statement [`add`] runs (none for no envelope), for a caller that sends it with another
/// in one round trip ([`crate::write::Write::commit`]).
pub(crate) fn insert(envelopes: &[Envelope]) -> Result<Option<InsertStatement>, DbErr> {
    if envelopes.is_empty() {
        return Ok(None);
    }
    let now = crate::now();
    let rows = envelopes
        .iter()
        .map(|envelope| {
            let body = serde_json::to_string(&envelope.event).map_err(|error| DbErr::Json(error.to_string()))?;
            Ok(ActiveModel {
                seq: NotSet,
                routing_key: Set(envelope.routing_key.clone()),
                body: Set(body),
                created_at: Set(now),
            })
        })
        .collect::<Result<Vec<_>, DbErr>>()?;
    Ok(Some(Entity::insert_many(rows).into_query()))
}

/// The most events one relay pass publishes at once.
const BATCH: u64 = 256;
/// How often a relay looks for events without being woken: events its own process wrote wake
/// it at once; this catches those a replica left behind when it died, or a command wrote
/// (`grant-admin` without a broker). An empty look costs one indexed read.
const POLL: Duration = Duration::from_millis(200);
/// How long, and how often, a relay waits for another replica's relay to finish its pass.
const BUSY_WAIT: Duration = Duration::from_millis(5);
const BUSY_TRIES: u32 = 20;
/// The longest wait before trying again after the broker or the database failed.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// A service's outbox: where its relay publishes from. Cheap to clone.
#[derive(Clone)]
pub struct Outbox {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    publisher: Arc<dyn EventPublisher>,
    /// Rung after each commit that wrote events.
    wake: Notify,
    /// One pass at a time in this process.
    passing: Mutex<()>,
    /// The advisory lock that lets one relay at a time work a PostgreSQL database.
    lock_key: i64,
}

impl Outbox {
    /// The outbox of `db`, published through `publisher`; `lock_key` tells this service's relay
    /// lock from another's on a shared server.
    pub fn new(db: DatabaseConnection, publisher: Arc<dyn EventPublisher>, lock_key: i64) -> Self {
        let inner = Inner { db, publisher, wake: Notify::new(), passing: Mutex::new(()), lock_key };
        Self { inner: Arc::new(inner) }
    }

    /// Tells the relay that events were committed: it publishes them now rather than at its
    /// next look.
    pub fn wake(&self) {
        self.inner.wake.notify_one();
    }

    /// Publishes every event waiting, in order, and answers how many. When another relay is
    /// at work on the same database, waits a little for it to finish, then leaves the events
    /// to it (it looks again by itself).
    pub async fn flush(&self) -> anyhow::Result<usize> {
        let _one_pass = self.inner.passing.lock().await;
        let (mut published, mut waited) = (0, 0);
        loop {
            match self.pass().await? {
                Some(batch) if batch == BATCH as usize => published += batch,
                Some(batch) => return Ok(published + batch),
                // The other relay's pass takes a publish round trip: it may have started
                // before our events committed, so look again once it is done.
                None if waited < BUSY_TRIES => {
                    waited += 1;
                    tokio::time::sleep(BUSY_WAIT).await;
                }
                None => return Ok(published),
            }
        }
    }

    /// Publishes up to [`BATCH`] events in one transaction: read, publish and wait for every
    /// confirm, delete exactly those, commit. Any failure rolls back, so the events stay.
    /// `None` when another relay holds the database's relay lock.
    async fn pass(&self) -> anyhow::Result<Option<usize>> {
        let Inner { db, publisher, lock_key, .. } = &*self.inner;
        let txn = crate::db::begin_write(db).await?;
        if txn.get_database_backend() == DbBackend::Postgres {
            let locked = txn
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT pg_try_advisory_xact_lock($1) AS locked",
                    [(*lock_key).into()],
                ))
                .await?
                .map(|row| row.try_get::<bool>("", "locked"))
                .transpose()?
                .unwrap_or(false);
            if !locked {
                txn.commit().await?;
                return Ok(None);
            }
        }
        let rows = Entity::find().order_by_asc(Column::Seq).limit(BATCH).all(&txn).await?;
        if rows.is_empty() {
            txn.commit().await?;
            return Ok(Some(0));
        }
        let envelopes = rows
            .iter()
            .map(|row| {
                let mut event: rpc::Event = serde_json::from_str(&row.body)?;
                event.sequence = Some(row.seq);
                Ok(Envelope { routing_key: row.routing_key.clone(), event })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        publisher.publish(&envelopes).await?;
        let published: Vec<i64> = rows.iter().map(|row| row.seq).collect();
        Entity::delete_many().filter(Column::Seq.is_in(published)).exec(&txn).await?;
        txn.commit().await?;
        Ok(Some(rows.len()))
    }

    /// Publishes what the service commits until `shutdown`, then what is left: woken by each
    /// commit, looking by itself every [`POLL`], and again soon after a failure.
    pub async fn relay(self, shutdown: CancellationToken) {
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.flush().await {
                Ok(_) => {
                    backoff = Duration::from_millis(100);
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = self.inner.wake.notified() => {}
                        () = tokio::time::sleep(POLL) => {}
                    }
                }
                // Commits do not hurry a retry: each would only fail the same way.
                Err(error) => {
                    tracing::warn!(error = format!("{error:#}"), "cannot publish the outbox's events; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
        if let Err(error) = self.flush().await {
            tracing::warn!(
                error = format!("{error:#}"),
                "events left in the outbox at shutdown; the next relay sends them"
            );
        }
    }
}
