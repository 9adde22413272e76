//! Signing in and out (`API.md`, "Identity and access"): `login`, `logout`, `viewer`.

use async_graphql::{Context, Object, Result, SimpleObject};
use rpc::{ErrorCode, RpcError, users as wire};

use super::{
    Gateway,
    error::{RpcResultExt, gql_error},
    scalars::{DateTime, Nullable},
    users::User,
};

/// A new token, for `Authorization: Bearer <token>`, and who it signs in.
#[derive(SimpleObject)]
pub struct AuthPayload {
    pub token: String,
    pub expires_at: DateTime,
    pub user: User,
}

#[derive(Default)]
pub struct AuthQuery;

#[Object]
impl AuthQuery {
    /// Who the token sent signs in; null without one.
    async fn viewer(&self, ctx: &Context<'_>) -> Nullable<User> {
        Nullable::of(async {
            let Some(id) = Gateway::requester(ctx)?.caller()?.user_id() else { return Ok(None) };
            let user = Gateway::loaders(ctx)?.users.load_one(id).await.gql()?;
            Ok(user.map(User::from))
        })
        .await
    }
}

#[derive(Default)]
pub struct AuthMutation;

#[Object]
impl AuthMutation {
    /// Signs in with a nickName (ignoring case) or an email and the password. An unknown login
    /// and a wrong password answer alike: UNAUTHENTICATED, "invalid login or password". Failed
    /// attempts are limited per account and per client address (TOO_MANY_REQUESTS).
    async fn login(&self, ctx: &Context<'_>, login: String, password: String) -> Result<AuthPayload> {
        let (requester, auth) = (Gateway::requester(ctx)?, Gateway::auth(ctx)?);
        let request = wire::Login {
            login,
            password,
            ttl_seconds: auth.tokens().ttl().as_secs(),
            client: requester.auth.client.clone(),
        };
        // Anyone may sign in, also with a token that expired.
        let signed_in = Gateway::public_rpc(ctx)?.call(&request).await.gql()?;
        let token = auth.tokens().issue(&signed_in.session).gql()?;
        Ok(AuthPayload { token, expires_at: DateTime(signed_in.session.expires_at), user: signed_in.user.into() })
    }

    /// Ends the session of the token it is sent with: that token no longer works, on any
    /// gateway.
    async fn logout(&self, ctx: &Context<'_>) -> Result<bool> {
        let requester = Gateway::requester(ctx)?;
        let caller = requester.caller()?;
        let (Some(session), Some(user_id)) = (requester.auth.session, caller.user_id()) else {
            return Err(gql_error(RpcError::new(ErrorCode::Unauthenticated, "no token was sent: nothing to sign out")));
        };
        let ended = Gateway::rpc(ctx)?.call(&wire::EndSession { id: session }).await.gql()?;
        // This gateway stops taking the token now; the others when `session.ended` reaches them.
        Gateway::auth(ctx)?.sessions().session_ended(session, user_id);
        Ok(ended)
    }
}
