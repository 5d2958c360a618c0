//! Which session row is this request's? Reading the key back out of the cookie.
//!
//! Handlers normally never see the session key: actix-session keeps it to
//! itself. Two pages need to know which row is "this session" (the account
//! page marks it, the inspector shows it), so this decrypts the cookie the same
//! way the middleware does, and hands out only the key's digest.

use actix_web::{
    HttpRequest,
    cookie::{CookieJar, Key},
};

use actix_session_postgres::key;

/// The cookie's name and the key that encrypts it, kept as app data.
#[derive(Clone)]
pub struct SessionCookie {
    /// The cookie's name.
    pub name: String,
    /// The cookie encryption key (derived from `SESSION_SECRET`).
    pub key: Key,
}

impl SessionCookie {
    /// The SHA-256 digest of the session key this request's cookie carries, if
    /// the cookie is present and decrypts.
    pub fn key_digest(&self, req: &HttpRequest) -> Option<[u8; 32]> {
        let cookie = req.cookie(&self.name)?;
        let mut jar = CookieJar::new();
        jar.add_original(cookie);
        let decrypted = jar.private(&self.key).get(&self.name)?;
        Some(key::digest(decrypted.value()))
    }

    /// Whether the request sent a session cookie at all (decryptable or not).
    pub fn was_sent(&self, req: &HttpRequest) -> bool {
        req.cookie(&self.name).is_some()
    }
}
