//! `users.by_nick_name`: one user by nickName, ignoring case.

use entities::users;
use rpc::{
    RpcResult,
    users::{GetUserByNickName, User},
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use rpc::error::OrInternal;

use super::to_user;
use crate::{Context, validation::NickName};

/// The user whose nickName equals `req.nick_name` ignoring case, or `None`.
pub async fn by_nick_name(req: GetUserByNickName, ctx: Context) -> RpcResult<Option<User>> {
    let caller = ctx.caller.signed_in()?;
    // A nickName that breaks the rules cannot belong to anyone: no need to ask the database.
    let Ok(nick_name) = NickName::parse(&req.nick_name) else { return Ok(None) };
    let row = users::Entity::find()
        .filter(users::Column::NickNameKey.eq(nick_name.key()))
        .into_partial_model::<users::Profile>()
        .one(&ctx.db)
        .await
        .or_internal("reading a user by nickName")?;
    // Someone else reads as nobody.
    Ok(row.filter(|row| caller.may_touch(row.id).unwrap_or(false)).map(to_user))
}
