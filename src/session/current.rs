//! Which session row is this request's? Reading the key back out of the cookie.
//!
//! Handlers normally never see the session key: actix-session keeps it to
//! itself. Some pages need to know which row is "this session" (the account
//! page marks it and keeps it when ending the others, the inspector shows it),
//! so [`CurrentSessionDigest`] decrypts the cookie the same way the middleware
//! does and hands a handler only the key's digest.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, cookie::CookieJar, dev::Payload, web};

use actix_session_postgres::key;

use super::cookie::CookieConfig;
use crate::error::AppError;

impl CookieConfig {
    /// The SHA-256 digest of the session key this request's cookie carries, if
    /// the cookie is present and decrypts.
    fn key_digest(&self, req: &HttpRequest) -> Option<[u8; 32]> {
        let cookie = req.cookie(&self.name)?;
        let mut jar = CookieJar::new();
        jar.add_original(cookie);
        let decrypted = jar.private(&self.key).get(&self.name)?;
        Some(key::digest(decrypted.value()))
    }
}

/// This request's session, as the store knows it: the digest of the key its
/// cookie carries. Take it as a handler argument.
///
/// Extracting it never fails for a request without a cookie, or with one that
/// does not decrypt: [`CurrentSessionDigest::digest`] is then `None`, and
/// [`CurrentSessionDigest::cookie_sent`] says which of the two it was.
#[derive(Debug, Clone, Copy)]
pub struct CurrentSessionDigest {
    digest: Option<[u8; 32]>,
    cookie_sent: bool,
}

impl CurrentSessionDigest {
    /// The SHA-256 digest of the session key, if the cookie is present and
    /// decrypts. This is what the `sessions` table stores in `key_hash`.
    pub fn digest(&self) -> Option<[u8; 32]> {
        self.digest
    }

    /// Whether the request sent a session cookie at all (decryptable or not).
    pub fn cookie_sent(&self) -> bool {
        self.cookie_sent
    }
}

impl FromRequest for CurrentSessionDigest {
    type Error = AppError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // The cookie settings are registered once in `startup.rs`; without
        // them no route can work, so their absence is a bug, not bad input.
        let Some(cookie) = req.app_data::<web::Data<CookieConfig>>() else {
            return ready(Err(AppError::Internal(anyhow::anyhow!(
                "CookieConfig is not registered as app data"
            ))));
        };
        ready(Ok(Self {
            digest: cookie.key_digest(req),
            cookie_sent: req.cookie(&cookie.name).is_some(),
        }))
    }
}
