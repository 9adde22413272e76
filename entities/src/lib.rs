//! The sea-orm entities of both services, how a service opens and migrates its database, and
//! [`now`], the clock of every row.
//!
//! Each service owns its tables: the users worker uses [`users`] and [`sessions`] only, the orders worker
//! [`orders`] only. Rows are not wire types: workers convert them at their edge.
//!
//! Every service also has an [`outbox`] and an [`inbox`], and changes its data through one
//! [`write::Write`] per request: the change, its events and its answer in one transaction,
//! committed only while its caller waits.

pub mod db;
pub mod inbox;
pub mod migration;
pub mod orders;
pub mod outbox;
pub mod sessions;
pub mod users;
pub mod write;

/// The clock of every row: now, in UTC, truncated to microseconds. PostgreSQL keeps no more
/// and SQLite keeps whatever text it is given, so a row reads back equal to what was written
/// on both.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    use chrono::SubsecRound;
    chrono::Utc::now().trunc_subsecs(6)
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_have_whole_microseconds() {
        assert_eq!(super::now().timestamp_subsec_nanos() % 1_000, 0);
    }
}
