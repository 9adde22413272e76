//! Live updates (`API.md`, "Live updates"): the `orderChanges` and `userChanges` subscriptions,
//! served over WebSocket at `/graphql` ([`socket`]) and fed by the services' events.
//!
//! - Each gateway hears every event from a queue of its own (`crate::startup`), so a change made
//!   through any gateway, or by a service on its own, reaches the subscribers of every gateway;
//!   no sticky sessions. In embedded mode the events come in process.
//! - [`Live::on_event`] turns an event into a [`Change`], skips one it already had (an event
//!   may be published twice; its outbox `sequence` tells), and offers it to the [`hub`]'s
//!   subscribers of its topics, in the order the gateway heard them: commit order per record.
//! - A change's record is read once for all the gateway's subscribers ([`Change::order`]),
//!   through the field cache and the coalesced look-ups a query uses, in its owner's view; the
//!   read starts as the change goes out, so the reads of a record that changes fast overlap.
//!   With a shared cache, whose invalidations another gateway may apply later, the gateway
//!   invalidates the record itself before it reads, so no subscriber gets it stale.
//! - Sockets close with a code when what they were opened with ends ([`sockets`]): the session
//!   (4401), or this gateway's event queue, made again after the broker came back (1012: events
//!   may have gone by unheard; reconnecting gets every change from then on).

pub mod hub;
pub mod socket;
pub mod sockets;

use std::{sync::Arc, time::Duration};

use rpc::{Caller, Envelope, RpcClient, RpcError, events, orders as wire_orders, users as wire_users};
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use self::{
    hub::Hub,
    sockets::{EVENTS_MISSED, Sockets},
};
use crate::{
    auth::Authentication,
    cache::{FieldCache, keys::Keys},
    graphql::{Requester, loaders::Reader},
    metrics::Metrics,
};

/// The limits of the WebSocket endpoint (`API.md`, "Live updates").
#[derive(Debug, Clone, clap::Args)]
pub struct LiveSettings {
    /// Operations one WebSocket may run at once (subscriptions, and queries or mutations sent
    /// over it); one more is refused with TOO_MANY_REQUESTS.
    #[arg(long, env = "WS_MAX_SUBSCRIPTIONS", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_subscriptions: u32,

    /// Changes that may wait for one subscription while its socket is not read; one more and
    /// the socket is closed with 1013.
    #[arg(long, env = "WS_SUBSCRIBER_BUFFER", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..))]
    pub subscriber_buffer: u32,

    /// How often the gateway pings each socket (`{"type":"ping"}`); a socket that sent nothing
    /// since the ping before is closed. 0: no pings.
    #[arg(long, env = "WS_KEEPALIVE_SECONDS", default_value_t = 15)]
    pub keepalive_seconds: u64,

    /// How long a new socket has to send `connection_init` before it is closed with 4408.
    #[arg(long, env = "WS_INIT_TIMEOUT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub init_timeout_seconds: u64,
}

impl LiveSettings {
    pub fn keepalive(&self) -> Option<Duration> {
        (self.keepalive_seconds > 0).then(|| Duration::from_secs(self.keepalive_seconds))
    }

    pub fn init_timeout(&self) -> Duration {
        Duration::from_secs(self.init_timeout_seconds)
    }
}

/// Marks an `Order` read for a change: its `user` is the change's owner, read once for every
/// subscriber (`crate::graphql::orders`).
#[derive(Clone, Default)]
pub struct OfChange(pub Option<Arc<Change>>);

impl std::fmt::Debug for OfChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() { "OfChange(Some)" } else { "OfChange(None)" })
    }
}

/// What happened to a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Record {
    Order,
    User,
}

/// One change, as every subscriber of this gateway that follows it gets it.
pub struct Change {
    pub kind: ChangeKind,
    pub record: Record,
    pub id: Uuid,
    /// Whose record it is (for a user: the user).
    pub user_id: Uuid,
    read: Option<Arc<ChangeReader>>,
    order: OnceCell<Result<Option<wire_orders::Order>, RpcError>>,
    owner: OnceCell<Result<Option<wire_users::User>, RpcError>>,
}

/// What changes are read through: the cache and look-ups of queries.
struct ChangeReader {
    reader: Reader,
    rpc: RpcClient,
    keys: Keys,
}

impl Change {
    /// A change that reads nothing (its record is `null`): for tests of the fan-out.
    pub fn new(kind: ChangeKind, record: Record, id: Uuid, user_id: Uuid) -> Self {
        Self { kind, record, id, user_id, read: None, order: OnceCell::new(), owner: OnceCell::new() }
    }

    /// The change an event announces, if it announces one.
    fn of(envelope: &Envelope, read: &Arc<ChangeReader>) -> Option<Self> {
        let (record, kind) = match envelope.routing_key.as_str() {
            events::ORDER_CREATED => (Record::Order, ChangeKind::Created),
            events::ORDER_UPDATED => (Record::Order, ChangeKind::Updated),
            events::ORDER_DELETED => (Record::Order, ChangeKind::Deleted),
            events::USER_CREATED => (Record::User, ChangeKind::Created),
            events::USER_UPDATED => (Record::User, ChangeKind::Updated),
            events::USER_DELETED => (Record::User, ChangeKind::Deleted),
            _ => return None,
        };
        let event = &envelope.event;
        let user_id = match record {
            Record::Order => event.user_id?,
            Record::User => event.id,
        };
        let mut change = Self::new(kind, record, event.id, user_id);
        change.read = Some(read.clone());
        Some(change)
    }

    /// What the record's owner may see: all a change's subscribers may (the owner, admins).
    fn as_owner(read: &ChangeReader, owner: Uuid) -> Requester {
        let auth =
            Authentication { caller: Ok(Caller::User(owner)), session: None, expires_at: None, client: String::new() };
        Requester::new(auth, &read.rpc, &read.keys)
    }

    /// The order as it is now, read once for every subscriber of this gateway; `None` once it
    /// is deleted (or for a user's change).
    pub async fn order(&self) -> Result<Option<wire_orders::Order>, RpcError> {
        let (Record::Order, false, Some(read)) = (self.record, self.kind == ChangeKind::Deleted, &self.read) else {
            return Ok(None);
        };
        let read = || async { read.reader.order(&Self::as_owner(read, self.user_id), self.id).await };
        self.order.get_or_init(read).await.clone()
    }

    /// Starts the read subscribers of this change will want: the order (its user is read
    /// when selected, and is cached), or the user.
    async fn read_ahead(&self) {
        let _ = match self.record {
            Record::Order => self.order().await.map(drop),
            Record::User => self.owner().await.map(drop),
        };
    }

    /// The record's owner as they are now (for a user's change: that user), read once.
    pub async fn owner(&self) -> Result<Option<wire_users::User>, RpcError> {
        let deleted_user = self.record == Record::User && self.kind == ChangeKind::Deleted;
        let (false, Some(read)) = (deleted_user, &self.read) else { return Ok(None) };
        let read = || async { read.reader.user(&Self::as_owner(read, self.user_id), self.user_id).await };
        self.owner.get_or_init(read).await.clone()
    }
}

/// Live updates of one gateway: its subscribers, its sockets, and what feeds them.
pub struct Live {
    pub hub: Arc<Hub>,
    pub sockets: Arc<Sockets>,
    pub settings: LiveSettings,
    read: Arc<ChangeReader>,
    cache: Arc<FieldCache>,
    /// Whether the cache is shared with other gateways, whose invalidations may come late.
    shared_cache: bool,
    sequences: Sequences,
    metrics: Metrics,
    /// Cancelled when the gateway stops: every socket closes with 1001 ("going away").
    pub stopping: CancellationToken,
    /// Whether this gateway's own event queue has been made: before, a subscriber would hear
    /// nothing (`/readyz` says so).
    listening: std::sync::atomic::AtomicBool,
}

/// Records whose last event sequence is kept; an event published twice comes again within
/// moments, long before this many other records changed.
const SEQUENCES_KEPT: usize = 100_000;

impl Live {
    pub fn new(
        settings: LiveSettings,
        reader: Reader,
        rpc: RpcClient,
        cache: Arc<FieldCache>,
        shared_cache: bool,
        metrics: Metrics,
        stopping: CancellationToken,
    ) -> Self {
        let read = Arc::new(ChangeReader { reader, rpc, keys: cache.keys.clone() });
        Self {
            hub: Arc::new(Hub::new(settings.subscriber_buffer as usize, metrics.live.subscriptions.clone())),
            sockets: Arc::default(),
            settings,
            read,
            cache,
            shared_cache,
            sequences: Sequences::new(SEQUENCES_KEPT),
            metrics,
            stopping,
            listening: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// Whether this gateway hears the services' changes: its own queue was made (it may be
    /// gone again with the broker, which `/readyz` tells apart).
    pub fn is_listening(&self) -> bool {
        self.listening.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Applies one event of this gateway's own queue: to sockets (ended sessions, a queue made
    /// again) and, as a change, to the subscribers that follow its record.
    pub async fn on_event(&self, envelope: &Envelope) {
        let event = &envelope.event;
        match envelope.routing_key.as_str() {
            events::SUBSCRIBED => {
                self.listening.store(true, std::sync::atomic::Ordering::SeqCst);
                self.sockets.close_all(
                    EVENTS_MISSED,
                    "the gateway reconnected to the broker; changes may have been missed: reconnect and read again",
                );
            }
            events::SESSION_ENDED => self.sockets.session_ended(event.id),
            events::USER_SESSIONS_ENDED => self.sockets.sessions_of_user_ended(event.id),
            _ => {}
        }
        if let Some(change) = Change::of(envelope, &self.read)
            && self.sequences.is_new(change.record, change.id, event.sequence)
            && self.hub.wants(&change)
        {
            if self.shared_cache {
                self.cache.invalidate(self.cache.keys.written_by(envelope)).await;
            }
            let change = Arc::new(change);
            let delivered = self.hub.publish(&change);
            self.metrics.live.deliveries.inc_by(delivered as u64);
            // Read now, while the subscribers still work through earlier changes: each reads its
            // changes one after another, and one waiting for every change's read in turn would
            // fall behind a record that changes faster than one read takes.
            tokio::spawn(async move { change.read_ahead().await });
        }
        // After the change went out, so that admins hear of the deletion first.
        if envelope.routing_key == events::USER_DELETED {
            self.sockets.sessions_of_user_ended(event.id);
        }
    }
}

/// The last outbox `sequence` heard of each record, to skip an event heard before: one
/// published twice (its confirm was lost), or redelivered after a newer one.
struct Sequences(quick_cache::sync::Cache<(Record, Uuid), i64>);

impl Sequences {
    fn new(capacity: usize) -> Self {
        Self(quick_cache::sync::Cache::new(capacity))
    }

    /// Whether an event of `record` `id` with this sequence is new; an event without one is.
    fn is_new(&self, record: Record, id: Uuid, sequence: Option<i64>) -> bool {
        let Some(sequence) = sequence else { return true };
        if self.0.get(&(record, id)).is_some_and(|last| last >= sequence) {
            return false;
        }
        self.0.insert((record, id), sequence);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_heard_before_is_not_new_and_another_record_keeps_its_own_sequence() {
        let sequences = Sequences::new(16);
        let (order, other) = (Uuid::now_v7(), Uuid::now_v7());
        assert!(sequences.is_new(Record::Order, order, Some(7)));
        assert!(!sequences.is_new(Record::Order, order, Some(7)), "published twice");
        assert!(!sequences.is_new(Record::Order, order, Some(5)), "an older one, redelivered");
        assert!(sequences.is_new(Record::Order, order, Some(9)));
        assert!(sequences.is_new(Record::Order, other, Some(1)));
        assert!(sequences.is_new(Record::User, order, Some(1)), "a user's sequence is the users service's");
        assert!(sequences.is_new(Record::Order, order, None), "without a sequence, nothing can tell");
    }
}
