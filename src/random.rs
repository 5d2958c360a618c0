//! Random tokens from the operating system: CSRF tokens, cart ids and the
//! development cookie secret. (Session keys are the store's business.)

/// `N` random bytes as `2 * N` lowercase hex digits.
pub fn random_hex<const N: usize>() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes)?;
    Ok(hex::encode(bytes))
}
