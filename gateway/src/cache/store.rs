//! Where cached fields live: Redis, shared by every gateway, or this process's memory.
//!
//! Both stores keep *generations*: a counter per generation key, bumped by every write to
//! what it covers. A value is stored with the generation it was read under (in memory under
//! `value_key@generation`, in Redis tagged with it), so bumping the generation invalidates every
//! value read under the old one, without deleting or scanning keys. It also closes the classic
//! race of read-through caches: a reader that read generation G before a write and fetched the
//! old row writes it back under G, which nobody reads any more.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use async_trait::async_trait;

use super::answers;

/// A value's address: the generation that covers it and its own key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    pub generation: String,
    pub value: String,
}

/// What a read finds for one key: the generation in force and the value cached under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub generation: u64,
    pub value: Option<Vec<u8>>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// For each key, in one round trip: its current generation and its value under it.
    async fn read(&self, keys: &[CacheKey]) -> anyhow::Result<Vec<Found>>;
    /// Stores each value under the generation it was read at, for `ttl`.
    async fn write(&self, entries: &[(CacheKey, u64, Vec<u8>)], ttl: Duration) -> anyhow::Result<()>;
    /// Bumps these generation keys: whatever they cover is invalid from now on.
    async fn bump(&self, generation_keys: &[String]) -> anyhow::Result<()>;
    /// The whole answer stored under `key`, if every generation it was stored under is still
    /// current, checked in the same round trip; else the current generations of `collections`
    /// (see [`super::answers`]).
    async fn read_answer(&self, key: &str, collections: &[String]) -> anyhow::Result<AnswerRead>;
    /// Stores a whole answer under the generations its reads saw, for `ttl`.
    async fn write_answer(
        &self,
        key: &str,
        generations: &[(String, u64)],
        body: &[u8],
        ttl: Duration,
    ) -> anyhow::Result<()>;
}

/// What [`Store::read_answer`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnswerRead {
    /// The stored answer's body: every generation it was read under is current.
    Current(Vec<u8>),
    /// No current answer; the generations of the collections asked for, in their order.
    Missing(Vec<u64>),
}

/// How long a generation outlives the last bump. Far longer than any value's TTL, so a
/// generation that expired and restarts at 0 finds nothing left under its old numbers.
pub fn generation_ttl(ttl: Duration) -> Duration {
    ttl * 10 + Duration::from_secs(3600)
}

fn versioned(key: &str, generation: u64) -> String {
    format!("{key}@{generation}")
}

// ---------------------------------------------------------------------------------------------

/// Redis, through a multiplexed connection that reconnects by itself. Every call is bounded
/// by the caller's timeout.
pub struct RedisStore {
    connection: redis::aio::ConnectionManager,
    generation_ttl: Duration,
    /// [`answers::READ_ANSWER_SCRIPT`], sent by its hash once Redis has it.
    read_answer: redis::Script,
}

/// In Redis a value key holds one value, tagged with the generation it was read under (8
/// bytes, big-endian, before the value), so a read is one plain MGET of generation and value
/// keys: no script for Redis to run. A tag that is not the current generation is a miss. A
/// late writer may replace a fresher value with an older tag; that costs a miss, never a stale
/// read.
fn tagged(generation: u64, value: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(8 + value.len());
    bytes.extend_from_slice(&generation.to_be_bytes());
    bytes.extend_from_slice(value);
    bytes
}

/// The value of a tagged entry, if it was stored under `generation`.
fn untag(entry: &[u8], generation: u64) -> Option<Vec<u8>> {
    let (tag, value) = entry.split_first_chunk::<8>()?;
    (u64::from_be_bytes(*tag) == generation).then(|| value.to_vec())
}

impl RedisStore {
    /// Does not connect: the first command does, and later ones reconnect after failures, so
    /// a Redis that is down at start-up or goes away only costs cache misses.
    pub fn new(url: &str, timeout: Duration, generation_ttl: Duration) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1);
        let connection = redis::aio::ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self { connection, generation_ttl, read_answer: redis::Script::new(answers::READ_ANSWER_SCRIPT) })
    }
}

#[async_trait]
impl Store for RedisStore {
    async fn read(&self, keys: &[CacheKey]) -> anyhow::Result<Vec<Found>> {
        let names: Vec<&str> = keys.iter().flat_map(|key| [key.generation.as_str(), key.value.as_str()]).collect();
        let mut connection = self.connection.clone();
        let reply: Vec<Option<Vec<u8>>> = redis::cmd("MGET").arg(&names).query_async(&mut connection).await?;
        reply
            .chunks(2)
            .map(|pair| {
                let generation = match pair.first().and_then(Option::as_deref) {
                    Some(text) => std::str::from_utf8(text)?.parse()?,
                    None => 0,
                };
                let value = pair.get(1).and_then(Option::as_deref).and_then(|entry| untag(entry, generation));
                Ok(Found { generation, value })
            })
            .collect()
    }

    async fn write(&self, entries: &[(CacheKey, u64, Vec<u8>)], ttl: Duration) -> anyhow::Result<()> {
        let mut pipe = redis::pipe();
        for (key, generation, value) in entries {
            pipe.set_ex(&key.value, tagged(*generation, value), ttl.as_secs().max(1)).ignore();
        }
        let mut connection = self.connection.clone();
        pipe.query_async::<()>(&mut connection).await?;
        Ok(())
    }

    async fn bump(&self, generation_keys: &[String]) -> anyhow::Result<()> {
        let mut pipe = redis::pipe();
        pipe.atomic();
        for key in generation_keys {
            let seconds = i64::try_from(self.generation_ttl.as_secs()).unwrap_or(i64::MAX);
            pipe.incr(key, 1).ignore().expire(key, seconds).ignore();
        }
        let mut connection = self.connection.clone();
        pipe.query_async::<()>(&mut connection).await?;
        Ok(())
    }

    async fn read_answer(&self, key: &str, collections: &[String]) -> anyhow::Result<AnswerRead> {
        let mut connection = self.connection.clone();
        let reply: redis::Value = self.read_answer.key(key).key(collections).invoke_async(&mut connection).await?;
        match reply {
            redis::Value::BulkString(body) => Ok(AnswerRead::Current(body)),
            redis::Value::Array(generations) => {
                let generations = generations
                    .iter()
                    .map(|generation| Ok(redis::from_redis_value_ref::<String>(generation)?.parse()?))
                    .collect::<anyhow::Result<_>>()?;
                Ok(AnswerRead::Missing(generations))
            }
            other => anyhow::bail!("unexpected reply to the answer script: {other:?}"),
        }
    }

    async fn write_answer(
        &self,
        key: &str,
        generations: &[(String, u64)],
        body: &[u8],
        ttl: Duration,
    ) -> anyhow::Result<()> {
        let mut connection = self.connection.clone();
        let entry = answers::encode(generations, body);
        redis::cmd("SET")
            .arg(key)
            .arg(entry)
            .arg("EX")
            .arg(ttl.as_secs().max(1))
            .query_async::<()>(&mut connection)
            .await?;
        Ok(())
    }
}

/// Plain values under plain keys, outside generations: for what is not a field and never
/// changes under its key (the texts of persisted queries, `request::persisted`).
impl RedisStore {
    pub async fn get_plain(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        let mut connection = self.connection.clone();
        Ok(redis::cmd("GET").arg(key).query_async(&mut connection).await?)
    }

    pub async fn set_plain(&self, key: &str, value: &[u8], ttl: Duration) -> anyhow::Result<()> {
        let mut connection = self.connection.clone();
        redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("EX")
            .arg(ttl.as_secs().max(1))
            .query_async::<()>(&mut connection)
            .await?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------

/// This process's memory, for a gateway without Redis (embedded mode). Same semantics.
pub struct MemoryStore {
    inner: Mutex<Memory>,
    generation_ttl: Duration,
}

impl MemoryStore {
    pub fn new(generation_ttl: Duration) -> Self {
        Self { inner: Mutex::default(), generation_ttl }
    }
}

#[derive(Default)]
struct Memory {
    generations: HashMap<String, (u64, Instant)>,
    values: HashMap<String, (Vec<u8>, Instant)>,
    /// Whole answers, encoded as in Redis ([`answers::encode`]).
    answers: HashMap<String, (Vec<u8>, Instant)>,
    /// The bytes of `answers`, kept under [`MEMORY_ANSWER_BYTES`].
    answer_bytes: usize,
    writes: usize,
}

/// How many bytes of whole answers this process's memory holds at most: past it, expired ones
/// are dropped, and if that is not enough a new answer is not stored.
const MEMORY_ANSWER_BYTES: usize = 64 * 1024 * 1024;

impl Memory {
    /// Drops expired entries now and then, so memory stays bounded by what is live.
    fn prune(&mut self, now: Instant) {
        self.writes += 1;
        if self.writes.is_multiple_of(1024) {
            self.values.retain(|_, (_, expires)| *expires > now);
            self.prune_answers(now);
            self.generations.retain(|_, (_, expires)| *expires > now);
        }
    }
}

impl Memory {
    /// The generation in force for `key` (0 when never bumped, or expired).
    fn generation(&self, key: &str, now: Instant) -> u64 {
        self.generations.get(key).filter(|(_, expires)| *expires > now).map_or(0, |(generation, _)| *generation)
    }

    fn prune_answers(&mut self, now: Instant) {
        self.answers.retain(|_, (_, expires)| *expires > now);
        self.answer_bytes = self.answers.values().map(|(entry, _)| entry.len()).sum();
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn read(&self, keys: &[CacheKey]) -> anyhow::Result<Vec<Found>> {
        let memory = self.inner.lock().map_err(|_| anyhow::anyhow!("cache lock poisoned"))?;
        let now = Instant::now();
        Ok(keys
            .iter()
            .map(|key| {
                let generation = memory.generation(&key.generation, now);
                let value = memory
                    .values
                    .get(&versioned(&key.value, generation))
                    .filter(|(_, expires)| *expires > now)
                    .map(|(value, _)| value.clone());
                Found { generation, value }
            })
            .collect())
    }

    async fn write(&self, entries: &[(CacheKey, u64, Vec<u8>)], ttl: Duration) -> anyhow::Result<()> {
        let mut memory = self.inner.lock().map_err(|_| anyhow::anyhow!("cache lock poisoned"))?;
        let now = Instant::now();
        for (key, generation, value) in entries {
            memory.values.insert(versioned(&key.value, *generation), (value.clone(), now + ttl));
        }
        memory.prune(now);
        Ok(())
    }

    async fn bump(&self, generation_keys: &[String]) -> anyhow::Result<()> {
        let mut memory = self.inner.lock().map_err(|_| anyhow::anyhow!("cache lock poisoned"))?;
        let now = Instant::now();
        let expires = now + self.generation_ttl;
        for key in generation_keys {
            let entry = memory.generations.entry(key.clone()).or_insert((0, expires));
            *entry = (entry.0 + 1, expires);
        }
        memory.prune(now);
        Ok(())
    }

    async fn read_answer(&self, key: &str, collections: &[String]) -> anyhow::Result<AnswerRead> {
        let memory = self.inner.lock().map_err(|_| anyhow::anyhow!("cache lock poisoned"))?;
        let now = Instant::now();
        let current = |key: &str| memory.generation(key, now);
        let entry = memory.answers.get(key).filter(|(_, expires)| *expires > now);
        if let Some(body) = entry.and_then(|(entry, _)| answers::decode(entry, current)) {
            return Ok(AnswerRead::Current(body.to_vec()));
        }
        Ok(AnswerRead::Missing(collections.iter().map(|key| current(key)).collect()))
    }

    async fn write_answer(
        &self,
        key: &str,
        generations: &[(String, u64)],
        body: &[u8],
        ttl: Duration,
    ) -> anyhow::Result<()> {
        let mut memory = self.inner.lock().map_err(|_| anyhow::anyhow!("cache lock poisoned"))?;
        let now = Instant::now();
        let entry = answers::encode(generations, body);
        if memory.answer_bytes + entry.len() > MEMORY_ANSWER_BYTES {
            memory.prune_answers(now);
            if memory.answer_bytes + entry.len() > MEMORY_ANSWER_BYTES {
                return Ok(());
            }
        }
        memory.answer_bytes += entry.len();
        if let Some((replaced, _)) = memory.answers.insert(key.to_owned(), (entry, now + ttl)) {
            memory.answer_bytes -= replaced.len();
        }
        memory.prune(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tagged_value_reads_back_only_under_its_generation() {
        let entry = tagged(7, b"{\"id\":1}");
        assert_eq!(untag(&entry, 7).as_deref(), Some(&b"{\"id\":1}"[..]));
        assert_eq!(untag(&entry, 8), None);
        assert_eq!(untag(b"short", 0), None);
    }
}
