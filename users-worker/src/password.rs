//! Password hashing: argon2id with m = 19456 KiB, t = 2, p = 1, the minimum RFC 9106 and
//! OWASP recommend, stored as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`).
//!
//! Hashing costs tens of milliseconds of CPU and 19 MiB of memory on purpose, so it runs on
//! tokio's blocking pool, and at most one hash per core runs at a time: a burst of creates
//! (prefetch 32) then waits in line instead of taking 32 × 19 MiB and starving the runtime.

use std::sync::LazyLock;

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use tokio::sync::Semaphore;

use crate::validation::Password;

/// Memory cost in KiB (19 MiB).
pub const MEMORY_KIB: u32 = 19_456;
/// Passes over the memory.
pub const ITERATIONS: u32 = 2;
/// Lanes.
pub const PARALLELISM: u32 = 1;

static HASHING_SLOTS: LazyLock<Semaphore> =
    LazyLock::new(|| Semaphore::new(std::thread::available_parallelism().map_or(1, usize::from)));

fn argon2() -> anyhow::Result<Argon2<'static>> {
    let params = Params::new(MEMORY_KIB, ITERATIONS, PARALLELISM, None)
        .map_err(|error| anyhow::anyhow!("invalid argon2 parameters: {error}"))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Runs `work` on the blocking pool once a hashing slot is free.
async fn on_blocking_pool<T: Send + 'static>(
    work: impl FnOnce() -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let _slot = HASHING_SLOTS.acquire().await?;
    tokio::task::spawn_blocking(work).await?
}

/// Hashes `password` with a fresh random salt into a PHC string.
pub async fn hash(password: Password) -> anyhow::Result<String> {
    on_blocking_pool(move || {
        let hash = argon2()?
            .hash_password(password.expose().as_bytes())
            .map_err(|error| anyhow::anyhow!("cannot hash a password: {error}"))?;
        Ok(hash.to_string())
    })
    .await
}

/// Whether `password` matches the PHC string `hash`. The parameters come from `hash` itself,
/// so hashes made with other parameters keep verifying. Errors only on a malformed hash.
pub async fn verify(password: String, hash: String) -> anyhow::Result<bool> {
    on_blocking_pool(move || match argon2()?.verify_password(password.as_bytes(), hash.as_str()) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(error) => Err(anyhow::anyhow!("cannot verify a password: {error}")),
    })
    .await
}

/// A hash of a password nobody knows, made once with the same parameters as every stored
/// one: `login` verifies against it when no user has the login, so that answer takes as long
/// as a wrong password.
static DUMMY_HASH: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

pub async fn dummy_hash() -> anyhow::Result<String> {
    DUMMY_HASH
        .get_or_try_init(|| async {
            let password = format!("no one's password {}", uuid::Uuid::now_v7());
            hash(Password::parse(crate::validation::field::PASSWORD, password)?).await
        })
        .await
        .cloned()
}

/// Makes [`dummy_hash`] before the first request needs it.
pub async fn warm_up() -> anyhow::Result<()> {
    dummy_hash().await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::field;

    fn hash(password: &str) -> impl Future<Output = anyhow::Result<String>> {
        super::hash(Password::parse(field::PASSWORD, password.to_owned()).unwrap())
    }

    #[tokio::test]
    async fn hashes_are_argon2id_phc_strings_with_the_owasp_parameters() {
        let hash = hash("correct horse").await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(!hash.contains("correct horse"));
    }

    #[tokio::test]
    async fn the_same_password_hashes_differently_each_time() {
        let first = hash("correct horse").await.unwrap();
        let second = hash("correct horse").await.unwrap();
        assert_ne!(first, second);
    }

    #[tokio::test]
    async fn only_the_right_password_verifies() {
        let hash = hash("correct horse").await.unwrap();
        assert!(verify("correct horse".to_owned(), hash.clone()).await.unwrap());
        assert!(!verify("correct horsE".to_owned(), hash).await.unwrap());
    }

    #[tokio::test]
    async fn a_malformed_hash_is_an_error_not_a_mismatch() {
        assert!(verify("correct horse".to_owned(), "not a hash".to_owned()).await.is_err());
    }
}
