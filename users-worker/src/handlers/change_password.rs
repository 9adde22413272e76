//! `users.change_password`: replace a password when the current one is given.

use entities::users;
use rpc::{Envelope, ErrorCode, RpcError, RpcResult, error::OrInternal, events, users::ChangePassword};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, sea_query::Expr};

use super::{find, not_found};
use crate::{
    Context, password,
    validation::{Password, field},
};

/// Checks `current_password`, then stores the hash of `new_password` and answers `true`.
///
/// NOT_FOUND when the user does not exist; BAD_USER_INPUT on `newPassword` before any costly
/// hashing; UNAUTHENTICATED when `current_password` is wrong.
pub async fn change_password(req: ChangePassword, ctx: Context) -> RpcResult<bool> {
    let current = find(&ctx.db, req.id).await?.ok_or_else(|| not_found(req.id))?;
    let new_password = Password::parse(field::NEW_PASSWORD, req.new_password)?;

    let wrong_password = || RpcError::new(ErrorCode::Unauthenticated, "the current password is wrong");
    // No stored password is longer than the rules allow: spare argon2 the work.
    let too_long = req.current_password.chars().count() > Password::MAX_CHARS;
    if too_long || !verify(&req.current_password, &current.password_hash).await? {
        // A redelivered request whose first run committed finds its new password stored
        // already: the change it asks for is done, so it gets the answer it would have got.
        if verify(new_password.expose(), &current.password_hash).await? {
            return Ok(true);
        }
        return Err(wrong_password());
    }

    let new_hash = password::hash(new_password).await.or_internal("hashing a password")?;
    // Compare-and-set on the hash just verified: of two concurrent changes from the same
    // current password, one wins and the other learns its current password is no longer so.
    let updated = users::Entity::update_many()
        .col_expr(users::Column::PasswordHash, Expr::value(new_hash))
        .col_expr(users::Column::UpdatedAt, Expr::value(entities::now()))
        .filter(users::Column::Id.eq(req.id))
        .filter(users::Column::PasswordHash.eq(current.password_hash))
        .exec(&ctx.db)
        .await
        .or_internal("storing a password hash")?;
    if updated.rows_affected == 0 {
        return Err(match find(&ctx.db, req.id).await? {
            None => not_found(req.id),
            Some(_) => wrong_password(),
        });
    }
    ctx.events.publish(Envelope::new(events::USER_UPDATED, req.id, None)).await;
    Ok(true)
}

async fn verify(candidate: &str, hash: &str) -> RpcResult<bool> {
    password::verify(candidate.to_owned(), hash.to_owned()).await.or_internal("verifying a password")
}
