//! `AUTH_SECRET`: given, or in embedded mode generated once and kept under `DATA_DIR`, so a
//! restart keeps every token valid.

use std::{io::Write as _, path::Path};

use anyhow::Context as _;
use base64::Engine as _;

/// The secret a value of `AUTH_SECRET` gives: its bytes as written.
#[derive(Clone)]
pub struct AuthSecret(String);

impl AuthSecret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::str::FromStr for AuthSecret {
    type Err = std::convert::Infallible;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Ok(Self(value.to_owned()))
    }
}

// A secret never reaches a log through `{:?}`.
impl std::fmt::Debug for AuthSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthSecret(..)")
    }
}

/// The file under `DATA_DIR` that keeps embedded mode's secret.
pub const SECRET_FILE: &str = "auth-secret";

/// The secret kept under `data_dir`, made (48 random bytes, base64) and written readable by
/// its owner only when there is none yet.
pub fn kept_under(data_dir: &Path) -> anyhow::Result<AuthSecret> {
    let path = data_dir.join(SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) if !text.trim().is_empty() => return Ok(AuthSecret(text.trim().to_owned())),
        Ok(_) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => return Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
    let mut bytes = [0u8; 48];
    getrandom::fill(&mut bytes).map_err(|error| anyhow::anyhow!("no randomness for AUTH_SECRET: {error}"))?;
    let secret = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(&path) {
        Ok(mut file) => {
            file.write_all(secret.as_bytes()).with_context(|| format!("cannot write {}", path.display()))?;
            tracing::info!(path = %path.display(), "generated AUTH_SECRET for embedded mode");
            Ok(AuthSecret(secret))
        }
        // Another process made it first: theirs is the one.
        Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => kept_under(data_dir),
        Err(error) => Err(error).with_context(|| format!("cannot create {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = kept_under(dir.path()).unwrap();
        assert!(first.bytes().len() >= super::super::tokens::MIN_SECRET_BYTES);
        assert_eq!(kept_under(dir.path()).unwrap().bytes(), first.bytes());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.path().join(SECRET_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(format!("{first:?}"), "AuthSecret(..)");
    }
}
