//! The open WebSockets of one gateway, by whose token opened them, so that an ended session
//! or a reconnected event queue closes them ([`Sockets`]); and the [`Closer`] each one is
//! closed through.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Asks one socket to close, with a close code and a reason; the first ask wins.
#[derive(Default)]
pub struct Closer {
    reason: Mutex<Option<(u16, String)>>,
    asked: CancellationToken,
}

impl Closer {
    pub fn close(&self, code: u16, reason: impl Into<String>) {
        let mut kept = self.reason.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if kept.is_none() {
            *kept = Some((code, reason.into()));
            self.asked.cancel();
        }
    }

    /// Once a close is asked: its code and reason.
    pub async fn asked(&self) -> (u16, String) {
        self.asked.cancelled().await;
        self.reason().unwrap_or((1011, String::new()))
    }

    pub fn reason(&self) -> Option<(u16, String)> {
        self.reason.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

/// The close code of a socket whose token was revoked or expired: 4401, the protocol's
/// "Unauthorized", which `graphql-ws` clients do not retry (the token is no good any more).
pub const UNAUTHORIZED: u16 = 4401;

/// The close code of every socket when this gateway's event queue was made again (the broker
/// went and came back): events may have gone by unheard. 1012, "service restart" (RFC 6455),
/// which `graphql-ws` clients retry; a client that reconnects gets every change from then on.
pub const EVENTS_MISSED: u16 = 1012;

struct Open {
    session: Option<Uuid>,
    user: Option<Uuid>,
    closer: Arc<Closer>,
}

/// Every open socket that finished its `connection_init`.
#[derive(Default)]
pub struct Sockets {
    open: Mutex<(u64, HashMap<u64, Open>)>,
}

impl Sockets {
    /// Keeps `closer` until the returned guard is dropped; `session` and `user` are its token's.
    pub fn register(self: &Arc<Self>, session: Option<Uuid>, user: Option<Uuid>, closer: Arc<Closer>) -> Registered {
        let mut open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let id = open.0;
        open.0 += 1;
        open.1.insert(id, Open { session, user, closer });
        Registered { sockets: self.clone(), id }
    }

    /// Closes the sockets opened with a token of this session.
    pub fn session_ended(&self, session: Uuid) {
        self.close_where(|open| open.session == Some(session), UNAUTHORIZED, "the session ended: sign in again");
    }

    /// Closes the sockets of this user's tokens.
    pub fn sessions_of_user_ended(&self, user: Uuid) {
        self.close_where(|open| open.user == Some(user), UNAUTHORIZED, "the session ended: sign in again");
    }

    /// Closes every socket.
    pub fn close_all(&self, code: u16, reason: &str) {
        self.close_where(|_| true, code, reason);
    }

    pub fn count(&self) -> usize {
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).1.len()
    }

    fn close_where(&self, matches: impl Fn(&Open) -> bool, code: u16, reason: &str) {
        let open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for socket in open.1.values().filter(|open| matches(open)) {
            socket.closer.close(code, reason);
        }
    }
}

/// A socket's place in [`Sockets`], given up when dropped.
pub struct Registered {
    sockets: Arc<Sockets>,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.sockets.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).1.remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ended_session_closes_its_sockets_only() {
        let sockets = Arc::new(Sockets::default());
        let (user, session) = (Uuid::now_v7(), Uuid::now_v7());
        let (mine, other_session, anonymous) =
            (Arc::new(Closer::default()), Arc::new(Closer::default()), Arc::new(Closer::default()));
        let _mine = sockets.register(Some(session), Some(user), mine.clone());
        let _other = sockets.register(Some(Uuid::now_v7()), Some(user), other_session.clone());
        let _anonymous = sockets.register(None, None, anonymous.clone());
        sockets.session_ended(session);
        assert_eq!(mine.reason().map(|(code, _)| code), Some(UNAUTHORIZED));
        assert!(other_session.reason().is_none());
        sockets.sessions_of_user_ended(user);
        assert_eq!(other_session.reason().map(|(code, _)| code), Some(UNAUTHORIZED));
        assert!(anonymous.reason().is_none());
    }

    #[test]
    fn the_first_close_asked_is_the_one_kept() {
        let closer = Closer::default();
        closer.close(EVENTS_MISSED, "first");
        closer.close(UNAUTHORIZED, "second");
        assert_eq!(closer.reason(), Some((EVENTS_MISSED, "first".to_owned())));
    }

    #[test]
    fn a_dropped_registration_leaves() {
        let sockets = Arc::new(Sockets::default());
        let registered = sockets.register(None, None, Arc::new(Closer::default()));
        assert_eq!(sockets.count(), 1);
        drop(registered);
        assert_eq!(sockets.count(), 0);
    }
}
