//! Whole answers: a repeated query (same document, operation, variables and caller) answered
//! from one stored response, never stale.
//!
//! - While a query runs, [`Reads`] records the generation of every field-cache key it reads
//!   ([`FieldCache::get_many`] reports each one). Those generations cover everything the answer
//!   holds: every field a cacheable query reaches is read through the field cache
//!   (`crate::request::answer` decides which queries are cacheable).
//! - Its answer is stored with those generations, and only if the query read every field
//!   through the cache and saw each generation at one value.
//! - A later request gets it back only if every one of them is still current, checked by the
//!   store in the same round trip that reads the answer ([`Store::read_answer`]: one Lua script
//!   in Redis). A write bumps the generations of what it changed before its mutation answers,
//!   so an answer that read any of it is never served again.
//! - No tags to invalidate by hand and no TTL to wait out: the generations the field cache
//!   keeps already say what changed. The TTL only bounds memory.
//! - An answer is stored per caller (not per view): `viewer` differs between two admins.

use std::{
    collections::{HashMap, hash_map::Entry},
    io::Write as _,
    sync::{Arc, Mutex},
};

use axum::body::Bytes;
use rpc::Caller;

use super::{
    FieldCache,
    keys::Keys,
    store::{AnswerRead, CacheKey, Found},
};

/// The most generations one stored answer is checked against; an answer that read more is not
/// stored (its check would cost more than it saves). 100 orders with their users read 101.
pub const MAX_GENERATIONS: usize = 1024;

/// The largest answer stored, in bytes.
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// The generations one request's field-cache reads saw, or nothing when it does not record.
#[derive(Clone, Default)]
pub struct Reads(Option<Arc<Mutex<Seen>>>);

#[derive(Default)]
struct Seen {
    generations: HashMap<String, u64>,
    /// The collections' generations when the request began (`Keys::collections`): what an
    /// answer that read many records of one is checked against instead of each record's.
    collections: Vec<(String, u64)>,
    /// Something was read around the cache (it was bypassed, or failed), or one generation was
    /// seen at two values (a write landed while the query ran): the answer cannot be stored.
    unsound: bool,
}

impl Reads {
    /// Records nothing: a request whose answer is not kept.
    pub fn off() -> Self {
        Self(None)
    }

    /// Records the generations the request's reads see.
    pub fn recording() -> Self {
        Self(Some(Arc::default()))
    }

    /// [`Self::recording`], the collections' generations read before the request began.
    fn seeded(collections: Vec<(String, u64)>) -> Self {
        Self(Some(Arc::new(Mutex::new(Seen { collections, ..Seen::default() }))))
    }

    fn with(&self, change: impl FnOnce(&mut Seen)) {
        if let Some(seen) = &self.0 {
            match seen.lock() {
                Ok(mut seen) => change(&mut seen),
                Err(poisoned) => poisoned.into_inner().unsound = true,
            }
        }
    }

    /// These keys were read at these generations.
    pub(super) fn saw(&self, keys: &[CacheKey], found: &[Found]) {
        self.with(|seen| {
            for (key, found) in keys.iter().zip(found) {
                match seen.generations.entry(key.generation.clone()) {
                    Entry::Vacant(entry) => {
                        entry.insert(found.generation);
                    }
                    Entry::Occupied(entry) => seen.unsound |= *entry.get() != found.generation,
                }
            }
        });
    }

    /// Something was read without the cache: what it read has no generation to check.
    pub(super) fn bypassed(&self) {
        self.with(|seen| seen.unsound = true);
    }

    /// The generations an answer may be stored under: None when it may not be (see
    /// [`Seen::unsound`]), when it read nothing through the cache (running it again costs no
    /// I/O), or too much.
    ///
    /// Past [`COARSEN_PAST`] records of one collection, the answer is checked against the
    /// collection's generation as it was before the request began, instead of each record's:
    /// every write to one of its records bumps it too, so it covers them all (a few more misses,
    /// a check of one key instead of a hundred). Taken before any read, it can only be older
    /// than what the reads saw, never newer, so a write during the request leaves nothing stored
    /// that could be served.
    fn generations(&self, keys: &Keys) -> Option<Vec<(String, u64)>> {
        let seen = self.0.as_ref()?.lock().ok()?;
        if seen.unsound || seen.generations.is_empty() {
            return None;
        }
        let mut records = vec![0_usize; seen.collections.len()];
        for key in seen.generations.keys() {
            if let Some(count) = keys.covering(key).and_then(|index| records.get_mut(index)) {
                *count += 1;
            }
        }
        let coarse = |index: usize| records.get(index).is_some_and(|&count| count > COARSEN_PAST);
        let mut generations: Vec<(String, u64)> = seen
            .generations
            .iter()
            .filter(|(key, _)| !keys.covering(key).is_some_and(coarse))
            .map(|(key, generation)| (key.clone(), *generation))
            .collect();
        for (index, (collection, before)) in seen.collections.iter().enumerate() {
            if !coarse(index) {
                continue;
            }
            match seen.generations.get(collection) {
                // Read itself (a page), and kept above: at the value it had before, or a write landed.
                Some(read) if read != before => return None,
                Some(_) => {}
                None => generations.push((collection.clone(), *before)),
            }
        }
        (generations.len() <= MAX_GENERATIONS).then_some(generations)
    }
}

/// How many records of one collection an answer is checked against one by one; past it, against
/// the collection (see [`Reads::generations`]).
pub const COARSEN_PAST: usize = 8;

/// What [`FieldCache::answer`] found.
pub enum Answered {
    /// The stored answer's body, current.
    Hit(Bytes),
    /// None current: what the request's reads see goes into these, to store its answer.
    Miss(Reads),
}

/// Where one request's whole answer is stored: `<prefix>:answer:<caller>:<hash>`, the hash
/// being the 128-bit XXH3 of the operation name, the document's text and the variables. The
/// caller is in clear, so no crafted collision can reach another caller's answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerKey(pub String);

impl FieldCache {
    /// The key of `caller`'s answer to this request.
    pub fn answer_key(
        &self,
        caller: Caller,
        query: &str,
        operation_name: Option<&str>,
        variables: &async_graphql::Variables,
    ) -> AnswerKey {
        let mut hasher = Hasher(xxhash_rust::xxh3::Xxh3::new());
        hasher.0.update(operation_name.unwrap_or_default().as_bytes());
        hasher.0.update(b"\0");
        hasher.0.update(query.as_bytes());
        hasher.0.update(b"\0");
        // Writing JSON into a hasher fails only if the hasher does, which it never does.
        let _ = serde_json::to_writer(&mut hasher, variables);
        let caller = match caller {
            Caller::User(id) => format!("u{}", id.simple()),
            Caller::Admin(id) => format!("a{}", id.simple()),
            Caller::Service => "service".to_owned(),
            Caller::Anonymous => "anonymous".to_owned(),
        };
        AnswerKey(format!("{}:answer:{caller}:{:032x}", self.keys.prefix(), hasher.0.digest128()))
    }

    /// Whether whole answers are kept: the cache is on and `CACHE_ANSWERS` too.
    pub fn keeps_answers(&self) -> bool {
        self.answers && self.store.is_some()
    }

    /// The answer stored under `key`, if every generation it was read under is still current;
    /// else the [`Reads`] to run the request with (seeded with the collections' generations, in
    /// the same round trip). None when the cache cannot be read.
    pub async fn answer(&self, key: &AnswerKey) -> Option<Answered> {
        let store = self.readable_store().filter(|_| self.answers)?;
        match self.guard(store.read_answer(&key.0, &self.collections)).await? {
            AnswerRead::Current(body) => {
                self.metrics.answer_hits.inc();
                Some(Answered::Hit(Bytes::from(body)))
            }
            AnswerRead::Missing(generations) => {
                self.metrics.answer_misses.inc();
                Some(Answered::Miss(Reads::seeded(self.collections.iter().cloned().zip(generations).collect())))
            }
        }
    }

    /// Stores `body`, the answer to the request of `key`, under the generations its reads saw.
    /// Nothing is stored when those reads cannot vouch for it ([`Reads::generations`]). The
    /// response waits for it (one round trip), so the same query sent next is answered from it.
    pub async fn keep_answer(&self, key: AnswerKey, reads: &Reads, body: &[u8]) {
        let Some(generations) = reads.generations(&self.keys) else { return };
        if body.len() > MAX_ANSWER_BYTES {
            return;
        }
        let Some(store) = self.readable_store().filter(|_| self.answers) else { return };
        self.guard(store.write_answer(&key.0, &generations, body, self.ttl)).await;
    }
}

/// An `io::Write` that feeds XXH3, for the variables' JSON.
struct Hasher(xxhash_rust::xxh3::Xxh3);

impl std::io::Write for Hasher {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A stored answer: the number of generations, each generation key and its value, one per
/// line, then the body. A generation key holds no newline (it is built from the prefix and
/// ids), and the body is read as the rest, so nothing needs escaping.
pub(super) fn encode(generations: &[(String, u64)], body: &[u8]) -> Vec<u8> {
    let mut entry = Vec::with_capacity(body.len() + generations.len() * 64 + 8);
    let _ = writeln!(entry, "{}", generations.len());
    for (key, generation) in generations {
        let _ = writeln!(entry, "{key}\n{generation}");
    }
    entry.extend_from_slice(body);
    entry
}

/// The body of a stored answer whose generations `current` says are all still current.
pub(super) fn decode(entry: &[u8], current: impl Fn(&str) -> u64) -> Option<&[u8]> {
    let mut rest = entry;
    let mut line = || {
        let end = rest.iter().position(|&byte| byte == b'\n')?;
        let text = std::str::from_utf8(&rest[..end]).ok();
        rest = &rest[end + 1..];
        text
    };
    let count: usize = line()?.parse().ok()?;
    for _ in 0..count {
        let key = line()?;
        let generation: u64 = line()?.parse().ok()?;
        if current(key) != generation {
            return None;
        }
    }
    Some(rest)
}

/// [`decode`] inside Redis: reads the answer (KEYS[1]) and every generation it names, in one
/// round trip, and returns the body only if each is still current (a generation never bumped
/// reads as 0); else the current generations of the collections KEYS[2..], as an array. The
/// generation keys an answer names are not declared (they are inside the value), so this runs on
/// a standalone or replicated Redis, not on Redis Cluster.
pub(super) const READ_ANSWER_SCRIPT: &str = r"
local entry = redis.call('GET', KEYS[1])
if entry then
  local at, current = 1, true
  local function line()
    local stop = string.find(entry, '\n', at, true)
    if not stop then return nil end
    local text = string.sub(entry, at, stop - 1)
    at = stop + 1
    return text
  end
  local count = tonumber(line())
  if not count then current = false end
  for _ = 1, count or 0 do
    local key, generation = line(), line()
    if not generation or (redis.call('GET', key) or '0') ~= generation then
      current = false
      break
    end
  end
  if current then return string.sub(entry, at) end
end
local collections = {}
for i = 2, #KEYS do collections[i - 1] = redis.call('GET', KEYS[i]) or '0' end
return collections
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_answer_reads_back_only_while_every_generation_is_current() {
        let generations = vec![("p:gen:user:1".to_owned(), 3), ("p:gen:orders".to_owned(), 0)];
        let body = b"{\"data\":{\"a\":\"line\\nbreak\"}}\n";
        let entry = encode(&generations, body);
        let now = |key: &str| if key == "p:gen:user:1" { 3 } else { 0 };
        assert_eq!(decode(&entry, now), Some(&body[..]));
        let bumped = |key: &str| if key == "p:gen:orders" { 1 } else { 3 };
        assert_eq!(decode(&entry, bumped), None);
        assert_eq!(decode(b"garbage", now), None);
    }

    #[test]
    fn reads_vouch_only_for_answers_read_through_the_cache_at_one_generation() {
        let keys = Keys::new("p");
        let key = |generation: &str| CacheKey { generation: generation.to_owned(), value: "v".to_owned() };
        let found = |generation| Found { generation, value: None };
        let reads = Reads::recording();
        assert_eq!(reads.generations(&keys), None, "an answer that read nothing is not worth storing");
        reads.saw(&[key("g:a"), key("g:b")], &[found(1), found(2)]);
        reads.saw(&[key("g:a")], &[found(1)]);
        let mut generations = reads.generations(&keys).unwrap();
        generations.sort();
        assert_eq!(generations, vec![("g:a".to_owned(), 1), ("g:b".to_owned(), 2)]);

        let raced = Reads::recording();
        raced.saw(&[key("g:a")], &[found(1)]);
        raced.saw(&[key("g:a")], &[found(2)]);
        assert_eq!(raced.generations(&keys), None, "a write landed while the query ran");

        let bypassed = Reads::recording();
        bypassed.saw(&[key("g:a")], &[found(1)]);
        bypassed.bypassed();
        assert_eq!(bypassed.generations(&keys), None);
        assert_eq!(Reads::off().generations(&keys), None);
    }

    #[test]
    fn an_answer_of_many_records_is_checked_against_their_collection_as_it_was_before() {
        let keys = Keys::new("p");
        let collections = keys.collections();
        let (users, orders) = (collections[0].clone(), collections[1].clone());
        let found = |generation| Found { generation, value: None };
        let page = keys.orders_page(100, None, None, rpc::PageExtras::default());
        let read = |reads: &Reads, many: usize, page_at: u64| {
            let ids: Vec<uuid::Uuid> = (0..many).map(|_| uuid::Uuid::now_v7()).collect();
            let users: Vec<CacheKey> = ids.iter().map(|id| keys.user(*id)).collect();
            reads.saw(&users, &vec![found(5); users.len()]);
            reads.saw(std::slice::from_ref(&page), &[found(page_at)]);
        };
        let few = Reads::seeded(vec![(users.clone(), 7), (orders.clone(), 3)]);
        read(&few, COARSEN_PAST, 3);
        let generations = few.generations(&keys).unwrap();
        assert_eq!(generations.len(), COARSEN_PAST + 1, "a few records are checked one by one");
        assert!(!generations.iter().any(|(key, _)| *key == users));

        let many = Reads::seeded(vec![(users.clone(), 7), (orders.clone(), 3)]);
        read(&many, 100, 3);
        let mut generations = many.generations(&keys).unwrap();
        generations.sort();
        assert_eq!(generations, vec![(page.generation.clone(), 3), (users.clone(), 7)]);

        let raced = Reads::seeded(vec![(users, 7), (orders, 3)]);
        read(&raced, 100, 4);
        assert!(raced.generations(&keys).is_some(), "orders, read at 4 and not coarsened, is kept as read");
    }
}
