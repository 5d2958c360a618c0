//! Device cookies: telling the owner's browser apart from a stranger's.
//!
//! Locking a username after ten failed logins stops password guessing, but on
//! its own it is also a lever against the owner: anyone can type ten wrong
//! passwords for `alice` and keep her out. OWASP's answer is the *device
//! cookie*, and this module is its cookie half (the counting is in
//! `throttle.rs`, the decision in `login.rs`):
//!
//! - a browser that signs in successfully as a user gets a device cookie for
//!   that user: a random device id, encrypted and authenticated with the app's
//!   cookie key, so it can be neither read nor forged;
//! - at the next login for that user, a browser that presents a genuine device
//!   cookie for that very username is a **trusted device**: it has a failure
//!   budget of its own, which strangers cannot use up;
//! - every other client (no cookie, a forged one, one encrypted under another
//!   secret, one for another user) is **untrusted**; the untrusted clients of a
//!   username share one budget, so guessing is still stopped.
//!
//! One cookie per username (`device-<name in lower case>`), so a browser shared
//! by two accounts is trusted for both. The private jar binds the cookie's
//! name into its encryption, so a cookie cannot be renamed to another user's.
//! In production the name carries the `__Host-` prefix, like the session
//! cookie: the browser then insists on `Secure`, `Path=/` and no `Domain`, so a
//! sibling site cannot plant one.

use actix_web::{
    HttpRequest,
    cookie::{Cookie, CookieJar, Key, SameSite, time},
};

use super::credentials::Username;
use crate::random::random_hex;

/// How long a browser stays trusted after its last successful sign-in.
pub const LIFETIME: time::Duration = time::Duration::days(180);

/// A trusted browser: the random id inside its device cookie for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceId(String);

impl DeviceId {
    /// The id as stored with the browser's failed logins.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How device cookies are named, sealed and flagged; kept as app data.
#[derive(Clone)]
pub struct DeviceCookies {
    key: Key,
    secure: bool,
    host_prefix: bool,
}

impl DeviceCookies {
    /// Device cookies sealed with `key` (the session cookie's key), `Secure`
    /// when the session cookie is, and `__Host-` prefixed when `host_prefix`.
    pub fn new(key: Key, secure: bool, host_prefix: bool) -> Self {
        Self {
            key,
            secure,
            host_prefix,
        }
    }

    /// The cookie's name for `username`.
    pub fn name(&self, username: &Username) -> String {
        let prefix = if self.host_prefix { "__Host-" } else { "" };
        format!("{prefix}device-{}", username.key())
    }

    /// The device id of this browser if it presents a genuine device cookie
    /// for `username`; `None` for an untrusted client.
    pub fn trusted(&self, req: &HttpRequest, username: &Username) -> Option<DeviceId> {
        let name = self.name(username);
        let mut jar = CookieJar::new();
        jar.add_original(req.cookie(&name)?);
        // Decryption fails for a forged value, another secret, or another name.
        let cookie = jar.private(&self.key).get(&name)?;
        let (user, id) = cookie.value().split_once(' ')?;
        (user == username.key() && !id.is_empty()).then(|| DeviceId(id.to_owned()))
    }

    /// A new device cookie for `username`, with a fresh random device id.
    pub fn issue(&self, username: &Username) -> anyhow::Result<Cookie<'static>> {
        let name = self.name(username);
        let id = random_hex::<16>()
            .map_err(|e| anyhow::anyhow!("no randomness for a device id: {e}"))?;
        let cookie = Cookie::build(name.clone(), format!("{} {id}", username.key()))
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .max_age(LIFETIME)
            .finish();
        let mut jar = CookieJar::new();
        jar.private_mut(&self.key).add(cookie);
        Ok(jar
            .get(&name)
            .cloned()
            .unwrap_or_else(|| Cookie::new(name, "")))
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn alice() -> Username {
        Username::parse("Alice").expect("valid")
    }

    #[test]
    fn an_issued_cookie_is_trusted_for_its_user_only() {
        let devices = DeviceCookies::new(Key::generate(), true, true);
        let cookie = devices.issue(&alice()).expect("random");
        assert_eq!(cookie.name(), "__Host-device-alice");
        assert!(!cookie.value().contains("alice"), "encrypted");
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(cookie.secure(), Some(true));
        assert_eq!(cookie.same_site(), Some(SameSite::Lax));

        let req = TestRequest::default()
            .cookie(cookie.clone())
            .to_http_request();
        let id = devices.trusted(&req, &alice()).expect("trusted");
        assert_eq!(id.as_str().len(), 32);

        // The same value under another user's name does not decrypt.
        let bob = Username::parse("bob").expect("valid");
        let renamed = Cookie::new(devices.name(&bob), cookie.value().to_owned());
        let req = TestRequest::default().cookie(renamed).to_http_request();
        assert_eq!(devices.trusted(&req, &bob), None);

        // Another key (another secret) does not decrypt it either.
        let other = DeviceCookies::new(Key::generate(), true, true);
        let req = TestRequest::default().cookie(cookie).to_http_request();
        assert_eq!(other.trusted(&req, &alice()), None);
    }
}
