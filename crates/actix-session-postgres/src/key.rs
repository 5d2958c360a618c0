//! Session keys: how they are made, and the digest that is stored instead of them.

use sha2::{Digest, Sha256};

/// The number of random bytes in a session key (256 bits: unguessable).
const KEY_BYTES: usize = 32;

/// Makes a new session key: 32 random bytes from the operating system, as 64
/// lowercase hex digits.
///
/// ```
/// let key = actix_session_postgres::key::generate().expect("randomness");
/// assert_eq!(key.len(), 64);
/// ```
pub fn generate() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; KEY_BYTES];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}

/// The SHA-256 digest of a session key: what the `sessions` table stores in
/// `key_hash`, and what every query looks a session up by.
///
/// A plain, unsalted hash is enough here (unlike for passwords): the key is
/// 256 random bits, so nobody can guess keys to hash, and the digest cannot be
/// turned back into a key a browser could present.
///
/// ```
/// use actix_session_postgres::key;
///
/// assert_eq!(
///     hex::encode(key::digest("abc")),
///     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
/// );
/// ```
pub fn digest(session_key: &str) -> [u8; 32] {
    Sha256::digest(session_key.as_bytes()).into()
}

/// The first four bytes of a digest in hex: enough to find a session's row in
/// the logs and the database (`WHERE key_hash >= '\\x...'`), far too little to
/// guess anything. Log lines name sessions this way, never by key.
pub fn digest_prefix(digest: &[u8; 32]) -> String {
    hex::encode(&digest[..4])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_64_hex_digits_and_distinct() {
        let a = generate().expect("randomness");
        let b = generate().expect("randomness");
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
