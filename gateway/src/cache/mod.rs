//! The field cache: read-through, invalidated by generations, never stale after a write.
//!
//! - [`FieldCache::get_many`] reads a batch of fields in one round trip, loads the misses
//!   with one call, writes them back with the TTL, and shares a load in flight with every
//!   concurrent reader of the same key (single flight).
//! - [`FieldCache::invalidate`] bumps generations after every write, before the mutation
//!   answers, and again when an event tells of a write made elsewhere (the cascade).
//! - The store ([`store::RedisStore`] or [`store::MemoryStore`]) is bounded by a short
//!   timeout. When it fails, reads go straight to the services and the failure is counted;
//!   an invalidation that failed is retried in the background, and until it lands this
//!   gateway reads nothing from the cache (it could be stale).
//! - Only answers are cached, never errors.
//! - A repeated query's whole answer is kept too, checked against the generations of every
//!   field it read ([`answers`]).

pub mod answers;
pub mod keys;
pub mod store;

use std::{
    collections::{HashMap, HashSet},
    future::Future,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use futures_util::{
    FutureExt,
    future::{BoxFuture, Shared},
};
use rpc::{ErrorCode, RpcError, RpcResult};
use serde::{Serialize, de::DeserializeOwned};
use tokio::sync::oneshot;

use self::{
    answers::Reads,
    keys::Keys,
    store::{CacheKey, Found, Store},
};
use crate::metrics::Metrics;

/// A load in flight, as its followers see it: the encoded answer, the leader's error, or
/// None when the leader went away without answering.
type Flight = Shared<BoxFuture<'static, Option<Result<Vec<u8>, RpcError>>>>;

pub struct FieldCache {
    /// None when the cache is off (`CACHE_TTL_SECONDS=0`).
    store: Option<Arc<dyn Store>>,
    ttl: Duration,
    timeout: Duration,
    pub keys: Keys,
    metrics: Metrics,
    flights: Mutex<HashMap<String, Flight>>,
    /// Generation bumps the store refused; retried until they land.
    unflushed: Arc<Mutex<HashSet<String>>>,
    /// Whether the invalidations that waited for this gateway (a shared cache's durable queue)
    /// have all been applied; until then nothing is read from the cache.
    caught_up: AtomicBool,
    /// Whether whole answers are kept too (`CACHE_ANSWERS`): [`answers`].
    answers: bool,
    /// [`Keys::collections`], which every whole-answer look-up sends.
    collections: Vec<String>,
}

impl FieldCache {
    pub fn new(store: Option<Arc<dyn Store>>, ttl: Duration, timeout: Duration, keys: Keys, metrics: Metrics) -> Self {
        let store = store.filter(|_| !ttl.is_zero());
        let caught_up = AtomicBool::new(true);
        let (flights, unflushed, answers, collections) = (Mutex::default(), Arc::default(), true, keys.collections());
        Self { store, ttl, timeout, keys, metrics, flights, unflushed, caught_up, answers, collections }
    }

    /// Keeps whole answers too, or not (`CACHE_ANSWERS`).
    pub fn keeping_answers(mut self, answers: bool) -> Self {
        self.answers = answers;
        self
    }

    /// Says whether every invalidation that waited for this gateway has been applied: a
    /// subscriber (re)joining a shared cache's queue is not, until its backlog is handled.
    pub fn set_caught_up(&self, caught_up: bool) {
        let was = self.caught_up.swap(caught_up, Ordering::SeqCst);
        if was != caught_up {
            tracing::info!(
                caught_up,
                "cache invalidations {}",
                if caught_up { "caught up; cache in use" } else { "behind; cache bypassed" }
            );
        }
    }

    /// Whether the cache may be read: see [`Self::set_caught_up`].
    pub fn is_caught_up(&self) -> bool {
        self.caught_up.load(Ordering::SeqCst)
    }

    /// Retries failed invalidations every `period` until `shutdown`. Run it in the background.
    pub async fn flush_invalidations(self: Arc<Self>, period: Duration, shutdown: tokio_util::sync::CancellationToken) {
        let Some(store) = self.store.clone() else { return };
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = tokio::time::sleep(period) => {}
            }
            let pending: Vec<String> =
                self.unflushed.lock().map(|set| set.iter().cloned().collect()).unwrap_or_default();
            if pending.is_empty() {
                continue;
            }
            if self.guard(store.bump(&pending)).await.is_some() {
                if let Ok(mut unflushed) = self.unflushed.lock() {
                    for key in &pending {
                        unflushed.remove(key);
                    }
                }
                tracing::info!(count = pending.len(), "delayed cache invalidations flushed; cache back in use");
            }
        }
    }

    /// The store, unless the cache is off, an invalidation is still owed to it, or this
    /// gateway has not heard every invalidation that waited for it.
    fn readable_store(&self) -> Option<&Arc<dyn Store>> {
        let owed = self.unflushed.lock().map(|set| !set.is_empty()).unwrap_or(true);
        self.store.as_ref().filter(|_| !owed && self.is_caught_up())
    }

    /// Runs a store operation within the cache timeout; a failure is counted and logged.
    async fn guard<T>(&self, operation: impl Future<Output = anyhow::Result<T>>) -> Option<T> {
        match tokio::time::timeout(self.timeout, operation).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(error)) => {
                self.metrics.cache_errors.inc();
                tracing::warn!(error = format!("{error:#}"), "cache unavailable; bypassing it");
                None
            }
            Err(_) => {
                self.metrics.cache_errors.inc();
                tracing::warn!(timeout = ?self.timeout, "cache too slow; bypassing it");
                None
            }
        }
    }

    /// Makes everything these generation keys cover stale, in every gateway sharing the store.
    pub async fn invalidate(&self, generation_keys: Vec<String>) {
        let Some(store) = &self.store else { return };
        // Owed bumps are retried in the background; until then this gateway reads nothing cached.
        if self.guard(store.bump(&generation_keys)).await.is_none()
            && let Ok(mut unflushed) = self.unflushed.lock()
        {
            unflushed.extend(generation_keys);
        }
    }

    /// Invalidates after a write that may have happened: one that succeeded, or one whose
    /// outcome is unknown because no answer came. Refused writes changed nothing.
    pub async fn after_write<T>(&self, result: &RpcResult<T>, generation_keys: Vec<String>) {
        let may_have_written = match result {
            Ok(_) => true,
            Err(error) => matches!(error.code, ErrorCode::ServiceUnavailable | ErrorCode::InternalServerError),
        };
        if may_have_written {
            self.invalidate(generation_keys).await;
        }
    }

    /// Reads one field that is always there (a page) through the cache.
    ///
    /// For a field that may be absent, use [`Self::get_optional`]: an absence stored here
    /// encodes as `null`, which reads back as no value at all. Should a value of `T` read back
    /// that way, it is loaded again rather than answered as an error.
    pub async fn get_one<T, F, Fut>(&self, reads: &Reads, key: CacheKey, load: F) -> RpcResult<T>
    where
        T: Serialize + DeserializeOwned,
        F: Fn() -> Fut,
        Fut: Future<Output = RpcResult<T>>,
    {
        match self.get_optional(reads, key, || async { load().await.map(Some) }).await? {
            Some(value) => Ok(value),
            None => load().await,
        }
    }

    /// Reads one field that may be absent (None) through the cache. An absence is cached like
    /// any answer, and read back as an absence.
    pub async fn get_optional<T, F, Fut>(&self, reads: &Reads, key: CacheKey, load: F) -> RpcResult<Option<T>>
    where
        T: Serialize + DeserializeOwned,
        F: Fn() -> Fut,
        Fut: Future<Output = RpcResult<Option<T>>>,
    {
        let mut values = self.get_many(reads, [key], |_| async { Ok(vec![load().await?]) }).await?;
        Ok(values.pop().flatten())
    }

    /// Reads a batch of fields through the cache: one store round trip, then one `load` for
    /// the misses that no concurrent reader is loading already. `load` gets the indices of
    /// the keys to fetch and answers a value (None: absent) for each, in that order.
    ///
    /// `keys` is iterated only when the cache is read: with the cache off, no key is built.
    /// `reads` learns the generation of each key read, or that the cache was bypassed.
    pub async fn get_many<T, K, F, Fut>(&self, reads: &Reads, keys: K, load: F) -> RpcResult<Vec<Option<T>>>
    where
        T: Serialize + DeserializeOwned,
        K: IntoIterator<Item = CacheKey, IntoIter: ExactSizeIterator>,
        F: Fn(Vec<usize>) -> Fut,
        Fut: Future<Output = RpcResult<Vec<Option<T>>>>,
    {
        let keys = keys.into_iter();
        let count = keys.len();
        let all = || (0..count).collect::<Vec<_>>();
        let Some(store) = self.readable_store() else {
            reads.bypassed();
            return load(all()).await;
        };
        let keys: Vec<CacheKey> = keys.collect();
        let Some(found) = self.guard(store.read(&keys)).await else {
            reads.bypassed();
            return load(all()).await;
        };
        reads.saw(&keys, &found);

        let mut results: Vec<Option<Option<T>>> = found.iter().map(|found| decode(found)).collect();
        let misses: Vec<usize> = (0..keys.len()).filter(|&i| results[i].is_none()).collect();
        self.metrics.cache_hits.inc_by((keys.len() - misses.len()) as u64);
        self.metrics.cache_misses.inc_by(misses.len() as u64);
        if misses.is_empty() {
            return Ok(results.into_iter().map(Option::flatten).collect());
        }

        // Single flight: a miss is keyed by value and generation; the first reader leads,
        // later ones follow its load.
        let mut leaders = Vec::new();
        let mut followers = Vec::new();
        let mut guard = FlightGuard { flights: &self.flights, keys: Vec::new() };
        if let Ok(mut flights) = self.flights.lock() {
            for i in misses {
                let flight = format!("{}@{}", keys[i].value, found[i].generation);
                match flights.get(&flight) {
                    Some(shared) => followers.push((i, shared.clone())),
                    None => {
                        let (sender, receiver) = oneshot::channel();
                        flights.insert(flight.clone(), receiver.map(Result::ok).boxed().shared());
                        guard.keys.push(flight);
                        leaders.push((i, sender));
                    }
                }
            }
        }

        // A flight that ended between our read and our look-up has written its value: read
        // again before loading, so a cold key costs one load however readers interleave.
        if !leaders.is_empty() {
            let led: Vec<CacheKey> = leaders.iter().map(|(i, _)| keys[*i].clone()).collect();
            if let Some(again) = self.guard(store.read(&led)).await {
                let mut still_missing = Vec::with_capacity(leaders.len());
                for ((i, sender), found_again) in leaders.into_iter().zip(again) {
                    match (found_again.generation == found[i].generation, found_again.value.clone()) {
                        (true, Some(bytes)) => {
                            results[i] = decode(&found_again);
                            let _ = sender.send(Ok(bytes));
                        }
                        _ => still_missing.push((i, sender)),
                    }
                }
                leaders = still_missing;
            }
        }

        if !leaders.is_empty() {
            let indices: Vec<usize> = leaders.iter().map(|(i, _)| *i).collect();
            match load(indices).await {
                Ok(values) => {
                    let mut entries = Vec::with_capacity(values.len());
                    let mut answers = Vec::with_capacity(values.len());
                    for ((i, sender), value) in leaders.into_iter().zip(values) {
                        let bytes = serde_json::to_vec(&value).map_err(|_| RpcError::internal())?;
                        entries.push((keys[i].clone(), found[i].generation, bytes.clone()));
                        answers.push((sender, bytes));
                        results[i] = Some(value);
                    }
                    self.guard(store.write(&entries, self.ttl)).await;
                    for (sender, bytes) in answers {
                        let _ = sender.send(Ok(bytes));
                    }
                }
                Err(error) => {
                    // Shared with readers waiting now, never stored.
                    for (_, sender) in leaders {
                        let _ = sender.send(Err(error.clone()));
                    }
                    return Err(error);
                }
            }
        }
        drop(guard);

        let mut orphans = Vec::new();
        for (i, flight) in followers {
            match flight.await {
                Some(Ok(bytes)) => results[i] = serde_json::from_slice(&bytes).ok(),
                Some(Err(error)) => return Err(error),
                None => orphans.push(i),
            }
        }
        // A leader that went away (its request was cancelled): load those ourselves.
        if !orphans.is_empty() {
            let values = load(orphans.clone()).await?;
            for (i, value) in orphans.into_iter().zip(values) {
                results[i] = Some(value);
            }
        }
        Ok(results.into_iter().map(Option::flatten).collect())
    }
}

/// A cached value: `Some(value)` on a hit (the value itself may be an absence), None on a miss.
fn decode<T: DeserializeOwned>(found: &Found) -> Option<Option<T>> {
    serde_json::from_slice(found.value.as_deref()?).ok()
}

/// Removes a leader's flights however its load ends, so nobody follows a dead flight.
struct FlightGuard<'a> {
    flights: &'a Mutex<HashMap<String, Flight>>,
    keys: Vec<String>,
}

impl Drop for FlightGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut flights) = self.flights.lock() {
            for key in &self.keys {
                flights.remove(key);
            }
        }
    }
}
