//! The cache's keys: one place that knows what each field is stored under and which
//! generations a write bumps.
//!
//! - an entity (`user:<id>`, `order:<id>`) has a generation of its own;
//! - collections (`users`, `orders`) have one generation for all their list pages and look-ups;
//! - a user's orders (`orders-of:<user>`) have one for all pages of `User.orders`.

use rpc::{PageExtras, orders::UserOrdersKey};
use uuid::Uuid;

use super::store::CacheKey;

/// Builds keys under a prefix (`CACHE_KEY_PREFIX`), which carries the key format's version.
#[derive(Debug, Clone)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self { prefix: prefix.to_owned() }
    }

    fn generation(&self, scope: &str) -> String {
        format!("{}:gen:{scope}", self.prefix)
    }

    fn key(&self, scope: &str, value: String) -> CacheKey {
        CacheKey { generation: self.generation(scope), value: format!("{}:{value}", self.prefix) }
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
        let prefix = self.prefix.as_str();
        CacheKey { generation: [prefix, ":gen:", kind, ":", id].concat(), value: [prefix, ":", kind, ":", id].concat() }
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
}
