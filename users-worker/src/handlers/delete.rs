//! `users.delete`: remove one user; the orders service removes their orders on `user.deleted`.

use entities::{inbox, users, write::Write};
use rpc::{Envelope, RpcResult, error::OrInternal, events, users::DeleteUser};
use sea_orm::EntityTrait;

use super::{not_found, session::end_all};
use crate::Context;

/// Deletes the user `req.id`: `true`, or NOT_FOUND when there is none.
///
/// `user.deleted` goes into the outbox in the same transaction, so the user's orders go too
/// however the process or the broker fail after the commit; a redelivered request answers
/// `true` again from the inbox.
///
/// The user's sessions end in the same transaction: no token of theirs works afterwards.
pub async fn delete(req: DeleteUser, ctx: Context) -> RpcResult<bool> {
    if !ctx.caller.may_touch(req.id)? {
        return Err(not_found(req.id));
    }
    if let Some(answer) = inbox::replay::<DeleteUser>(&ctx.db, &ctx.request).await? {
        return Ok(answer);
    }
    let mut write = Write::begin::<DeleteUser>(&ctx.db, &ctx.outbox, &ctx.request).await?;
    end_all(&*write, req.id).await?;
    let deleted = users::Entity::delete_by_id(req.id).exec(&*write).await.or_internal("deleting a user")?;
    if deleted.rows_affected == 0 {
        return Err(not_found(req.id));
    }
    write.announce(Envelope::new(events::USER_DELETED, req.id, None));
    write.commit(true).await
}
