//! Bearer tokens: HS256 JWTs signed with `AUTH_SECRET`, checked by every gateway alone (the
//! signature and the expiry need no call). A token names its user (`sub`) and its session
//! (`sid`); whether the session still lasts is [`super::sessions`]'s to say.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use rpc::{ErrorCode, RpcError, users::Session};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What a token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user.
    pub sub: Uuid,
    /// The session, which logout ends.
    pub sid: Uuid,
    /// Issued at and expires at, Unix seconds.
    pub iat: i64,
    pub exp: i64,
}

/// Signs and checks tokens with one secret.
pub struct Tokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

/// The shortest secret taken: 32 bytes, HS256's own strength.
pub const MIN_SECRET_BYTES: usize = 32;

impl Tokens {
    /// Tokens signed with `secret` that live `ttl`.
    pub fn new(secret: &[u8], ttl: Duration) -> anyhow::Result<Self> {
        anyhow::ensure!(
            secret.len() >= MIN_SECRET_BYTES,
            "AUTH_SECRET must be at least {MIN_SECRET_BYTES} bytes (e.g. `openssl rand -base64 48`)"
        );
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Ok(Self {
            encoding: EncodingKey::from_secret(secret)?,
            decoding: DecodingKey::from_secret(secret)?,
            validation,
            ttl,
        })
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The token of a session that was just opened.
    pub fn issue(&self, session: &Session) -> Result<String, RpcError> {
        let claims = Claims {
            sub: session.user_id,
            sid: session.id,
            iat: chrono::Utc::now().timestamp(),
            exp: session.expires_at.timestamp(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(|error| {
            tracing::error!(%error, "cannot sign a token");
            RpcError::internal()
        })
    }

    /// The claims of a token this deployment signed and that has not expired; UNAUTHENTICATED
    /// otherwise, saying which.
    pub fn check(&self, token: &str) -> Result<Claims, RpcError> {
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(error) => Err(RpcError::new(
                ErrorCode::Unauthenticated,
                match error.kind() {
                    ErrorKind::ExpiredSignature => "the token has expired: sign in again",
                    _ => "the token is not valid: sign in again",
                },
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(expires_in: chrono::Duration) -> Session {
        Session {
            id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            admin: false,
            expires_at: chrono::Utc::now() + expires_in,
        }
    }

    fn tokens(secret: &str) -> Tokens {
        Tokens::new(secret.as_bytes(), Duration::from_secs(3600)).unwrap()
    }

    #[test]
    fn a_token_says_its_user_and_session_to_the_secret_that_signed_it_only() {
        let (ours, theirs) = (tokens(&"a".repeat(32)), tokens(&"b".repeat(32)));
        let session = session(chrono::Duration::hours(1));
        let token = ours.issue(&session).unwrap();
        let claims = ours.check(&token).unwrap();
        assert_eq!((claims.sub, claims.sid), (session.user_id, session.id));
        assert_eq!(theirs.check(&token).unwrap_err().code, ErrorCode::Unauthenticated);
    }

    #[test]
    fn expired_tampered_and_unsigned_tokens_are_refused() {
        let tokens = tokens(&"a".repeat(32));
        let expired = tokens.issue(&session(chrono::Duration::seconds(-1))).unwrap();
        assert_eq!(tokens.check(&expired).unwrap_err().message, "the token has expired: sign in again");

        let token = tokens.issue(&session(chrono::Duration::hours(1))).unwrap();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        // Another user in the payload, the signature left as it was.
        use base64::Engine as _;
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut claims: serde_json::Value = serde_json::from_slice(&engine.decode(&parts[1]).unwrap()).unwrap();
        claims["sub"] = serde_json::json!(Uuid::now_v7());
        parts[1] = engine.encode(serde_json::to_vec(&claims).unwrap());
        assert!(tokens.check(&parts.join(".")).is_err(), "a changed payload");
        // `alg: none`, no signature.
        let none = format!("{}.{}.", engine.encode(br#"{"alg":"none","typ":"JWT"}"#), parts[1]);
        assert!(tokens.check(&none).is_err(), "an unsigned token");
        assert!(tokens.check("not a token").is_err());
    }

    #[test]
    fn a_short_secret_is_refused() {
        assert!(Tokens::new(b"too short", Duration::from_secs(60)).is_err());
    }
}
