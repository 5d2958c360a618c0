//! Password hashing with Argon2id, always off the async workers.
//!
//! Hashing is deliberately slow (that is what makes stolen hashes expensive to
//! crack), tens of milliseconds of pure CPU. Done on an async worker it would
//! stall every other request that worker serves, so both functions here move the
//! work to Tokio's blocking thread pool with `spawn_blocking`.

use std::sync::LazyLock;

use argon2::{
    Algorithm, Argon2, Params, PasswordHash, Version,
    password_hash::{PasswordHasher, PasswordVerifier},
};

/// Argon2id with OWASP's recommended minimum: 19 MiB of memory, 2 passes, 1 lane.
fn hasher() -> Argon2<'static> {
    // These constants are valid parameters, so `Params::new` cannot fail here;
    // the fallback is Argon2's own default, which is the same values.
    let params = Params::new(19 * 1024, 2, 1, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A hash to verify against when the username does not exist, so that an
/// unknown user takes exactly as long to refuse as a wrong password: the
/// response time must not reveal which usernames exist.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    hasher()
        .hash_password(b"dummy password that never matches")
        .map(|hash| hash.to_string())
        .unwrap_or_default()
});

/// Hashes a password into a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`)
/// with a fresh random salt, on the blocking pool.
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        hasher()
            .hash_password(password.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password failed: {e}"))
    })
    .await?
}

/// Checks a password against a stored PHC hash, on the blocking pool.
///
/// With `None` (no such user) it checks against [`DUMMY_HASH`] and returns
/// false, taking the same time as a real check.
pub async fn verify(password: String, stored_hash: Option<String>) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let exists = stored_hash.is_some();
        let phc = stored_hash.unwrap_or_else(|| DUMMY_HASH.clone());
        let parsed = PasswordHash::new(&phc)
            .map_err(|e| anyhow::anyhow!("a stored password hash is malformed: {e}"))?;
        // The parameters come from the stored hash, so old hashes keep working
        // after the parameters are raised.
        let matches = hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(exists && matches)
    })
    .await?
}

/// Computes the dummy hash ahead of the first login (called at start).
pub async fn warm_up() {
    let _ = tokio::task::spawn_blocking(|| DUMMY_HASH.len()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let stored = hash("correct horse".into()).await.expect("hashes");
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            verify("correct horse".into(), Some(stored.clone()))
                .await
                .expect("ok")
        );
        assert!(
            !verify("wrong horse".into(), Some(stored))
                .await
                .expect("ok")
        );
        assert!(
            !verify("dummy password that never matches".into(), None)
                .await
                .expect("ok")
        );
    }
}
