//! `users.list`: one page of users, oldest first, with a keyset cursor.

use entities::users;
use rpc::{
    Page, RpcError, RpcResult, bounds,
    error::OrInternal,
    users::{ListUsers, User},
};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, SelectExt,
};

use super::to_user;
use crate::Context;

/// The `first` users whose id comes after `after` (ids are UUIDv7, so by creation time).
/// Keyset paging stays correct and cheap however deep the page, unlike OFFSET.
pub async fn list(req: ListUsers, ctx: Context) -> RpcResult<Page<User>> {
    if !ctx.caller.signed_in()?.is_privileged() {
        return Err(RpcError::forbidden("only admins may list users"));
    }
    bounds::page_size(req.first)?;
    let req = ListUsers { extras: req.extras.for_page(req.after), ..req };
    // With extras, one snapshot keeps the items, `has_previous` and `total_count` in agreement.
    entities::db::read(&ctx.db, req.extras.any(), async |db| read_page(db, &req).await)
        .await
        .or_internal("listing users")
}

async fn read_page(db: &impl ConnectionTrait, req: &ListUsers) -> Result<Page<User>, DbErr> {
    let mut query = users::Entity::find().order_by_asc(users::Column::Id);
    if let Some(after) = req.after {
        query = query.filter(users::Column::Id.gt(after));
    }
    // One row more than asked tells whether a next page exists.
    let mut rows = query.limit(u64::from(req.first) + 1).into_partial_model::<users::Profile>().all(db).await?;
    let has_next = rows.len() > req.first as usize;
    rows.truncate(req.first as usize);

    let has_previous = match req.after.filter(|_| req.extras.has_previous) {
        Some(after) => users::Entity::find().filter(users::Column::Id.lte(after)).exists(db).await?,
        None => false,
    };
    let total_count = match req.extras.total_count {
        true => Some(users::Entity::find().count(db).await?),
        false => None,
    };
    Ok(Page { items: rows.into_iter().map(to_user).collect(), has_previous, has_next, total_count })
}
