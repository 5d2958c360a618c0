//! Session keys: how they are made, and the digest that is stored instead of them.

use sha2::{Digest, Sha256};

/// The number of random bytes in a session key (256 bits: unguessable).
const KEY_BYTES: usize = 32;

/// Makes a new session key: 32 random bytes from the operating system, as 64 hex digits.
pub fn generate() -> Result<String, getrandom::Error> {
    random_hex::<KEY_BYTES>()
}

/// `N` random bytes as lowercase hex; also used for CSRF tokens and cart ids.
pub fn random_hex<const N: usize>() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)?;
    Ok(hex(&bytes))
}

/// The SHA-256 digest of a session key: what the `sessions` table stores.
///
/// A plain, unsalted hash is enough here (unlike for passwords): the key is 256
/// random bits, so nobody can guess keys to hash, and the digest cannot be turned
/// back into a key a browser could present.
pub fn digest(session_key: &str) -> [u8; 32] {
    Sha256::digest(session_key.as_bytes()).into()
}

/// Lowercase hexadecimal text of some bytes.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
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

    #[test]
    fn the_digest_is_sha256() {
        assert_eq!(
            hex(&digest("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
