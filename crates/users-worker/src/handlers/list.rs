//! `users.list`: one page of users, oldest first, with a keyset cursor.

use entities::users;
use rpc::{
    Page, RpcError, RpcResult,
    users::{ListUsers, User},
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{internal, to_user};
use crate::Context;

/// The largest page (`first` is 0..=100 in the contract).
pub const MAX_FIRST: u32 = 100;

/// The `first` users whose id comes after `after` (ids are UUIDv7, so by creation time).
/// Keyset paging stays correct and cheap however deep the page, unlike OFFSET.
pub async fn list(req: ListUsers, ctx: Context) -> RpcResult<Page<User>> {
    // The gateway checks this too; the service does not trust its callers with its limits.
    if req.first > MAX_FIRST {
        return Err(RpcError::invalid("first", format!("first must be between 0 and {MAX_FIRST}")));
    }
    let db = &ctx.db;
    let mut query = users::Entity::find().order_by_asc(users::Column::Id);
    if let Some(after) = req.after {
        query = query.filter(users::Column::Id.gt(after));
    }
    // One row more than asked tells whether a next page exists.
    let mut rows =
        query.limit(u64::from(req.first) + 1).all(db).await.map_err(|error| internal("cannot list users", error))?;
    let first = usize::try_from(req.first).map_err(|error| internal("a page size does not fit usize", error))?;
    let has_next = rows.len() > first;
    rows.truncate(first);

    let has_previous = match req.after {
        Some(after) => users::Entity::find()
            .filter(users::Column::Id.lte(after))
            .one(db)
            .await
            .map_err(|error| internal("cannot look behind a cursor", error))?
            .is_some(),
        None => false,
    };
    let total_count = users::Entity::find().count(db).await.map_err(|error| internal("cannot count users", error))?;
    Ok(Page { items: rows.into_iter().map(to_user).collect(), has_previous, has_next, total_count })
}
