//! The cache's keys: one place that knows what each field is stored under and which
//! generations a write bumps.
//!
//! - an entity (`user:<id>`, `order:<id>`) has a generation of its own;
//! - collections (`users`, `orders`) have one generation for all their list pages and look-ups;
//! - a user's orders (`orders-of:<user>`) have one for all pages of `User.orders`.
//!
//! A value is stored under the view it was read in: the services answer each caller what that
//! caller may see, so a value read for one user is never served to another. The view is the
//! user's id for a user and `admin` for an admin (admins see the same). Generations are not
//! per view: a write makes every view of what it changed stale at once.

use rpc::{Caller, PageExtras, orders::UserOrdersKey};
use uuid::Uuid;

use super::store::CacheKey;

/// Builds keys under a prefix (`CACHE_KEY_PREFIX`), which carries the key format's version,
/// for one view (see the module's documentation).
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
    view: String,
}

impl Keys {
    /// Keys of the whole view, an admin's.
    pub fn new(prefix: &str) -> Self {
        Self { prefix: prefix.to_owned(), view: ADMIN_VIEW.to_owned() }
    }

    /// The keys of what `caller` may see.
    pub fn for_caller(&self, caller: Caller) -> Self {
        let view = match caller {
            Caller::Admin(_) | Caller::Service => ADMIN_VIEW.to_owned(),
            Caller::User(id) => id.simple().to_string(),
            Caller::Anonymous => "anonymous".to_owned(),
        };
        Self { prefix: self.prefix.clone(), view }
    }

    /// `CACHE_KEY_PREFIX`, which every key starts with.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn generation(&self, scope: &str) -> String {
        format!("{}:gen:{scope}", self.prefix)
    }

    /// A value's key under `scope`. `value` (the field and its arguments) is kept as is up to
    /// [`MAX_VALUE_KEY`] bytes and replaced by its hash beyond, so no argument makes a key, in
    /// Redis or in memory, longer than that: see [`bounded`].
    fn key(&self, scope: &str, value: String) -> CacheKey {
        CacheKey {
            generation: self.generation(scope),
            value: format!("{}:{}:{}", self.prefix, self.view, bounded(value)),
        }
    }

    pub fn user(&self, id: Uuid) -> CacheKey {
        self.entity("user", id)
    }

    pub fn order(&self, id: Uuid) -> CacheKey {
        self.entity("order", id)
    }

    /// `<prefix>:<kind>:<id>` under its own generation `<prefix>:gen:<kind>:<id>`: what
    /// [`Self::key`] gives for `key("<kind>:<id>", "<kind>:<id>")`, built without `format!`,
    /// as a DataLoader batch builds one per id.
    fn entity(&self, kind: &str, id: Uuid) -> CacheKey {
        let mut buffer = Uuid::encode_buffer();
        let id = id.hyphenated().encode_lower(&mut buffer);
        let (prefix, view) = (self.prefix.as_str(), self.view.as_str());
        CacheKey {
            generation: [prefix, ":gen:", kind, ":", id].concat(),
            value: [prefix, ":", view, ":", kind, ":", id].concat(),
        }
    }

    pub fn user_by_nick_name(&self, nick_name: &str) -> CacheKey {
        self.key("users", format!("user-by-nick:{}", nick_name.to_lowercase()))
    }

    pub fn users_page(&self, first: u32, after: Option<Uuid>, extras: PageExtras) -> CacheKey {
        self.key("users", format!("users:{first}:{}:{}", cursor(after), tag(extras)))
    }

    pub fn orders_page(&self, first: u32, after: Option<Uuid>, user_id: Option<Uuid>, extras: PageExtras) -> CacheKey {
        let user = user_id.map(|id| id.to_string()).unwrap_or_default();
        self.key("orders", format!("orders:{first}:{}:{user}:{}", cursor(after), tag(extras)))
    }

    pub fn user_orders(&self, key: &UserOrdersKey) -> CacheKey {
        let scope = format!("orders-of:{}", key.user_id);
        self.key(&scope, format!("{scope}:{}:{}:{}", key.first, cursor(key.after), tag(key.extras)))
    }

    /// The generations of the collections, which every write to one of their records bumps too:
    /// `users` covers each `user:<id>`; `orders` each `order:<id>` and `orders-of:<user>` (see
    /// [`Self::user_written`], [`Self::order_written`]). A whole answer that read many records
    /// of one is checked against its collection instead (`super::answers`).
    pub fn collections(&self) -> Vec<String> {
        vec![self.generation("users"), self.generation("orders")]
    }

    /// The collection generation that covers `generation` (see [`Self::collections`]), if one
    /// does: its index in [`Self::collections`].
    pub fn covering(&self, generation: &str) -> Option<usize> {
        let scope = generation.strip_prefix(&self.prefix)?.strip_prefix(":gen:")?;
        if scope.starts_with("user:") {
            Some(0)
        } else if scope.starts_with("order:") || scope.starts_with("orders-of:") {
            Some(1)
        } else {
            None
        }
    }

    /// What the write an event of the services tells of makes stale (nothing, for an event
    /// of no user or order, or an order's without its user).
    pub fn written_by(&self, envelope: &rpc::Envelope) -> Vec<String> {
        let event = &envelope.event;
        match envelope.routing_key.split('.').next() {
            Some("user") => self.user_written(event.id),
            Some("order") => {
                event.user_id.map(|user_id| self.order_written(event.id, Some(user_id))).unwrap_or_default()
            }
            _ => Vec::new(),
        }
    }

    /// What a write to user `id` makes stale.
    pub fn user_written(&self, id: Uuid) -> Vec<String> {
        vec![self.generation(&format!("user:{id}")), self.generation("users")]
    }

    /// What a write to order `id` of user `user_id` makes stale. Without a user (the order
    /// does not exist) there is nothing of a user's to invalidate.
    pub fn order_written(&self, id: Uuid, user_id: Option<Uuid>) -> Vec<String> {
        let mut stale = vec![self.generation(&format!("order:{id}")), self.generation("orders")];
        stale.extend(user_id.map(|user_id| self.generation(&format!("orders-of:{user_id}"))));
        stale
    }
}

/// The view of admins (and of the deployment's own calls): everything.
const ADMIN_VIEW: &str = "admin";

/// The longest field-and-arguments part of a key kept as written. Every key of today's fields
/// stays under it (a page of a user's orders, the longest, is about 90 bytes; a nickName that
/// can match the rule, 32 bytes, is looked up under at most 57), so hashing is a bound, not a
/// path any valid read takes.
pub const MAX_VALUE_KEY: usize = 128;

/// `value`, or `#` and the 128-bit XXH3 of it in hex (33 bytes) when it is longer than
/// [`MAX_VALUE_KEY`]. XXH3 is fast (GB/s) and its output is fixed by its specification, so
/// every gateway sharing a Redis computes the same key. It is not a cryptographic hash: 128
/// bits make an accidental collision out of reach, and the values long enough to be hashed
/// are never ones that can match a rule (see `userByNickName`), so nobody gains anything by
/// crafting one. `#` appears in no key written as is.
fn bounded(value: String) -> String {
    if value.len() <= MAX_VALUE_KEY {
        return value;
    }
    format!("#{:032x}", xxhash_rust::xxh3::xxh3_128(value.as_bytes()))
}

/// Which extras a cached page holds: a page without its count cannot answer `totalCount`.
fn tag(extras: PageExtras) -> &'static str {
    match (extras.total_count, extras.has_previous) {
        (false, false) => "-",
        (true, false) => "c",
        (false, true) => "p",
        (true, true) => "cp",
    }
}

fn cursor(after: Option<Uuid>) -> String {
    after.map(|id| id.simple().to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_to_an_entity_bumps_the_generation_it_is_read_under() {
        let keys = Keys::new("gqlmq:v1");
        let id = Uuid::now_v7();
        let user = keys.user(id);
        assert_eq!(user, keys.key(&format!("user:{id}"), format!("user:{id}")));
        assert!(keys.user_written(id).contains(&user.generation));
        let order = keys.order(id);
        assert_eq!(order, keys.key(&format!("order:{id}"), format!("order:{id}")));
        assert!(keys.order_written(id, None).contains(&order.generation));
        assert_ne!((user.generation, user.value), (order.generation, order.value));
    }

    #[test]
    fn every_write_bumps_the_collection_that_covers_what_it_bumps() {
        let keys = Keys::new("gqlmq:v1");
        let collections = keys.collections();
        let (id, user) = (Uuid::now_v7(), Uuid::now_v7());
        for written in [keys.user_written(id), keys.order_written(id, Some(user)), keys.order_written(id, None)] {
            for generation in &written {
                if let Some(index) = keys.covering(generation) {
                    assert!(
                        written.contains(&collections[index]),
                        "{generation} bumped without {}",
                        collections[index]
                    );
                }
            }
        }
        assert_eq!(keys.covering(&keys.user(id).generation), Some(0));
        assert_eq!(keys.covering(&keys.order(id).generation), Some(1));
        assert_eq!(keys.covering(&collections[0]), None, "a collection covers itself");
        assert_eq!(keys.covering("other:gen:user:1"), None);
    }

    #[test]
    fn keys_are_bounded_whatever_their_arguments() {
        let keys = Keys::new("gqlmq:v1");
        let short = keys.user_by_nick_name("Ana.Maria_99");
        assert_eq!(short.value, "gqlmq:v1:admin:user-by-nick:ana.maria_99");
        let longest_valid = keys.user_by_nick_name(&"x".repeat(32));
        assert!(!longest_valid.value.contains('#'), "a nickName that can be valid is kept as written");
        let huge = "n".repeat(1 << 20);
        let hashed = keys.user_by_nick_name(&huge);
        assert!(hashed.value.len() <= "gqlmq:v1:admin:".len() + MAX_VALUE_KEY, "{}", hashed.value.len());
        assert_eq!(hashed, keys.user_by_nick_name(&huge), "the same arguments, the same key");
        assert_ne!(hashed, keys.user_by_nick_name(&format!("{huge}m")));
        let id = Uuid::now_v7();
        let page = keys.user_orders(&UserOrdersKey {
            user_id: id,
            first: 100,
            after: Some(id),
            extras: PageExtras { total_count: true, has_previous: true },
        });
        assert!(!page.value.contains('#') && page.value.len() < 128, "{}", page.value);
    }

    #[test]
    fn each_caller_reads_in_a_view_of_its_own_under_the_same_generations() {
        let keys = Keys::new("gqlmq:v1");
        let (alice, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let of = |caller| keys.for_caller(caller).user(alice);
        let (as_alice, as_bob, as_admin) = (of(Caller::User(alice)), of(Caller::User(bob)), of(Caller::Admin(bob)));
        assert_ne!(as_alice.value, as_bob.value);
        assert_ne!(as_alice.value, as_admin.value);
        assert_eq!(as_admin, of(Caller::Admin(alice)), "admins share one view");
        assert_eq!(as_admin, keys.user(alice));
        assert_eq!(as_alice.generation, as_bob.generation, "one write makes every view stale");
        assert!(keys.user_written(alice).contains(&as_alice.generation));
    }
}
