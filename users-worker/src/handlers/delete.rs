//! `users.delete`: remove one user; the orders service removes their orders on `user.deleted`.

use entities::users;
use rpc::{Envelope, RpcResult, error::OrInternal, events, users::DeleteUser};
use sea_orm::{EntityTrait, TransactionTrait};

use super::{not_found, session::end_all};
use crate::Context;

/// Deletes the user `req.id`: `true`, or NOT_FOUND when there is none.
///
/// `user.deleted` is published in both cases. If a first delivery committed the delete and
/// died before publishing, its redelivery finds no row; publishing anyway still gets the
/// user's orders removed. Consumers of the event are idempotent, so a spare one costs nothing.
///
/// The user's sessions end in the same transaction: no token of theirs works afterwards.
pub async fn delete(req: DeleteUser, ctx: Context) -> RpcResult<bool> {
    if !ctx.caller.may_touch(req.id)? {
        return Err(not_found(req.id));
    }
    let transaction = ctx.db.begin().await.or_internal("starting a deletion")?;
    end_all(&transaction, req.id).await?;
    let deleted = users::Entity::delete_by_id(req.id).exec(&transaction).await.or_internal("deleting a user")?;
    transaction.commit().await.or_internal("committing a deletion")?;
    ctx.events.publish(Envelope::new(events::USER_DELETED, req.id, None)).await;
    if deleted.rows_affected == 0 {
        return Err(not_found(req.id));
    }
    Ok(true)
}
