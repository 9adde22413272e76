//! The orders service's methods (queue `orders.rpc`).
//!
//! Money travels as strings: requests carry the client's text (`"19.9"`), responses the
//! canonical two-place form (`"19.90"`). See [`crate::money`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Page, PageExtras, method};

/// An order as the service shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: Uuid,
    pub user_id: Uuid,
    pub item_description: String,
    pub item_quantity: i32,
    /// Two places, e.g. `"19.90"`.
    pub item_price: String,
    /// `item_quantity × item_price`, exact, two places.
    pub total_value: String,
    #[serde(with = "crate::time::serde_rfc3339")]
    pub created_at: DateTime<Utc>,
    #[serde(with = "crate::time::serde_rfc3339")]
    pub updated_at: DateTime<Utc>,
}

/// Creates an order. The caller picks `id` (a UUIDv7) so a redelivery is harmless.
/// The service checks that the user exists (BAD_USER_INPUT on `userId` otherwise).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateOrder {
    pub id: Uuid,
    pub user_id: Uuid,
    pub item_description: String,
    pub item_quantity: i64,
    /// The client's text, validated by the service.
    pub item_price: String,
}
method!(CreateOrder, Orders, "orders.create", Order);

/// Looks orders up by id; absent ids are missing from the answer (any order).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GetOrders {
    pub ids: Vec<Uuid>,
}
method!(GetOrders, Orders, "orders.get", Vec<Order>);

/// One page of orders, oldest first, optionally of one user.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListOrders {
    /// 0..=100, checked by the caller.
    pub first: u32,
    pub after: Option<Uuid>,
    pub user_id: Option<Uuid>,
    #[serde(default)]
    pub extras: PageExtras,
}
method!(ListOrders, Orders, "orders.list", Page<Order>);

/// Which page of whose orders: one key of [`OrdersOfUsers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UserOrdersKey {
    pub user_id: Uuid,
    pub first: u32,
    pub after: Option<Uuid>,
    #[serde(default)]
    pub extras: PageExtras,
}

/// The orders of many users in one call (the `User.orders` DataLoader). The answer has one
/// page per key, in the order of `keys`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrdersOfUsers {
    pub keys: Vec<UserOrdersKey>,
}
method!(OrdersOfUsers, Orders, "orders.of_users", Vec<Page<Order>>);

/// Changes the given fields and recomputes the total.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UpdateOrder {
    pub id: Uuid,
    pub item_description: Option<String>,
    pub item_quantity: Option<i64>,
    pub item_price: Option<String>,
}
method!(UpdateOrder, Orders, "orders.update", Order);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeleteOrder {
    pub id: Uuid,
}
method!(DeleteOrder, Orders, "orders.delete", Deleted);

/// What `orders.delete` answers: whose order it was, so the caller invalidates that user's
/// orders without reading the order first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Deleted {
    #[serde(rename_all = "camelCase")]
    Of { user_id: Uuid },
    /// `true`: what a worker answered before the owner was part of the answer, and what the
    /// inbox may still hold from then (read, never written any more).
    Done(bool),
}

impl Deleted {
    /// The owner of the deleted order, when the answer names them.
    pub fn owner(self) -> Option<Uuid> {
        match self {
            Self::Of { user_id } => Some(user_id),
            Self::Done(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deletion_reads_back_with_its_owner_and_as_the_older_answer() {
        let user_id = Uuid::now_v7();
        let json = serde_json::to_string(&Deleted::Of { user_id }).unwrap();
        assert_eq!(json, format!("{{\"userId\":\"{user_id}\"}}"));
        assert_eq!(serde_json::from_str::<Deleted>(&json).unwrap().owner(), Some(user_id));
        assert_eq!(serde_json::from_str::<Deleted>("true").unwrap(), Deleted::Done(true));
    }
}
