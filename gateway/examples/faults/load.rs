//! The write load. Each [`Client`] owns its records and writes them one at a time through the
//! gateways; an answer that does not say whether the write happened is retried with the same
//! `Idempotency-Key`, a bounded number of times; and each acknowledged write is read back at
//! once through the gateway that acknowledged it (a read showing anything else is stale).
//! What every write ended as, its retries and every read are tallied per client.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::api::{Answer, Api};

pub const CREATE_ORDER: &str = "mutation($input: CreateOrderInput!) { createOrder(input: $input) { id itemQuantity } }";
const UPDATE_ORDER: &str = "mutation($id: UUID!, $quantity: Int!) { updateOrder(id: $id, input: { itemQuantity: $quantity }) { itemQuantity } }";
const DELETE_USER: &str = "mutation($id: UUID!) { deleteUser(id: $id) }";
const ORDER: &str = "query($id: UUID!) { order(id: $id) { itemQuantity } }";
const USER: &str = "query($id: UUID!) { user(id: $id) { id } }";
pub const PRICE: &str = "2.50";

/// What a client knows of a write, once done with it (retries included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    Failed,
    Unknown,
}

/// How often, and how patiently, a client retries an unknown outcome.
#[derive(Clone, Copy)]
pub struct Retries {
    pub max: u32,
    pub first_backoff: Duration,
}

impl Retries {
    /// Rides out every fault here: 8 retries, waiting 0.2, 0.4, 0.8, 1.6 then 2 s between them
    /// (about 11 s, besides the calls).
    pub const PATIENT: Self = Self { max: 8, first_backoff: Duration::from_millis(200) };
    /// Two quick retries, then on to the next write: so a write given up on may still be held
    /// by a paused worker while the same record is written again.
    pub const IMPATIENT: Self = Self { max: 2, first_backoff: Duration::from_millis(100) };
    /// No retry: on to the next write at once, the one given up on perhaps still held.
    pub const NEVER: Self = Self { max: 0, first_backoff: Duration::ZERO };

    fn backoff(self, retry: u32) -> Duration {
        (self.first_backoff * 2u32.saturating_pow(retry.saturating_sub(1))).min(Duration::from_secs(2))
    }
}

/// Which gateway each attempt of a write goes through.
#[derive(Clone, Copy)]
pub enum Route {
    /// Attempt n through gateway (start + n) modulo their number: a retry goes to the next
    /// gateway, as behind a load balancer that saw the first one fail.
    Rotate(usize),
    /// The first attempt through `first`, every retry through `retries`.
    FirstThen { first: usize, retries: usize },
}

/// What a client saw.
#[derive(Default, Debug, Clone)]
pub struct Tally {
    pub ok: u64,
    pub failed: u64,
    pub unknown: u64,
    pub retries: u64,
    /// Reads of acknowledged writes, those that showed something else, and those that failed
    /// (not counted either way).
    pub reads: u64,
    pub stale: u64,
    pub read_errors: u64,
    /// Every answer that was not ok, attempt by attempt, by code or kind.
    pub answers: BTreeMap<String, u64>,
    /// The first few stale reads, as evidence.
    pub stale_examples: Vec<String>,
}

impl Tally {
    pub fn absorb(&mut self, other: Tally) {
        self.ok += other.ok;
        self.failed += other.failed;
        self.unknown += other.unknown;
        self.retries += other.retries;
        self.reads += other.reads;
        self.stale += other.stale;
        self.read_errors += other.read_errors;
        for (answer, count) in other.answers {
            *self.answers.entry(answer).or_default() += count;
        }
        self.stale_examples.extend(other.stale_examples);
        self.stale_examples.truncate(5);
    }

    pub fn note(&mut self, answer: impl Into<String>) {
        *self.answers.entry(answer.into()).or_default() += 1;
    }

    pub fn stale_read(&mut self, example: String) {
        self.stale += 1;
        if self.stale_examples.len() < 5 {
            self.stale_examples.push(example);
        }
    }
}

/// A write as the client ended it: what it knows, the field's value when ok, the gateway
/// whose answer that was, and when its first retry went out (if it was retried).
pub struct Written {
    pub outcome: Outcome,
    pub answer: Value,
    pub via: usize,
    pub retried_at: Option<DateTime<Utc>>,
}

pub struct Client {
    api: Api,
    gateways: Arc<[String]>,
    route: Route,
    retries: Retries,
    /// Starts each Idempotency-Key: unique per client and run.
    name: String,
    writes: u64,
    pub tally: Tally,
}

impl Client {
    pub fn new(api: Api, gateways: Arc<[String]>, route: Route, retries: Retries, name: String) -> Self {
        Self { api, gateways, route, retries, name, writes: 0, tally: Tally::default() }
    }

    fn gateway(&self, attempt: u32) -> usize {
        match self.route {
            Route::Rotate(start) => (start + attempt as usize) % self.gateways.len(),
            Route::FirstThen { first, retries } => {
                if attempt == 0 {
                    first
                } else {
                    retries
                }
            }
        }
    }

    /// One logical write: its attempts all carry one new key.
    pub async fn write(&mut self, field: &str, query: &str, variables: Value) -> Written {
        self.writes += 1;
        let key = format!("{}-{}-{}", self.name, self.writes, uuid::Uuid::now_v7().simple());
        let mut retried_at = None;
        for attempt in 0..=self.retries.max {
            if attempt > 0 {
                self.tally.retries += 1;
                tokio::time::sleep(self.retries.backoff(attempt)).await;
                retried_at.get_or_insert_with(Utc::now);
            }
            let via = self.gateway(attempt);
            match self.api.mutate(&self.gateways[via], field, query, &variables, &key).await {
                Answer::Ok(answer) => {
                    self.tally.ok += 1;
                    return Written { outcome: Outcome::Ok, answer, via, retried_at };
                }
                Answer::Failed(code) => {
                    self.tally.note(code);
                    self.tally.failed += 1;
                    return Written { outcome: Outcome::Failed, answer: Value::Null, via, retried_at };
                }
                Answer::Unknown(reason) => self.tally.note(reason),
            }
        }
        self.tally.unknown += 1;
        Written { outcome: Outcome::Unknown, answer: Value::Null, via: self.gateway(0), retried_at }
    }

    /// Reads through gateway `via` right after a write it acknowledged; `fresh` says whether
    /// the data shows that write. A read that fails says nothing either way.
    async fn read_back(&mut self, via: usize, query: &str, variables: Value, fresh: impl FnOnce(&Value) -> bool) {
        self.tally.reads += 1;
        match self.api.query(&self.gateways[via], query, &variables).await {
            Ok(data) if fresh(&data) => {}
            Ok(data) => self.tally.stale_read(format!("{} {variables} read {data}", self.gateways[via])),
            Err(_) => self.tally.read_errors += 1,
        }
    }

    pub async fn create_order(&mut self, owner: &str, description: &str, quantity: i64) -> Written {
        let input =
            json!({ "userId": owner, "itemDescription": description, "itemQuantity": quantity, "itemPrice": PRICE });
        let written = self.write("createOrder", CREATE_ORDER, json!({ "input": input })).await;
        if written.outcome == Outcome::Ok {
            let id = written.answer["id"].clone();
            self.read_back(written.via, ORDER, json!({ "id": id }), |data| data["order"]["itemQuantity"] == quantity)
                .await;
        }
        written
    }

    pub async fn update_order(&mut self, id: &str, quantity: i64) -> Outcome {
        let written = self.write("updateOrder", UPDATE_ORDER, json!({ "id": id, "quantity": quantity })).await;
        if written.outcome == Outcome::Ok {
            self.read_back(written.via, ORDER, json!({ "id": id }), |data| data["order"]["itemQuantity"] == quantity)
                .await;
        }
        written.outcome
    }

    pub async fn delete_user(&mut self, id: &str) -> Outcome {
        let written = self.write("deleteUser", DELETE_USER, json!({ "id": id })).await;
        if written.outcome == Outcome::Ok {
            if written.answer != json!(true) {
                self.tally.note(format!("deleteUser answered {}", written.answer));
            }
            self.read_back(written.via, USER, json!({ "id": id }), |data| data["user"].is_null()).await;
        }
        written.outcome
    }
}

/// One order a client owns and every write it made to it, in order: the create (quantity 1),
/// then each update's quantity, one more each time, with what the client learnt of it.
#[derive(Debug, Clone)]
pub struct Record {
    /// Unique to this logical create (its retries share it): how duplicates are found.
    pub description: String,
    /// Known once the create was acknowledged.
    pub id: Option<String>,
    pub writes: Vec<(i64, Outcome)>,
    /// When the create's first retry went out, if it was retried.
    pub create_retried_at: Option<DateTime<Utc>>,
}

impl Record {
    pub async fn create(client: &mut Client, owner: &str, description: String) -> Self {
        let written = client.create_order(owner, &description, 1).await;
        let id = written.answer["id"].as_str().map(str::to_owned);
        Self { description, id, writes: vec![(1, written.outcome)], create_retried_at: written.retried_at }
    }

    /// Writes the next quantity; nothing without an id.
    pub async fn update(&mut self, client: &mut Client) {
        let Some(id) = self.id.clone() else { return };
        let quantity = self.writes.last().map_or(1, |(quantity, _)| quantity + 1);
        let outcome = client.update_order(&id, quantity).await;
        self.writes.push((quantity, outcome));
    }
}

/// Until `stop`: create an order, update it `updates` times, and again.
pub async fn create_then_update(
    client: &mut Client,
    owner: &str,
    prefix: &str,
    updates: usize,
    stop: &CancellationToken,
) -> Vec<Record> {
    let mut records = Vec::new();
    while !stop.is_cancelled() {
        let mut record = Record::create(client, owner, format!("{prefix}-{}", records.len() + 1)).await;
        for _ in 0..updates {
            if stop.is_cancelled() {
                break;
            }
            record.update(client).await;
        }
        records.push(record);
    }
    records
}

/// Until `stop`: the next quantity of each record in turn.
pub async fn keep_updating(client: &mut Client, records: &mut [Record], stop: &CancellationToken) {
    while !stop.is_cancelled() {
        for record in records.iter_mut() {
            record.update(client).await;
        }
    }
}

/// Deletes each user, `pace` apart; what came of each.
pub async fn delete_users(client: &mut Client, users: &[String], pace: Duration) -> Vec<(String, Outcome)> {
    let mut outcomes = Vec::new();
    for user in users {
        outcomes.push((user.clone(), client.delete_user(user).await));
        tokio::time::sleep(pace).await;
    }
    outcomes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_two_seconds() {
        let waits: Vec<_> = (1..=8).map(|retry| Retries::PATIENT.backoff(retry).as_millis()).collect();
        assert_eq!(waits, [200, 400, 800, 1600, 2000, 2000, 2000, 2000]);
    }
}
