//! Who a request is made for: every RPC carries its [`Caller`], and the service that owns a
//! record decides with it whether the caller may see or change it (`API.md`, "Identity and
//! access").
//!
//! The gateway sets it from the request's token; a service calling another says
//! [`Caller::Service`]. Over RabbitMQ it travels in the `x-caller` header, so a message with
//! none, or one that does not parse, is anonymous: the broker is inside the trust boundary,
//! and a missing header grants nothing.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{ErrorCode, RpcError, RpcResult};

/// Who a request is made for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub enum Caller {
    /// Nobody signed in.
    #[default]
    Anonymous,
    /// A signed-in user: sees and changes only themself and their own orders.
    User(Uuid),
    /// A signed-in admin (made one by an operator's command): everything.
    Admin(Uuid),
    /// A process of the deployment itself (a service calling another, the gateway checking a
    /// session): everything. Never set from anything a client sends.
    Service,
}

impl Caller {
    /// The signed-in user's id, admin or not.
    pub fn user_id(self) -> Option<Uuid> {
        match self {
            Self::User(id) | Self::Admin(id) => Some(id),
            Self::Anonymous | Self::Service => None,
        }
    }

    /// An admin or the deployment itself: may see and change every record.
    pub fn is_privileged(self) -> bool {
        matches!(self, Self::Admin(_) | Self::Service)
    }

    /// UNAUTHENTICATED for an anonymous caller: every read and write but a few needs one.
    pub fn signed_in(self) -> RpcResult<Self> {
        match self {
            Self::Anonymous => Err(unauthenticated()),
            caller => Ok(caller),
        }
    }

    /// Whether the caller may see and change what belongs to user `owner`: themself, or
    /// anyone's for an admin. UNAUTHENTICATED when signed out.
    pub fn may_touch(self, owner: Uuid) -> RpcResult<bool> {
        Ok(match self.signed_in()? {
            Self::User(id) => id == owner,
            _ => true,
        })
    }

    /// The value of the `x-caller` header.
    pub fn to_header(self) -> String {
        match self {
            Self::Anonymous => "anonymous".to_owned(),
            Self::User(id) => format!("user:{id}"),
            Self::Admin(id) => format!("admin:{id}"),
            Self::Service => "service".to_owned(),
        }
    }

    /// Reads an `x-caller` header; anything else is anonymous.
    pub fn from_header(value: &str) -> Self {
        let id = |text: &str| Uuid::parse_str(text).ok();
        match value.split_once(':') {
            None if value == "service" => Self::Service,
            Some(("user", text)) => id(text).map_or(Self::Anonymous, Self::User),
            Some(("admin", text)) => id(text).map_or(Self::Anonymous, Self::Admin),
            _ => Self::Anonymous,
        }
    }
}

/// The answer to a signed-out caller.
pub fn unauthenticated() -> RpcError {
    RpcError::new(ErrorCode::Unauthenticated, "sign in first: send a token as `Authorization: Bearer <token>`")
}

/// The header a caller travels in over RabbitMQ.
pub const HEADER: &str = "x-caller";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_survives_its_header_and_nothing_else_grants_anything() {
        let id = Uuid::now_v7();
        for caller in [Caller::Anonymous, Caller::User(id), Caller::Admin(id), Caller::Service] {
            assert_eq!(Caller::from_header(&caller.to_header()), caller);
        }
        for junk in ["", "admin", "admin:", "admin:nope", "root", "service:x", "Service", "user:1"] {
            assert_eq!(Caller::from_header(junk), Caller::Anonymous, "{junk:?}");
        }
    }

    #[test]
    fn a_user_touches_only_their_own_and_an_admin_everything() {
        let (me, other) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(Caller::User(me).may_touch(me), Ok(true));
        assert_eq!(Caller::User(me).may_touch(other), Ok(false));
        assert_eq!(Caller::Admin(me).may_touch(other), Ok(true));
        assert_eq!(Caller::Service.may_touch(other), Ok(true));
        assert_eq!(Caller::Anonymous.may_touch(me).map_err(|e| e.code), Err(ErrorCode::Unauthenticated));
    }
}
