//! Events that services announce about their commits, on the durable topic exchange
//! [`EXCHANGE`]. A service writes each into its outbox in the transaction of the change, and
//! its relay publishes them from there (`entities::outbox`), so an event may come twice but is
//! never lost. Events are persistent; consumers must be idempotent.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The durable topic exchange every event goes through.
pub const EXCHANGE: &str = "events";

pub const USER_CREATED: &str = "user.created";
pub const USER_UPDATED: &str = "user.updated";
pub const USER_DELETED: &str = "user.deleted";
pub const ORDER_CREATED: &str = "order.created";
pub const ORDER_UPDATED: &str = "order.updated";
pub const ORDER_DELETED: &str = "order.deleted";
/// One session ended (`logout`): `id` is the session, `user_id` its user.
pub const SESSION_ENDED: &str = "session.ended";
/// Every session of user `id` ended (`changePassword`, `deleteUser`, `revoke-admin`).
pub const USER_SESSIONS_ENDED: &str = "user.sessions_ended";
/// Not an event of the exchange: what a subscriber hands its handler each time its queue is
/// (re)made, since events may have gone by unheard before. State kept from events is to be
/// dropped then.
pub const SUBSCRIBED: &str = "subscriber.subscribed";
/// Not an event of the exchange either: what a subscriber hands its handler once no event
/// waits in its queue any more (a durable queue's backlog is handled). Comes after every
/// [`SUBSCRIBED`].
pub const CAUGHT_UP: &str = "subscriber.caught_up";

/// The body of every event: the id of what changed and, for orders, whose it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<Uuid>,
    /// Where the event stands in its service's outbox: rising in commit order for one record,
    /// so a consumer can tell an event it already had (published twice) from a newer one. Set
    /// by the outbox relay; absent on events that went out without it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<i64>,
}

/// An event with its routing key, as a publisher hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub routing_key: String,
    pub event: Event,
}

impl Envelope {
    pub fn new(routing_key: &str, id: Uuid, user_id: Option<Uuid>) -> Self {
        Self { routing_key: routing_key.to_owned(), event: Event { id, user_id, sequence: None } }
    }
}

/// Receives one event; an error leaves the event to be delivered again (over RabbitMQ).
pub type EventHandler =
    std::sync::Arc<dyn Fn(Envelope) -> futures_util::future::BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// Publishes events, in order. `Ok` once the broker has taken every one of them (publisher
/// confirms); an error leaves them to be published again (the outbox keeps them till then).
#[async_trait::async_trait]
pub trait EventPublisher: Send + Sync + 'static {
    async fn publish(&self, envelopes: &[Envelope]) -> anyhow::Result<()>;
}

/// AMQP topic matching: `*` is one word, `#` zero or more.
pub fn topic_matches(pattern: &str, key: &str) -> bool {
    fn go(pattern: &[&str], key: &[&str]) -> bool {
        match (pattern.split_first(), key.split_first()) {
            (None, None) => true,
            (Some((&"#", rest)), _) => go(rest, key) || (!key.is_empty() && go(pattern, &key[1..])),
            (Some((&"*", rest)), Some((_, key_rest))) => go(rest, key_rest),
            (Some((word, rest)), Some((key_word, key_rest))) => word == key_word && go(rest, key_rest),
            _ => false,
        }
    }
    let pattern: Vec<&str> = pattern.split('.').collect();
    let key: Vec<&str> = key.split('.').collect();
    go(&pattern, &key)
}

#[cfg(test)]
mod tests {
    use super::topic_matches;

    #[test]
    fn topic_patterns_match_like_rabbitmq() {
        assert!(topic_matches("user.deleted", "user.deleted"));
        assert!(!topic_matches("user.deleted", "user.created"));
        assert!(topic_matches("user.*", "user.created"));
        assert!(!topic_matches("user.*", "order.created"));
        assert!(topic_matches("#", "order.created"));
        assert!(topic_matches("#.deleted", "order.deleted"));
        assert!(!topic_matches("*", "order.created"));
    }
}
