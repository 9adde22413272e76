//! `users.change_password`: replace a password when the current one is given.

use entities::{users, write::Write};
use rpc::{Envelope, ErrorCode, RpcError, RpcResult, error::OrInternal, events, users::ChangePassword};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};

use super::{find, not_found, session::end_all};
use crate::{
    Context, password, throttle,
    validation::{Password, field},
};

/// Checks `current_password`, then stores the hash of `new_password`, ends every session of
/// the user, and answers `true`.
///
/// NOT_FOUND when the user does not exist or is someone else (for a non-admin);
/// BAD_USER_INPUT on `newPassword` before any costly hashing; UNAUTHENTICATED when
/// `current_password` is wrong; TOO_MANY_REQUESTS past the limits on failed attempts, which
/// count here as they do in `login`.
///
/// A redelivered request whose first run committed is recognised by its `request_id`, stored
/// with the hash: it answers `true` again and changes nothing. `new_password` is never tried
/// as a password.
pub async fn change_password(req: ChangePassword, ctx: Context) -> RpcResult<bool> {
    if !ctx.caller.may_touch(req.id)? {
        return Err(not_found(req.id));
    }
    // A client's retry with the same Idempotency-Key answers as the first time.
    if let Some(answer) = entities::inbox::replay::<ChangePassword>(&ctx.db, &ctx.request).await? {
        return Ok(answer);
    }
    let current = find(&ctx.db, req.id).await?.ok_or_else(|| not_found(req.id))?;
    if current.password_request_id == Some(req.request_id) {
        return Ok(true);
    }
    let new_password = Password::parse(field::NEW_PASSWORD, req.new_password)?;

    let attempt = throttle::attempt(&ctx.db, &ctx.limits, throttle::account_key(req.id), &req.client).await?;
    let wrong_password = || RpcError::new(ErrorCode::Unauthenticated, "the current password is wrong");
    let matches = password::verify(req.current_password, current.password_hash.clone())
        .await
        .or_internal("verifying a password")?;
    if !matches {
        return Err(wrong_password());
    }
    attempt.succeeded(&ctx.db).await?;

    let new_hash = password::hash(new_password).await.or_internal("hashing a password")?;
    let mut write = Write::begin::<ChangePassword>(&ctx.db, &ctx.outbox, &ctx.request).await?;
    // Compare-and-set on the hash just verified: of two concurrent changes from the same
    // current password, one wins and the other learns its current password is no longer so.
    let updated = users::Entity::update_many()
        .col_expr(users::Column::PasswordHash, Expr::value(new_hash))
        .col_expr(users::Column::PasswordRequestId, Expr::value(req.request_id))
        .col_expr(users::Column::UpdatedAt, Expr::value(entities::now()))
        .filter(users::Column::Id.eq(req.id))
        .filter(users::Column::PasswordHash.eq(current.password_hash))
        .exec(&*write)
        .await
        .or_internal("storing a password hash")?;
    if updated.rows_affected == 0 {
        drop(write);
        return Err(match find(&ctx.db, req.id).await? {
            None => not_found(req.id),
            Some(_) => wrong_password(),
        });
    }
    end_all(&*write, req.id).await?;
    write.announce(Envelope::new(events::USER_SESSIONS_ENDED, req.id, None));
    write.announce(Envelope::new(events::USER_UPDATED, req.id, None));
    write.commit(true).await
}
