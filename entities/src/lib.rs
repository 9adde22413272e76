//! The sea-orm entities of both services, and how a service opens and migrates its database.
//!
//! Each service owns its tables: the users worker uses [`users`] only, the orders worker
//! [`orders`] only. Rows are not wire types: workers convert them at their edge.

pub mod db;
pub mod orders;
pub mod users;
