//! Automatic persisted queries, Apollo's `persistedQuery` extension: a client sends the SHA-256
//! of its query text (`{"extensions":{"persistedQuery":{"version":1,"sha256Hash":"<hex>"}}}`)
//! instead of the text; a gateway that does not know it answers PERSISTED_QUERY_NOT_FOUND, and
//! the client sends the text with the hash, which registers it. Over POST, in batches, and GET.
//!
//! [`resolve`] runs per operation, after the text passed MAX_QUERY_BYTES and before it is
//! parsed: a hash alone becomes its text, a text with a hash must be that hash's. The text is
//! registered ([`Registration`]) once its document passed the limits, so only texts that could
//! run are stored.
//!
//! [`PersistedQueries`] holds the texts: in Redis when there is one, shared by every gateway on
//! it (`<CACHE_KEY_PREFIX>:apq:<hash>`, [`TTL`] from registration), and in this process's memory
//! (bounded by the texts' size), which is the only store when embedded. A text never changes
//! under its hash, so the memory copy is never stale. A Redis that fails or is slow is bypassed
//! as the field cache does (counted in `gateway_cache_errors_total`): a hash it would have known
//! is not found, and the client sends the text.

use std::{future::Future, sync::Arc, time::Duration};

use async_graphql::{Request, Value};
use quick_cache::{Weighter, sync::Cache};
use sha2::{Digest, Sha256};

use super::error::RequestError;
use crate::{cache::store::RedisStore, metrics::Metrics};

/// The extension's name in a request's `extensions`.
const EXTENSION: &str = "persistedQuery";
/// How long Redis keeps a registered text: counted from its registration and not refreshed on
/// use, so a text nobody sends again goes; one still in use costs its clients one retry with
/// the text a day.
pub const TTL: Duration = Duration::from_secs(24 * 3600);
/// The total length of the texts kept in memory.
const MEMORY_BYTES: u64 = 4 * 1024 * 1024;
/// What a typical text's length is, to size the table.
const TYPICAL_TEXT: u64 = 512;

/// Whether a request names a persisted query (well formed or not): then it may leave `query`
/// out.
pub fn is_named(request: &Request) -> bool {
    request.extensions.contains_key(EXTENSION)
}

/// What [`resolve`] leaves to do once the document passed the limits: register its text.
#[must_use]
pub struct Registration {
    hash: String,
}

impl Registration {
    pub async fn register(self, store: &PersistedQueries, text: &str) {
        store.register(self.hash, text).await;
    }
}

/// Reads the request's `persistedQuery` extension, if it has one: a hash alone is replaced by
/// its text (PERSISTED_QUERY_NOT_FOUND when the store does not know it); a text sent with a
/// hash must be what it hashes to (BAD_REQUEST otherwise), and is then to be registered.
pub async fn resolve(store: &PersistedQueries, request: &mut Request) -> Result<Option<Registration>, RequestError> {
    let Some(hash) = hash_of(request)? else { return Ok(None) };
    if request.query.is_empty() {
        let text = store.find(&hash).await.ok_or(RequestError::PersistedQueryNotFound)?;
        request.query = String::from(&*text);
        Ok(None)
    } else if sha256_hex(&request.query) == hash {
        Ok(Some(Registration { hash }))
    } else {
        Err(RequestError::PersistedQueryMismatch)
    }
}

/// The hash of the request's `persistedQuery` extension: version 1, 64 lowercase hex digits
/// (what Apollo's link sends, and what any key in the store is).
fn hash_of(request: &Request) -> Result<Option<String>, RequestError> {
    let Some(extension) = request.extensions.get(EXTENSION) else { return Ok(None) };
    let Value::Object(fields) = extension else { return Err(RequestError::PersistedQueryMalformed) };
    let version = fields.get("version").and_then(|version| match version {
        Value::Number(number) => number.as_u64(),
        _ => None,
    });
    match (version, fields.get("sha256Hash")) {
        (Some(1), Some(Value::String(hash)))
            if hash.len() == 64 && hash.bytes().all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f')) =>
        {
            Ok(Some(hash.clone()))
        }
        _ => Err(RequestError::PersistedQueryMalformed),
    }
}

/// The SHA-256 of a text, in lowercase hex.
pub fn sha256_hex(text: &str) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(64);
    for byte in digest.iter() {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    hex
}

#[derive(Clone)]
struct TextLength;

impl Weighter<String, Arc<str>> for TextLength {
    fn weight(&self, hash: &String, text: &Arc<str>) -> u64 {
        (hash.len() + text.len()) as u64
    }
}

/// The registered texts, by hash: in memory, and in Redis when there is one.
pub struct PersistedQueries {
    memory: Cache<String, Arc<str>, TextLength>,
    redis: Option<Arc<RedisStore>>,
    /// CACHE_KEY_PREFIX.
    prefix: String,
    /// CACHE_TIMEOUT_MS: how long one Redis operation may take before it is bypassed.
    timeout: Duration,
    metrics: Metrics,
}

impl PersistedQueries {
    pub fn new(redis: Option<Arc<RedisStore>>, prefix: &str, timeout: Duration, metrics: Metrics) -> Self {
        let items = (MEMORY_BYTES / TYPICAL_TEXT) as usize;
        let memory = Cache::with_weighter(items, MEMORY_BYTES, TextLength);
        Self { memory, redis, prefix: prefix.to_owned(), timeout, metrics }
    }

    /// In memory only: embedded mode, and the unit tests.
    pub fn in_memory() -> Self {
        Self::new(None, "", Duration::ZERO, Metrics::new())
    }

    fn key(&self, hash: &str) -> String {
        format!("{}:apq:{hash}", self.prefix)
    }

    /// The text registered under `hash`, if this gateway or one on the same Redis has it.
    async fn find(&self, hash: &str) -> Option<Arc<str>> {
        if let Some(text) = self.memory.get(hash) {
            return Some(text);
        }
        let redis = self.redis.as_ref()?;
        let bytes = self.guard(redis.get_plain(&self.key(hash))).await.flatten()?;
        // What Redis holds is checked like a client's text: only a text of this hash runs.
        let text = String::from_utf8(bytes).ok().filter(|text| sha256_hex(text) == hash)?;
        let text: Arc<str> = text.into();
        self.memory.insert(hash.to_owned(), text.clone());
        Some(text)
    }

    async fn register(&self, hash: String, text: &str) {
        if let Some(redis) = &self.redis {
            self.guard(redis.set_plain(&self.key(&hash), text.as_bytes(), TTL)).await;
        }
        self.memory.insert(hash, text.into());
    }

    /// Runs a Redis operation within the cache timeout; a failure is counted and logged, and
    /// the gateway goes on without it.
    async fn guard<T>(&self, operation: impl Future<Output = anyhow::Result<T>>) -> Option<T> {
        match tokio::time::timeout(self.timeout, operation).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(error)) => {
                self.metrics.cache_errors.inc();
                tracing::warn!(error = format!("{error:#}"), "persisted queries: Redis unavailable; bypassing it");
                None
            }
            Err(_) => {
                self.metrics.cache_errors.inc();
                tracing::warn!(timeout = ?self.timeout, "persisted queries: Redis too slow; bypassing it");
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str, extensions: serde_json::Value) -> Request {
        let mut request = Request::new(query);
        request.extensions = serde_json::from_value(extensions).unwrap();
        request
    }

    fn persisted(hash: &str) -> serde_json::Value {
        serde_json::json!({ "persistedQuery": { "version": 1, "sha256Hash": hash } })
    }

    #[test]
    fn the_hash_is_sha256_in_lowercase_hex() {
        // `printf '{ __typename }' | sha256sum`
        assert_eq!(sha256_hex("{ __typename }"), "7f56e67dd21ab3f30d1ff8b7bed08893f0a0db86449836189b361dd1e56ddb4b");
    }

    #[tokio::test]
    async fn a_hash_alone_is_not_found_until_its_text_is_registered() {
        let store = PersistedQueries::in_memory();
        let text = "{ __typename }";
        let hash = sha256_hex(text);
        let mut alone = request("", persisted(&hash));
        assert!(matches!(resolve(&store, &mut alone).await, Err(RequestError::PersistedQueryNotFound)));

        let mut with_text = request(text, persisted(&hash));
        let registration = resolve(&store, &mut with_text).await.unwrap().expect("to register");
        registration.register(&store, &with_text.query).await;
        assert!(resolve(&store, &mut alone).await.unwrap().is_none());
        assert_eq!(alone.query, text);
    }

    #[tokio::test]
    async fn a_text_must_be_its_hashs_and_the_extension_well_formed() {
        let store = PersistedQueries::in_memory();
        let mut other = request("{ __typename }", persisted(&sha256_hex("{ other }")));
        assert!(matches!(resolve(&store, &mut other).await, Err(RequestError::PersistedQueryMismatch)));
        let hash = sha256_hex("{ __typename }");
        for extensions in [
            serde_json::json!({ "persistedQuery": { "version": 2, "sha256Hash": hash } }),
            serde_json::json!({ "persistedQuery": { "sha256Hash": hash } }),
            persisted(&hash.to_uppercase()),
            persisted(&hash[1..]),
            serde_json::json!({ "persistedQuery": true }),
        ] {
            let mut malformed = request("{ __typename }", extensions.clone());
            assert!(
                matches!(resolve(&store, &mut malformed).await, Err(RequestError::PersistedQueryMalformed)),
                "{extensions}"
            );
        }
        let mut other_extension = request("{ __typename }", serde_json::json!({ "tracing": { "version": 2 } }));
        assert!(resolve(&store, &mut other_extension).await.unwrap().is_none());
    }
}
