//! `users.login`: check a password, open a session.

use entities::{sessions, users};
use rpc::{
    ErrorCode, RpcError, RpcResult,
    error::OrInternal,
    users::{Login, Session, SignedIn},
};
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

use super::to_user;
use crate::{Context, password, throttle};

/// The longest session a login may ask for: a day longer than any sane TOKEN_TTL_SECONDS.
const MAX_TTL_SECONDS: u64 = 31 * 24 * 3600;

/// Signs in with a nickName (ignoring case) or an email. Every attempt does the same work
/// whether the login is someone's or not (one look-up, the counts, one argon2 verify, against
/// a dummy hash for nobody), so neither the answer nor its time tells them apart.
pub async fn login(req: Login, ctx: Context) -> RpcResult<SignedIn> {
    let login = req.login.trim().to_lowercase();
    // One statement for both kinds of login: an email is stored lower case, a nickName's key is.
    let row = users::Entity::find()
        .filter(Condition::any().add(users::Column::NickNameKey.eq(&login)).add(users::Column::Email.eq(&login)))
        .one(&ctx.db)
        .await
        .or_internal("reading a user to sign in")?;
    let account = row.as_ref().map_or_else(|| throttle::login_key(&login), |row| throttle::account_key(row.id));
    let attempt = throttle::attempt(&ctx.db, &ctx.limits, account, &req.client).await?;
    let hash = match &row {
        Some(row) => row.password_hash.clone(),
        None => password::dummy_hash().await.or_internal("making the dummy hash")?,
    };
    let matches = password::verify(req.password, hash).await.or_internal("verifying a password")?;
    let Some(row) = row.filter(|_| matches) else {
        return Err(RpcError::new(ErrorCode::Unauthenticated, "invalid login or password"));
    };
    attempt.succeeded(&ctx.db).await?;

    let now = entities::now();
    let ttl = i64::try_from(req.ttl_seconds.clamp(1, MAX_TTL_SECONDS)).unwrap_or(3600);
    let session = sessions::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(row.id),
        created_at: Set(now),
        expires_at: Set(now + chrono::Duration::seconds(ttl)),
    }
    .insert(&ctx.db)
    .await
    .or_internal("opening a session")?;
    let session = Session { id: session.id, user_id: row.id, admin: row.admin, expires_at: session.expires_at };
    Ok(SignedIn { session, user: to_user(row) })
}
