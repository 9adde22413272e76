//! `users.get`: the users behind a batch of ids (the gateway's DataLoader).

use std::collections::BTreeSet;

use entities::users;
use rpc::{
    RpcResult, bounds,
    error::OrInternal,
    users::{GetUsers, User},
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::to_user;
use crate::Context;

/// The users among `req.ids` that exist, each once, ordered by id. Absent ids are left out;
/// repeated ones count once towards [`bounds::MAX_IDS`].
pub async fn get(req: GetUsers, ctx: Context) -> RpcResult<Vec<User>> {
    let caller = ctx.caller.signed_in()?;
    let mut ids: BTreeSet<_> = req.ids.into_iter().collect();
    bounds::batch_size("ids", ids.len())?;
    // Someone else's id is left out, as an absent one is.
    ids.retain(|&id| caller.may_touch(id).unwrap_or(false));
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = users::Entity::find()
        .filter(users::Column::Id.is_in(ids))
        .order_by_asc(users::Column::Id)
        .into_partial_model::<users::Profile>()
        .all(&ctx.db)
        .await
        .or_internal("reading users")?;
    Ok(rows.into_iter().map(to_user).collect())
}
