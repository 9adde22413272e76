//! What the databases hold, against what the clients were told. The judging is plain functions
//! of the records and the rows, tested below on made-up cases so that each count is seen to
//! fail when it should.

use std::collections::{HashMap, HashSet};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use entities::{orders::order, users};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::load::{Outcome, Record};

/// An order as stored.
#[derive(Debug, Clone)]
pub struct StoredOrder {
    pub id: Uuid,
    pub user_id: Uuid,
    pub description: String,
    pub quantity: i64,
    pub created_at: DateTime<Utc>,
}

/// The two services' databases, read directly.
pub struct Databases {
    users: DatabaseConnection,
    orders: DatabaseConnection,
}

impl Databases {
    pub async fn connect(users_url: &str, orders_url: &str) -> anyhow::Result<Self> {
        let users = sea_orm::Database::connect(users_url).await.context("connecting to the users database")?;
        let orders = sea_orm::Database::connect(orders_url).await.context("connecting to the orders database")?;
        Ok(Self { users, orders })
    }

    /// Every order whose description starts with `prefix`.
    pub async fn orders_described(&self, prefix: &str) -> anyhow::Result<Vec<StoredOrder>> {
        let rows = order::Entity::find()
            .filter(order::Column::ItemDescription.starts_with(prefix))
            .all(&self.orders)
            .await
            .context("reading orders")?;
        Ok(rows.into_iter().map(stored).collect())
    }

    /// Every order of these users.
    pub async fn orders_of(&self, users: &[Uuid]) -> anyhow::Result<Vec<StoredOrder>> {
        let rows = order::Entity::find()
            .filter(order::Column::UserId.is_in(users.iter().copied()))
            .all(&self.orders)
            .await
            .context("reading orders")?;
        Ok(rows.into_iter().map(stored).collect())
    }

    /// Which of these users exist.
    pub async fn existing_users(&self, ids: &[Uuid]) -> anyhow::Result<HashSet<Uuid>> {
        let rows = users::Entity::find()
            .filter(users::Column::Id.is_in(ids.iter().copied()))
            .all(&self.users)
            .await
            .context("reading users")?;
        Ok(rows.into_iter().map(|user| user.id).collect())
    }

    pub async fn close(self) {
        let _ = self.users.close().await;
        let _ = self.orders.close().await;
    }
}

fn stored(row: order::Model) -> StoredOrder {
    StoredOrder {
        id: row.id,
        user_id: row.user_id,
        description: row.item_description,
        quantity: i64::from(row.item_quantity),
        created_at: row.created_at,
    }
}

/// What [`judge_orders`] found, with a line of evidence for each.
#[derive(Debug, Default)]
pub struct OrderFindings {
    pub lost: u64,
    pub duplicated: u64,
    pub late_overwrites: u64,
    pub evidence: Vec<String>,
}

/// The orders' records against the rows whose description has their prefix:
/// - **duplicated**: each extra row of one description (one logical create each);
/// - **lost**: an acknowledged create whose row is not there, or whose final quantity is one no
///   write but an acknowledged one could have left while a later acknowledged write exists
///   (that write's effect is gone);
/// - **late overwrite**: a final quantity that is not the last acknowledged write's, nor that
///   of a write after it whose outcome is unknown, but that of an earlier write that was not
///   acknowledged (it landed after a later one was).
pub fn judge_orders(records: &[Record], rows: &[StoredOrder]) -> OrderFindings {
    let mut findings = OrderFindings::default();
    let mut by_description: HashMap<&str, Vec<&StoredOrder>> = HashMap::new();
    for row in rows {
        by_description.entry(&row.description).or_default().push(row);
    }
    for (description, rows) in &by_description {
        if rows.len() > 1 {
            findings.duplicated += rows.len() as u64 - 1;
            findings.evidence.push(format!("{description:?} stored {} times", rows.len()));
        }
    }
    let by_id: HashMap<Uuid, &StoredOrder> = rows.iter().map(|row| (row.id, row)).collect();
    for record in records {
        let Some(id) = record.id.as_deref() else { continue };
        let row = id.parse::<Uuid>().ok().and_then(|id| by_id.get(&id));
        let Some(row) = row.filter(|row| row.description == record.description) else {
            findings.lost += 1;
            findings.evidence.push(format!("order {id} ({:?}) acknowledged, not stored", record.description));
            continue;
        };
        let Some(last_ok) = record.writes.iter().rposition(|(_, outcome)| *outcome == Outcome::Ok) else { continue };
        let mut allowed = std::iter::once(record.writes[last_ok].0)
            .chain(record.writes[last_ok + 1..].iter().filter(|(_, o)| *o == Outcome::Unknown).map(|(q, _)| *q));
        if allowed.any(|quantity| quantity == row.quantity) {
            continue;
        }
        let history = history(&record.writes);
        let earlier = record.writes[..last_ok].iter().find(|(quantity, _)| *quantity == row.quantity);
        match earlier {
            Some((_, outcome)) if *outcome != Outcome::Ok => {
                findings.late_overwrites += 1;
                findings.evidence.push(format!(
                    "order {id}: stored {} over the acknowledged {}: {history}",
                    row.quantity, record.writes[last_ok].0
                ));
            }
            _ => {
                findings.lost += 1;
                findings.evidence.push(format!(
                    "order {id}: stored {}, acknowledged {}: {history}",
                    row.quantity, record.writes[last_ok].0
                ));
            }
        }
    }
    findings
}

/// Of the acknowledged creates that were retried, how many were already stored before their
/// first retry went out: a first attempt that committed though its caller gave up on it, whose
/// retry had to answer it rather than create again. What makes the duplicate count mean
/// something.
pub fn committed_before_retry(records: &[Record], rows: &[StoredOrder]) -> (u64, u64) {
    let by_id: HashMap<Uuid, &StoredOrder> = rows.iter().map(|row| (row.id, row)).collect();
    let retried = records.iter().filter_map(|record| {
        let id: Uuid = record.id.as_deref()?.parse().ok()?;
        Some((by_id.get(&id)?.created_at, record.create_retried_at?))
    });
    retried.fold((0, 0), |(retried, early), (created, retry)| (retried + 1, early + u64::from(created < retry)))
}

/// `1 ok, 2 unknown, 3 ok`.
fn history(writes: &[(i64, Outcome)]) -> String {
    let writes: Vec<String> = writes.iter().map(|(quantity, outcome)| format!("{quantity} {outcome:?}")).collect();
    writes.join(", ").to_lowercase()
}

/// Acknowledged deletions whose user is still there: lost.
pub fn judge_deletions(deletions: &[(Uuid, Outcome)], existing: &HashSet<Uuid>) -> (u64, Vec<String>) {
    let lost: Vec<String> = deletions
        .iter()
        .filter(|(user, outcome)| *outcome == Outcome::Ok && existing.contains(user))
        .map(|(user, _)| format!("user {user}: deletion acknowledged, still stored"))
        .collect();
    (lost.len() as u64, lost)
}

/// Orders whose user is gone: orphans.
pub fn judge_orphans(orders: &[StoredOrder], existing: &HashSet<Uuid>) -> (u64, Vec<String>) {
    let orphans: Vec<&StoredOrder> = orders.iter().filter(|order| !existing.contains(&order.user_id)).collect();
    let mut owners: Vec<Uuid> = orphans.iter().map(|order| order.user_id).collect();
    owners.sort();
    owners.dedup();
    let evidence = owners.iter().take(5).map(|user| format!("deleted user {user} still has orders")).collect();
    (orphans.len() as u64, evidence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Outcome::{Failed, Ok, Unknown};

    fn record(description: &str, id: Option<Uuid>, writes: &[(i64, Outcome)]) -> Record {
        Record {
            description: description.to_owned(),
            id: id.map(|id| id.to_string()),
            writes: writes.to_vec(),
            create_retried_at: None,
        }
    }

    fn row(id: Uuid, description: &str, quantity: i64) -> StoredOrder {
        StoredOrder { id, user_id: Uuid::nil(), description: description.to_owned(), quantity, created_at: Utc::now() }
    }

    #[test]
    fn the_last_acknowledged_value_or_a_later_unknown_one_is_fine() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let records =
            [record("a", Some(a), &[(1, Ok), (2, Unknown), (3, Ok)]), record("b", Some(b), &[(1, Ok), (2, Unknown)])];
        let findings = judge_orders(&records, &[row(a, "a", 3), row(b, "b", 2)]);
        assert_eq!((findings.lost, findings.duplicated, findings.late_overwrites), (0, 0, 0), "{findings:?}");
        assert_eq!(judge_orders(&records, &[row(a, "a", 3), row(b, "b", 1)]).late_overwrites, 0);
    }

    #[test]
    fn an_unacknowledged_earlier_write_landing_last_is_a_late_overwrite() {
        let a = Uuid::now_v7();
        let records = [record("a", Some(a), &[(1, Ok), (2, Unknown), (3, Ok)])];
        let findings = judge_orders(&records, &[row(a, "a", 2)]);
        assert_eq!((findings.lost, findings.late_overwrites), (0, 1), "{findings:?}");
        let failed = [record("a", Some(a), &[(1, Ok), (2, Failed), (3, Ok)])];
        assert_eq!(judge_orders(&failed, &[row(a, "a", 2)]).late_overwrites, 1);
    }

    #[test]
    fn an_acknowledged_write_gone_is_lost() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let records = [record("a", Some(a), &[(1, Ok), (2, Ok), (3, Ok)]), record("b", Some(b), &[(1, Ok)])];
        let findings = judge_orders(&records, &[row(a, "a", 2)]);
        assert_eq!((findings.lost, findings.late_overwrites), (2, 0), "{findings:?}");
    }

    #[test]
    fn a_description_stored_twice_is_a_duplicate_even_when_unacknowledged() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let records = [record("a", Some(a), &[(1, Ok)]), record("b", None, &[(1, Unknown)])];
        let findings = judge_orders(&records, &[row(a, "a", 1), row(b, "b", 1), row(c, "b", 1)]);
        assert_eq!((findings.lost, findings.duplicated), (0, 1), "{findings:?}");
    }

    #[test]
    fn a_create_stored_before_its_retry_had_committed_early() {
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let now = Utc::now();
        let second = chrono::TimeDelta::seconds(1);
        let mut records =
            [record("a", Some(a), &[(1, Ok)]), record("b", Some(b), &[(1, Ok)]), record("c", Some(c), &[(1, Ok)])];
        records[0].create_retried_at = Some(now);
        records[1].create_retried_at = Some(now);
        let mut rows = [row(a, "a", 1), row(b, "b", 1), row(c, "c", 1)];
        rows[0].created_at = now - second;
        rows[1].created_at = now + second;
        assert_eq!(committed_before_retry(&records, &rows), (2, 1));
    }

    #[test]
    fn deletions_and_orphans() {
        let (gone, kept, unknown) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let existing: HashSet<Uuid> = [kept, unknown].into();
        let deletions = [(gone, Ok), (kept, Ok), (unknown, Unknown)];
        assert_eq!(judge_deletions(&deletions, &existing).0, 1);
        let order = |user| StoredOrder {
            id: Uuid::now_v7(),
            user_id: user,
            description: String::new(),
            quantity: 1,
            created_at: Utc::now(),
        };
        assert_eq!(judge_orphans(&[order(gone), order(gone), order(kept)], &existing).0, 2);
    }
}
