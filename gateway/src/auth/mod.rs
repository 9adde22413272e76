//! Who a request is for (`API.md`, "Identity and access"): the bearer token of its
//! `Authorization` header, checked once per HTTP request, becomes the [`Caller`] every RPC of
//! the request carries. The services decide what that caller may do; the gateway only says
//! who it is.
//!
//! - [`tokens`]: HS256 JWTs signed with `AUTH_SECRET`, checked without a call;
//! - [`sessions`]: whether a token's session still lasts, asked once per session and kept
//!   until an event says it may have ended;
//! - [`secret`]: `AUTH_SECRET`, or embedded mode's own, made once under `DATA_DIR`.

pub mod secret;
pub mod sessions;
pub mod tokens;

use std::time::Duration;

use axum::http::HeaderValue;
use rpc::{Caller, Envelope, ErrorCode, RpcClient, RpcError, events};
use uuid::Uuid;

use self::{sessions::Sessions, tokens::Tokens};

/// Who one HTTP request is for, settled before any of its operations runs.
#[derive(Debug, Clone)]
pub struct Authentication {
    /// The caller, or why the token sent is not good (UNAUTHENTICATED), or that the users
    /// service could not say (SERVICE_UNAVAILABLE). Fields that need a caller answer this
    /// error; `login`, `createUser` and introspection run anyway.
    pub caller: Result<Caller, RpcError>,
    /// The session of the token, for `logout`.
    pub session: Option<Uuid>,
    /// When the token expires (Unix seconds): a WebSocket it opened closes then.
    pub expires_at: Option<i64>,
    /// The client's address, for the limits on failed attempts.
    pub client: String,
}

impl Authentication {
    /// No token sent.
    pub fn anonymous(client: impl Into<String>) -> Self {
        Self { caller: Ok(Caller::Anonymous), session: None, expires_at: None, client: client.into() }
    }
}

/// Signs tokens, and tells the caller of a request from its token.
pub struct Auth {
    tokens: Tokens,
    sessions: Sessions,
}

impl Auth {
    pub fn new(tokens: Tokens, session_check: Duration) -> Self {
        Self { tokens, sessions: Sessions::new(session_check) }
    }

    pub fn tokens(&self) -> &Tokens {
        &self.tokens
    }

    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    /// Who a request with this `Authorization` header is for. `rpc` asks the users service
    /// about a session this gateway has no answer for.
    pub async fn authenticate(
        &self,
        rpc: &RpcClient,
        authorization: Option<&HeaderValue>,
        client: String,
    ) -> Authentication {
        let Some(value) = authorization else { return Authentication::anonymous(client) };
        let refused = |message: &str| Authentication {
            caller: Err(RpcError::new(ErrorCode::Unauthenticated, message)),
            session: None,
            expires_at: None,
            client: client.clone(),
        };
        let Some(token) = value.to_str().ok().and_then(bearer) else {
            return refused("the Authorization header must be `Bearer <token>`");
        };
        let claims = match self.tokens.check(token) {
            Ok(claims) => claims,
            Err(error) => return Authentication { caller: Err(error), session: None, expires_at: None, client },
        };
        let caller = self.sessions.caller(rpc, &claims).await;
        Authentication { caller, session: Some(claims.sid), expires_at: Some(claims.exp), client }
    }

    /// What an event says about sessions, applied to the kept answers.
    pub fn on_event(&self, envelope: &Envelope) {
        let event = &envelope.event;
        match envelope.routing_key.as_str() {
            events::SESSION_ENDED => self.sessions.session_ended(event.id, event.user_id.unwrap_or_default()),
            events::USER_SESSIONS_ENDED | events::USER_DELETED | events::USER_UPDATED => {
                self.sessions.user_changed(event.id);
            }
            events::SUBSCRIBED => self.sessions.everything_changed(),
            _ => {}
        }
    }
}

/// The token of `Bearer <token>` (the scheme in any case, RFC 7235).
fn bearer(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::bearer;

    #[test]
    fn only_a_bearer_token_is_taken() {
        assert_eq!(bearer("Bearer abc.def.ghi"), Some("abc.def.ghi"));
        assert_eq!(bearer("bearer  abc"), Some("abc"));
        assert_eq!(bearer("Basic dXNlcjpwYXNz"), None);
        assert_eq!(bearer("Bearer "), None);
        assert_eq!(bearer("abc.def.ghi"), None);
    }
}
