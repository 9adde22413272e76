//! `users.session` and `users.end_session`: what a token stands for, and logout.

use entities::{sessions, users, write::Write};
use rpc::{
    Caller, Envelope, RpcError, RpcResult,
    error::OrInternal,
    events,
    users::{EndSession, GetSession, Session},
};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use crate::Context;

/// The session while it lasts, with whether its user is an admin now. The deployment's own
/// processes only: a gateway asks it the first time it sees a session.
pub async fn session(req: GetSession, ctx: Context) -> RpcResult<Option<Session>> {
    if ctx.caller != Caller::Service {
        return Err(RpcError::forbidden("sessions are the gateway's to look up"));
    }
    let Some(row) = sessions::Entity::find_by_id(req.id)
        .filter(sessions::Column::ExpiresAt.gt(entities::now()))
        .one(&ctx.db)
        .await
        .or_internal("reading a session")?
    else {
        return Ok(None);
    };
    let user = users::Entity::find_by_id(row.user_id).one(&ctx.db).await.or_internal("reading a session's user")?;
    Ok(user.map(|user| Session { id: row.id, user_id: row.user_id, admin: user.admin, expires_at: row.expires_at }))
}

/// Ends a session: its user's or an admin's to end (NOT_FOUND for anyone else's). Ending one
/// that is gone already answers `true`: a redelivered logout did its work the first time.
pub async fn end_session(req: EndSession, ctx: Context) -> RpcResult<bool> {
    let caller = ctx.caller.signed_in()?;
    let row = sessions::Entity::find_by_id(req.id).one(&ctx.db).await.or_internal("reading a session")?;
    let Some(row) = row else { return Ok(true) };
    if !caller.may_touch(row.user_id)? {
        return Err(RpcError::not_found("no such session"));
    }
    let mut write = Write::begin::<EndSession>(&ctx.db, &ctx.outbox, &ctx.request).await?;
    sessions::Entity::delete_by_id(row.id).exec(&*write).await.or_internal("ending a session")?;
    write.announce(Envelope::new(events::SESSION_ENDED, row.id, Some(row.user_id)));
    write.commit(true).await
}

/// Ends every session of `user_id` (a password change, a deletion), inside `db`'s
/// transaction when it is one.
pub(crate) async fn end_all(db: &impl sea_orm::ConnectionTrait, user_id: uuid::Uuid) -> RpcResult<()> {
    sessions::Entity::delete_many()
        .filter(sessions::Column::UserId.eq(user_id))
        .exec(db)
        .await
        .or_internal("ending a user's sessions")?;
    Ok(())
}
