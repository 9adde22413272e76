//! What travels with every request beside its body (`DESIGN.md`, "Outbox, deadlines and
//! outcomes"): who it is for, which request it is, what its input was, and until when its
//! caller waits.
//!
//! Over RabbitMQ these are the `x-caller`, `x-deadline` and `x-input` headers and the
//! `message_id` property; in process, fields of the local envelope. A worker never starts a
//! request past its deadline, and a write checks the deadline again as it commits; a write
//! records its answer under its request id, so a redelivery, or a client's retry with the same
//! idempotency key, answers what the first run answered.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use uuid::Uuid;

use crate::{Caller, RpcError};

/// The header of a request's deadline: milliseconds since the Unix epoch.
pub const DEADLINE: &str = "x-deadline";
/// The header of a request's input fingerprint, set by a caller that may send the same
/// request id again with another body (a client's retry: the gateway makes up new ids).
pub const INPUT: &str = "x-input";

/// What travels with one request beside its body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Headers {
    pub caller: Caller,
    /// The same for every delivery of one request, and for every retry of one client request
    /// with the same idempotency key; `None` from a sender that names none (a test's).
    pub request_id: Option<Uuid>,
    /// What the caller's input was, when the request id can come again with another body:
    /// a retry whose input differs is refused. `None`: the body is the input.
    pub input: Option<String>,
    /// Until when the caller waits for the answer; nothing should start or commit after it.
    pub deadline: Option<SystemTime>,
    /// Whether the broker delivered this request before (to a worker that may have run it).
    pub redelivered: bool,
}

impl Headers {
    /// Headers for `caller` alone: no request id, no deadline (a test's or a tool's call).
    pub fn for_caller(caller: Caller) -> Self {
        Self { caller, ..Self::default() }
    }

    /// Whether the deadline has passed.
    pub fn expired(&self) -> bool {
        self.deadline.is_some_and(|deadline| deadline <= SystemTime::now())
    }

    /// How long until the deadline; `None` without one, zero once it passed.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline.map(|deadline| deadline.duration_since(SystemTime::now()).unwrap_or_default())
    }

    /// SERVICE_UNAVAILABLE once the deadline has passed: the caller has given up, so the work
    /// must not start (or commit).
    pub fn check_deadline(&self) -> Result<(), RpcError> {
        if self.expired() {
            return Err(deadline_passed());
        }
        Ok(())
    }

    /// Whether this request may have run before: redelivered, or a client's retry. Only then
    /// is an earlier answer worth looking for.
    pub fn may_repeat(&self) -> bool {
        self.redelivered || self.input.is_some()
    }
}

/// The answer to a request whose caller stopped waiting before it could run or commit.
pub fn deadline_passed() -> RpcError {
    RpcError::unavailable("the request's deadline passed before the service could do it")
}

/// A deadline as milliseconds since the Unix epoch, as `x-deadline` carries it.
pub fn to_millis(deadline: SystemTime) -> i64 {
    deadline.duration_since(UNIX_EPOCH).map_or(0, |since| i64::try_from(since.as_millis()).unwrap_or(i64::MAX))
}

/// Reads `x-deadline`; a negative value is the epoch (long past).
pub fn from_millis(millis: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(millis).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_deadline_survives_its_header_to_the_millisecond() {
        let deadline = UNIX_EPOCH + Duration::from_millis(1_780_000_000_123);
        assert_eq!(from_millis(to_millis(deadline)), deadline);
        assert_eq!(from_millis(-5), UNIX_EPOCH);
    }

    #[test]
    fn a_request_past_its_deadline_is_refused_as_unavailable() {
        let past = Headers { deadline: Some(SystemTime::now() - Duration::from_millis(1)), ..Headers::default() };
        assert!(past.expired());
        assert_eq!(past.remaining(), Some(Duration::ZERO));
        assert_eq!(past.check_deadline().map_err(|e| e.code), Err(crate::ErrorCode::ServiceUnavailable));
        let future = Headers { deadline: Some(SystemTime::now() + Duration::from_secs(60)), ..Headers::default() };
        assert!(!future.expired() && future.check_deadline().is_ok());
        assert!(!Headers::default().expired(), "no deadline never expires");
    }
}
