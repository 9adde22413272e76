//! The subscribers of one gateway, by what they follow ([`Topic`]), and the fan-out of a
//! change to them.
//!
//! Each subscriber has a bounded queue of its own. A change is offered to each matching queue
//! without waiting: one that is full belongs to a subscriber that does not read, which is
//! dropped alone (its socket closed with [`TOO_SLOW`]) while the others get the change at once.

use std::{
    collections::HashMap,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use futures_util::Stream;
use prometheus::IntGauge;
use tokio::sync::mpsc;
use uuid::Uuid;

use super::{Change, Record, sockets::Closer};

/// The close code of a subscriber dropped for not reading: 1013, "try again later" (RFC 6455),
/// which `graphql-ws` clients retry.
pub const TOO_SLOW: u16 = 1013;

/// What a subscription follows: one user's orders or one user, or (`None`, admins only) all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    Orders(Option<Uuid>),
    Users(Option<Uuid>),
}

impl Topic {
    /// The topics a change reaches: its owner's and everyone's.
    fn of(change: &Change) -> [Topic; 2] {
        match change.record {
            Record::Order => [Topic::Orders(Some(change.user_id)), Topic::Orders(None)],
            Record::User => [Topic::Users(Some(change.id)), Topic::Users(None)],
        }
    }
}

struct Subscriber {
    queue: mpsc::Sender<Arc<Change>>,
    socket: Arc<Closer>,
}

#[derive(Default)]
struct Subscribers {
    next_id: u64,
    by_topic: HashMap<Topic, HashMap<u64, Subscriber>>,
}

/// Every subscription of this gateway.
pub struct Hub {
    subscribers: Mutex<Subscribers>,
    /// How many changes wait for one subscriber before it is dropped.
    buffer: usize,
    /// How many subscriptions are open (`gateway_subscriptions`).
    open: IntGauge,
}

impl Hub {
    pub fn new(buffer: usize, open: IntGauge) -> Self {
        Self { subscribers: Mutex::default(), buffer: buffer.max(1), open }
    }

    /// A subscription to `topic` for the socket `socket`; it ends when dropped.
    pub fn subscribe(self: &Arc<Self>, topic: Topic, socket: Arc<Closer>) -> Subscription {
        let (queue, changes) = mpsc::channel(self.buffer);
        let mut subscribers = self.subscribers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let id = subscribers.next_id;
        subscribers.next_id += 1;
        subscribers.by_topic.entry(topic).or_default().insert(id, Subscriber { queue, socket });
        self.open.inc();
        Subscription { hub: self.clone(), topic, id, changes }
    }

    /// Whether any subscriber of this gateway would get `change`.
    pub fn wants(&self, change: &Change) -> bool {
        let subscribers = self.subscribers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        Topic::of(change).iter().any(|topic| subscribers.by_topic.get(topic).is_some_and(|of| !of.is_empty()))
    }

    /// Offers `change` to every subscriber of its topics; returns how many got it. Never waits:
    /// a subscriber whose queue is full is dropped and its socket closed.
    pub fn publish(&self, change: &Arc<Change>) -> usize {
        let mut delivered = 0;
        let mut subscribers = self.subscribers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for topic in Topic::of(change) {
            let Some(of_topic) = subscribers.by_topic.get_mut(&topic) else { continue };
            of_topic.retain(|_, subscriber| match subscriber.queue.try_send(change.clone()) {
                Ok(()) => {
                    delivered += 1;
                    true
                }
                Err(mpsc::error::TrySendError::Full(_)) => {
                    subscriber.socket.close(
                        TOO_SLOW,
                        format!("too slow: {} changes waited unread; reconnect and read again", self.buffer),
                    );
                    false
                }
                // The subscription is ending; its drop removes it.
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            });
            if of_topic.is_empty() {
                subscribers.by_topic.remove(&topic);
            }
        }
        delivered
    }

    /// How many subscriptions are open.
    pub fn count(&self) -> usize {
        let subscribers = self.subscribers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        subscribers.by_topic.values().map(HashMap::len).sum()
    }

    fn remove(&self, topic: Topic, id: u64) {
        let mut subscribers = self.subscribers.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(of_topic) = subscribers.by_topic.get_mut(&topic) {
            of_topic.remove(&id);
            if of_topic.is_empty() {
                subscribers.by_topic.remove(&topic);
            }
        }
    }
}

/// The changes of one subscription, in the order this gateway heard them.
pub struct Subscription {
    hub: Arc<Hub>,
    topic: Topic,
    id: u64,
    changes: mpsc::Receiver<Arc<Change>>,
}

impl Stream for Subscription {
    type Item = Arc<Change>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.changes.poll_recv(cx)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.remove(self.topic, self.id);
        self.hub.open.dec();
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;
    use crate::live::ChangeKind;

    fn hub(buffer: usize) -> Arc<Hub> {
        Arc::new(Hub::new(buffer, IntGauge::new("subscriptions", "open").unwrap()))
    }

    fn order_change(user_id: Uuid) -> Arc<Change> {
        Arc::new(Change::new(ChangeKind::Updated, Record::Order, Uuid::now_v7(), user_id))
    }

    #[tokio::test]
    async fn a_change_reaches_its_owner_and_everyone_but_no_other_user() {
        let hub = hub(8);
        let (owner, other) = (Uuid::now_v7(), Uuid::now_v7());
        let mut of_owner = hub.subscribe(Topic::Orders(Some(owner)), Arc::new(Closer::default()));
        let mut of_all = hub.subscribe(Topic::Orders(None), Arc::new(Closer::default()));
        let mut of_other = hub.subscribe(Topic::Orders(Some(other)), Arc::new(Closer::default()));
        let mut of_users = hub.subscribe(Topic::Users(None), Arc::new(Closer::default()));
        let change = order_change(owner);
        assert_eq!(hub.publish(&change), 2);
        assert_eq!(of_owner.next().await.map(|c| c.id), Some(change.id));
        assert_eq!(of_all.next().await.map(|c| c.id), Some(change.id));
        assert!(of_other.changes.try_recv().is_err());
        assert!(of_users.changes.try_recv().is_err());
    }

    #[tokio::test]
    async fn a_subscriber_that_does_not_read_is_dropped_alone_and_its_socket_closed() {
        let hub = hub(2);
        let user = Uuid::now_v7();
        let (slow_socket, quick_socket) = (Arc::new(Closer::default()), Arc::new(Closer::default()));
        let slow = hub.subscribe(Topic::Orders(Some(user)), slow_socket.clone());
        let mut quick = hub.subscribe(Topic::Orders(Some(user)), quick_socket.clone());
        for _ in 0..3 {
            hub.publish(&order_change(user));
            assert!(quick.next().await.is_some());
        }
        assert_eq!(slow_socket.reason().map(|(code, _)| code), Some(TOO_SLOW));
        assert!(quick_socket.reason().is_none());
        assert_eq!(hub.count(), 1);
        drop(slow);
        assert_eq!(hub.publish(&order_change(user)), 1);
    }

    #[tokio::test]
    async fn a_dropped_subscription_leaves_the_hub() {
        let hub = hub(2);
        let subscription = hub.subscribe(Topic::Users(None), Arc::new(Closer::default()));
        assert_eq!(hub.count(), 1);
        drop(subscription);
        assert_eq!(hub.count(), 0);
    }
}
