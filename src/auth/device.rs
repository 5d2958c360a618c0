//! Device cookies: telling the owner's browser apart from a stranger's.
//!
//! Locking a username after ten failed logins stops password guessing, but on
//! its own it is also a lever against the owner: anyone can type ten wrong
//! passwords for `alice` and keep her out. OWASP's answer is the *device
//! cookie*, and this module is its cookie half (the counting is in
//! `throttle.rs`, the decision in `login.rs`):
//!
//! - a browser that signs in successfully as a user gets a device cookie for
//!   that user: a random device id, the time it was issued, and the user's
//!   credentials and devices versions, encrypted and authenticated with the
//!   app's cookie key, so it can be neither read nor forged;
//! - at the next login for that user, a browser that presents a genuine device
//!   cookie for that very username is a **trusted device**, as long as the
//!   cookie is younger than [`LIFETIME`] and its versions are still the
//!   user's: it has a failure budget of its own, which strangers cannot use
//!   up;
//! - every other client (no cookie, a forged one, one encrypted under another
//!   secret, one for another user, an expired one, one from before the
//!   password changed or before the owner chose "forget all trusted devices"
//!   on the account page) is **untrusted**; the untrusted clients of a
//!   username share one budget, so guessing is still stopped.
//!
//! The cookie's `Max-Age` is only a hint to the browser; the issue time sealed
//! inside is what the server goes by, so a copied cookie stops being trusted
//! after [`LIFETIME`] whatever the browser holding it does. A stolen one stops
//! being trusted as soon as the owner changes the password (the credentials
//! version moves on) or forgets all devices (the devices version moves on);
//! the owner's own browser gets a fresh cookie at the password change.
//!
//! One cookie per username (`device-<name in lower case>`), so a browser shared
//! by two accounts is trusted for both. The private jar binds the cookie's
//! name into its encryption, so a cookie cannot be renamed to another user's.
//! In production the name carries the `__Host-` prefix, like the session
//! cookie: the browser then insists on `Secure`, `Path=/` and no `Domain`, so a
//! sibling site cannot plant one.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::{
    HttpRequest,
    cookie::{Cookie, CookieJar, Key, SameSite, time},
};

use super::{credentials::Username, users::User};
use crate::random::random_hex;

/// How long a browser stays trusted after its last successful sign-in.
pub const LIFETIME: Duration = Duration::from_secs(180 * 24 * 3600);

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
    /// for `username` that is still trusted for `user` (the account of that
    /// name, `None` if there is none); `None` for an untrusted client.
    pub fn trusted(
        &self,
        req: &HttpRequest,
        username: &Username,
        user: Option<&User>,
    ) -> Option<DeviceId> {
        let user = user?;
        let name = self.name(username);
        let mut jar = CookieJar::new();
        jar.add_original(req.cookie(&name)?);
        // Decryption fails for a forged value, another secret, or another name.
        let cookie = jar.private(&self.key).get(&name)?;
        let sealed = Sealed::parse(cookie.value())?;
        let age = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()?
            .saturating_sub(Duration::from_secs(sealed.issued_at));
        let trusted = sealed.user == username.key()
            && !sealed.id.is_empty()
            && age < LIFETIME
            && sealed.credentials_version == user.credentials_version
            && sealed.devices_version == user.devices_version;
        trusted.then(|| DeviceId(sealed.id.to_owned()))
    }

    /// A new device cookie for `username` (the account `user`), with a fresh
    /// random device id, issued now.
    pub fn issue(&self, username: &Username, user: &User) -> anyhow::Result<Cookie<'static>> {
        self.issue_at(username, user, SystemTime::now())
    }

    /// A new device cookie as [`DeviceCookies::issue`] makes it, but issued at
    /// `issued_at` (tests use it to make one that has expired).
    pub fn issue_at(
        &self,
        username: &Username,
        user: &User,
        issued_at: SystemTime,
    ) -> anyhow::Result<Cookie<'static>> {
        let name = self.name(username);
        let id = random_hex::<16>()
            .map_err(|e| anyhow::anyhow!("no randomness for a device id: {e}"))?;
        let issued_at = issued_at.duration_since(UNIX_EPOCH)?.as_secs();
        let value = format!(
            "{} {id} {issued_at} {} {}",
            username.key(),
            user.credentials_version,
            user.devices_version
        );
        let cookie = Cookie::build(name.clone(), value)
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .max_age(time::Duration::try_from(LIFETIME)?)
            .finish();
        let mut jar = CookieJar::new();
        jar.private_mut(&self.key).add(cookie);
        Ok(jar
            .get(&name)
            .cloned()
            .unwrap_or_else(|| Cookie::new(name, "")))
    }

    /// A cookie that makes the browser forget its device cookie for
    /// `username` (same attributes, or a browser keeps a `__Host-` one).
    pub fn removal(&self, username: &Username) -> Cookie<'static> {
        let mut removal = Cookie::build(self.name(username), "")
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .finish();
        removal.make_removal();
        removal
    }
}

/// What a device cookie's value holds, once decrypted:
/// `<user> <device id> <issued, Unix seconds> <credentials version> <devices version>`.
struct Sealed<'a> {
    user: &'a str,
    id: &'a str,
    issued_at: u64,
    credentials_version: i64,
    devices_version: i64,
}

impl<'a> Sealed<'a> {
    /// Reads a decrypted value; `None` for any other shape (a cookie of an
    /// older release, which sealed only the user and the id, is untrusted).
    fn parse(value: &'a str) -> Option<Self> {
        let mut parts = value.split(' ');
        let sealed = Self {
            user: parts.next()?,
            id: parts.next()?,
            issued_at: parts.next()?.parse().ok()?,
            credentials_version: parts.next()?.parse().ok()?,
            devices_version: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(sealed)
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn alice() -> Username {
        Username::parse("Alice").expect("valid")
    }

    fn account(credentials_version: i64, devices_version: i64) -> User {
        User {
            id: 1,
            username: "Alice".into(),
            password_hash: String::new(),
            credentials_version,
            devices_version,
        }
    }

    fn presenting(cookie: &Cookie<'static>) -> HttpRequest {
        TestRequest::default()
            .cookie(cookie.clone())
            .to_http_request()
    }

    #[test]
    fn an_issued_cookie_is_trusted_for_its_user_only() {
        let devices = DeviceCookies::new(Key::generate(), true, true);
        let user = account(1, 1);
        let cookie = devices.issue(&alice(), &user).expect("random");
        assert_eq!(cookie.name(), "__Host-device-alice");
        assert!(!cookie.value().contains("alice"), "encrypted");
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(cookie.secure(), Some(true));
        assert_eq!(cookie.same_site(), Some(SameSite::Lax));

        let id = devices
            .trusted(&presenting(&cookie), &alice(), Some(&user))
            .expect("trusted");
        assert_eq!(id.as_str().len(), 32);
        assert_eq!(devices.trusted(&presenting(&cookie), &alice(), None), None);

        // The same value under another user's name does not decrypt.
        let bob = Username::parse("bob").expect("valid");
        let renamed = Cookie::new(devices.name(&bob), cookie.value().to_owned());
        assert_eq!(
            devices.trusted(&presenting(&renamed), &bob, Some(&user)),
            None
        );

        // Another key (another secret) does not decrypt it either.
        let other = DeviceCookies::new(Key::generate(), true, true);
        assert_eq!(
            other.trusted(&presenting(&cookie), &alice(), Some(&user)),
            None
        );
    }

    #[test]
    fn an_expired_or_outdated_cookie_is_untrusted() {
        let devices = DeviceCookies::new(Key::generate(), false, false);
        let user = account(3, 2);
        let trusted = |cookie: &Cookie<'static>, user: &User| {
            devices
                .trusted(&presenting(cookie), &alice(), Some(user))
                .is_some()
        };
        let day = Duration::from_secs(24 * 3600);
        let at = |age: Duration| {
            devices
                .issue_at(&alice(), &user, SystemTime::now() - age)
                .expect("random")
        };
        assert!(trusted(&at(LIFETIME - day), &user));
        assert!(!trusted(&at(LIFETIME + day), &user), "expired");
        let fresh = at(Duration::ZERO);
        assert!(
            !trusted(&fresh, &account(4, 2)),
            "the password changed since"
        );
        assert!(
            !trusted(&fresh, &account(3, 3)),
            "the devices were forgotten since"
        );

        // A cookie of the release before, holding only the user and an id.
        let mut jar = CookieJar::new();
        jar.private_mut(&devices.key).add(Cookie::new(
            "device-alice",
            format!("alice {}", "ab".repeat(16)),
        ));
        let old = jar.get("device-alice").cloned().expect("sealed");
        assert!(!trusted(&old, &user));
    }
}
