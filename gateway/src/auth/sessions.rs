//! Whether a token's session still lasts, asked of the users service once per session and
//! gateway, then kept, and forgotten the moment the session may have ended:
//!
//! - `session.ended` (logout) ends one session for good;
//! - `user.sessions_ended` (a password change), `user.deleted`, and `user.updated` (an
//!   operator made the user an admin, or took it back) make every kept session of that user be
//!   asked again, which answers what is true now;
//! - the events' queue was (re)made, so some may have gone by unheard: everything is asked
//!   again;
//! - and a kept answer is at most [`Sessions::max_age`] old in any case
//!   (`SESSION_CHECK_SECONDS`), for what no event said (a command run without a broker).
//!
//! The gateway that answered a logout, a password change or a deletion applies it itself, at
//! once, before it answers; the others do when the event reaches them (milliseconds).
//!
//! A kept answer is good only if it was asked after every end that may concern it: each end
//! is recorded with the time it was heard, and an answer asked before it is not used (nor
//! kept, when its call was under way as the end was heard).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use rpc::{Caller, ErrorCode, RpcClient, RpcError, users::GetSession};
use uuid::Uuid;

use super::tokens::Claims;

/// How many sessions a gateway keeps answers for; past it, the least used are asked again.
const CAPACITY: usize = 100_000;

#[derive(Debug, Clone, Copy)]
enum Kept {
    /// Lasts, as of `asked`.
    Lasts { admin: bool, asked: Instant },
    /// Ended: sessions never come back.
    Ended,
}

#[derive(Default)]
struct Ends {
    /// When each user's sessions were last to be asked again.
    users: HashMap<Uuid, Instant>,
    /// When everything was last to be asked again.
    everything: Option<Instant>,
}

pub struct Sessions {
    kept: quick_cache::sync::Cache<Uuid, (Uuid, Kept)>,
    ends: Mutex<Ends>,
    max_age: Duration,
}

impl Sessions {
    pub fn new(max_age: Duration) -> Self {
        Self { kept: quick_cache::sync::Cache::new(CAPACITY), ends: Mutex::default(), max_age }
    }

    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// The caller a token with these (checked) claims stands for, or UNAUTHENTICATED when its
    /// session ended; the users service's error when it cannot be asked.
    pub async fn caller(&self, rpc: &RpcClient, claims: &Claims) -> Result<Caller, RpcError> {
        if let Some((user_id, kept)) = self.kept.get(&claims.sid)
            && user_id == claims.sub
        {
            match kept {
                Kept::Ended => return Err(ended()),
                Kept::Lasts { admin, asked } if self.still_good(user_id, asked) => return Ok(caller(user_id, admin)),
                Kept::Lasts { .. } => {}
            }
        }
        let asked = Instant::now();
        let session = rpc.as_caller(Caller::Service).call(&GetSession { id: claims.sid }).await?;
        match session.filter(|session| session.user_id == claims.sub) {
            Some(session) => {
                if self.still_good(session.user_id, asked) {
                    self.kept.insert(claims.sid, (session.user_id, Kept::Lasts { admin: session.admin, asked }));
                }
                Ok(caller(session.user_id, session.admin))
            }
            None => {
                self.kept.insert(claims.sid, (claims.sub, Kept::Ended));
                Err(ended())
            }
        }
    }

    /// Logout: this session is over.
    pub fn session_ended(&self, session: Uuid, user_id: Uuid) {
        self.kept.insert(session, (user_id, Kept::Ended));
    }

    /// Every kept session of `user_id` is to be asked again.
    pub fn user_changed(&self, user_id: Uuid) {
        let now = Instant::now();
        let mut ends = self.lock();
        let max_age = self.max_age;
        // What is older than the longest a kept answer lives concerns no kept answer any more.
        if ends.users.len() >= 1024 {
            ends.users.retain(|_, heard| now.duration_since(*heard) < max_age);
        }
        ends.users.insert(user_id, now);
    }

    /// Every kept session is to be asked again.
    pub fn everything_changed(&self) {
        self.lock().everything = Some(Instant::now());
    }

    /// Whether an answer asked at `asked` about a session of `user_id` may still be used.
    fn still_good(&self, user_id: Uuid, asked: Instant) -> bool {
        if asked.elapsed() >= self.max_age {
            return false;
        }
        let ends = self.lock();
        let after = |heard: Option<&Instant>| heard.is_none_or(|heard| asked > *heard);
        after(ends.users.get(&user_id)) && after(ends.everything.as_ref())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Ends> {
        // Every change is one step: a panic elsewhere leaves it consistent.
        self.ends.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn caller(user_id: Uuid, admin: bool) -> Caller {
    if admin { Caller::Admin(user_id) } else { Caller::User(user_id) }
}

fn ended() -> RpcError {
    RpcError::new(ErrorCode::Unauthenticated, "the session has ended: sign in again")
}
