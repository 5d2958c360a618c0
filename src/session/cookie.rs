//! The session cookie's configuration, made once at start (`startup.rs`) and
//! shared by everything that reads or writes the cookie: actix-session's
//! middleware (`middleware.rs`), secret rotation (`rotation.rs`), the
//! extractor of this request's key digest (`current.rs`), logout's removal
//! cookie, and the device cookies, which are sealed with the same key.

use actix_web::cookie::Key;

/// How the session cookie is named, sealed and flagged; kept as app data.
#[derive(Clone)]
pub struct CookieConfig {
    /// The cookie's name: `session`, or `__Host-session` in production.
    pub name: String,
    /// The key that encrypts it (derived from `SESSION_SECRET`).
    pub key: Key,
    /// The key of `SESSION_SECRET_PREVIOUS`, still accepted while the secret
    /// is rotated out (see `rotation.rs`).
    pub previous: Option<Key>,
    /// Sent over HTTPS only (`Secure`).
    pub secure: bool,
    /// The `__Host-` prefix (production): the browser insists on `Secure`,
    /// `Path=/` and no `Domain`. The device cookies carry it too.
    pub host_prefix: bool,
}
