//! `users.delete`: remove one user; the orders service removes their orders on `user.deleted`.

use entities::users;
use rpc::{Envelope, RpcResult, error::OrInternal, events, users::DeleteUser};
use sea_orm::EntityTrait;

use super::not_found;
use crate::Context;

/// Deletes the user `req.id`: `true`, or NOT_FOUND when there is none.
///
/// `user.deleted` is published in both cases. If a first delivery committed the delete and
/// died before publishing, its redelivery finds no row; publishing anyway still gets the
/// user's orders removed. Consumers of the event are idempotent, so a spare one costs nothing.
pub async fn delete(req: DeleteUser, ctx: Context) -> RpcResult<bool> {
    let deleted = users::Entity::delete_by_id(req.id).exec(&ctx.db).await.or_internal("deleting a user")?;
    ctx.events.publish(Envelope::new(events::USER_DELETED, req.id, None)).await;
    if deleted.rows_affected == 0 {
        return Err(not_found(req.id));
    }
    Ok(true)
}
