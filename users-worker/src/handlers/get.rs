//! `users.get`: the users behind a batch of ids (the gateway's DataLoader).

use std::collections::BTreeSet;

use entities::users;
use rpc::{
    RpcError, RpcResult,
    users::{GetUsers, User},
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::{internal, to_user};
use crate::Context;

/// The most distinct ids one call may ask for: a batch is at most a few pages, and this
/// keeps the `IN (...)` list far below every database's parameter limit.
pub const MAX_IDS: usize = 1000;

/// The users among `req.ids` that exist, each once, ordered by id. Absent ids are left out.
pub async fn get(req: GetUsers, ctx: Context) -> RpcResult<Vec<User>> {
    let ids: BTreeSet<_> = req.ids.into_iter().collect();
    if ids.len() > MAX_IDS {
        return Err(RpcError::invalid("ids", format!("at most {MAX_IDS} distinct ids at once")));
    }
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = users::Entity::find()
        .filter(users::Column::Id.is_in(ids))
        .order_by_asc(users::Column::Id)
        .into_partial_model::<users::Profile>()
        .all(&ctx.db)
        .await
        .map_err(|error| internal("cannot read users", error))?;
    Ok(rows.into_iter().map(to_user).collect())
}
