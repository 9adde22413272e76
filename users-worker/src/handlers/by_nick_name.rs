//! `users.by_nick_name`: one user by nickName, ignoring case.

use entities::users;
use rpc::{
    RpcResult,
    users::{GetUserByNickName, User},
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::{internal, to_user};
use crate::{Context, validation};

/// The user whose nickName equals `req.nick_name` ignoring case, or `None`.
pub async fn by_nick_name(req: GetUserByNickName, ctx: Context) -> RpcResult<Option<User>> {
    // A nickName that breaks the rules cannot belong to anyone: no need to ask the database.
    let Ok(nick_name) = validation::nick_name(&req.nick_name) else { return Ok(None) };
    let row = users::Entity::find()
        .filter(users::Column::NickNameKey.eq(users::nick_name_key(&nick_name)))
        .into_partial_model::<users::Profile>()
        .one(&ctx.db)
        .await
        .map_err(|error| internal("cannot read a user by nickName", error))?;
    Ok(row.map(to_user))
}
