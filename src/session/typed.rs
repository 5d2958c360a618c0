//! `AppSession`: the session as handlers see it, with every key name in one place.
//!
//! actix-session's `Session` is a map of strings; spelling keys by hand in every
//! handler invites typos and type confusion. This wrapper gives each piece of
//! session data a method, and is the only code that knows the key names.

use std::future::{Ready, ready};

use actix_session::{Session, SessionExt};
use actix_web::{FromRequest, HttpRequest, dev::Payload};
use serde::{Serialize, de::DeserializeOwned};
use subtle::ConstantTimeEq;

use crate::random::random_hex;

/// The visit counter's name: the store merges it by addition (see `startup.rs`).
pub(crate) const VISITS: &str = "visits";
const USER_ID: &str = "user_id";
const USERNAME: &str = "username";
const USER_AGENT: &str = "user_agent";
const CREDENTIALS_VERSION: &str = "credentials_version";
const CSRF_TOKEN: &str = "csrf_token";
const CART_ID: &str = "cart_id";
const FLASH: &str = "flash";

/// The signed-in user, as remembered by the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedInUser {
    /// The user's id in the `users` table.
    pub id: i64,
    /// The name the user signs in with (kept in the session so pages need no query).
    pub username: String,
}

/// A typed view over the current request's session.
#[derive(Clone)]
pub struct AppSession(Session);

impl FromRequest for AppSession {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ok(AppSession(req.get_session())))
    }
}

impl AppSession {
    /// Reads a value; a value that does not decode is treated as absent, never as an error.
    fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.0.get(key).ok().flatten()
    }

    /// Stores a value. `insert` marks the session changed, so the middleware saves it.
    /// (actix-session's `update` does not, which is why it is never used here.)
    fn set<T: Serialize>(&self, key: &str, value: T) {
        // Serializing a number or string into JSON cannot fail.
        if let Err(error) = self.0.insert(key, value) {
            log::error!("could not store session value {key}: {error}");
        }
    }

    /// How many times this session has seen the counter page.
    pub fn visits(&self) -> u64 {
        self.get(VISITS).unwrap_or(0)
    }

    /// Counts one more visit and returns the new count (this visit included).
    pub fn record_visit(&self) -> u64 {
        let visits = self.visits().saturating_add(1);
        self.set(VISITS, visits);
        visits
    }

    /// The signed-in user, if any.
    pub fn user(&self) -> Option<SignedInUser> {
        Some(SignedInUser {
            id: self.get(USER_ID)?,
            username: self.get(USERNAME)?,
        })
    }

    /// Signs the session in as `user`, whose password (at `credentials_version`)
    /// was just checked.
    ///
    /// The session gets a **new key** (the old row is deleted, the data moves to a
    /// new one): whoever knew the pre-login key, for example because they planted
    /// it in the victim's browser (session fixation), now holds a dead key.
    /// Everything else in the session, such as the cart, comes along. The CSRF
    /// token is replaced for the same reason as the key.
    ///
    /// The credentials version goes along so that PostgreSQL can refuse to
    /// store this sign-in if the password has changed meanwhile
    /// (migrations/0005).
    pub fn sign_in(&self, user: &SignedInUser, credentials_version: i64, user_agent: &str) {
        self.0.renew();
        self.set(USER_ID, user.id);
        self.set(USERNAME, &user.username);
        self.set(CREDENTIALS_VERSION, credentials_version);
        // Control characters cannot be stored in PostgreSQL text (NUL) or shown sensibly.
        let user_agent: String = truncate(user_agent, 256)
            .chars()
            .filter(|c| !c.is_control())
            .collect();
        self.set(USER_AGENT, user_agent);
        self.replace_csrf_token();
    }

    /// After a password change: a new key, the new credentials version, and
    /// the rest of the data kept.
    pub fn renew_credentials(&self, credentials_version: i64) {
        self.0.renew();
        self.set(CREDENTIALS_VERSION, credentials_version);
        self.replace_csrf_token();
    }

    /// A new CSRF token for a session whose key was just renewed.
    ///
    /// The old token was on pages served before the renewal, so it goes with the
    /// old key. The new one is made at once rather than by the next page: a
    /// session that is signed in always has a token, so even a logout must
    /// carry it (a signed-in session without a token could be logged out by any
    /// other site's form).
    fn replace_csrf_token(&self) {
        self.set(CSRF_TOKEN, random_hex::<32>().unwrap_or_default());
    }

    /// Ends the session: the middleware deletes its row and removes the cookie.
    pub fn sign_out(&self) {
        self.0.purge();
    }

    /// This session's CSRF token, created (with the cart id) on first use.
    ///
    /// Forms embed it in a hidden field and every POST must send it back. A page
    /// on another site can make the browser send our cookie, but cannot read our
    /// pages, so it cannot know the token.
    pub fn csrf_token(&self) -> String {
        if let Some(token) = self.get::<String>(CSRF_TOKEN) {
            return token;
        }
        let token = random_hex::<32>().unwrap_or_default();
        self.set(CSRF_TOKEN, &token);
        // The cart id is created here too, together with the first form the
        // session sees: every POST needs this token, so every POST then finds a
        // cart id already in place, and twenty simultaneous "add to cart"
        // requests never race to create twenty different carts.
        self.cart_id_or_create();
        token
    }

    /// The CSRF token if the session has one, without creating it.
    pub fn existing_csrf_token(&self) -> Option<String> {
        self.get(CSRF_TOKEN)
    }

    /// True when `submitted` is this session's CSRF token (compared in constant time).
    pub fn csrf_token_matches(&self, submitted: &str) -> bool {
        match self.get::<String>(CSRF_TOKEN) {
            Some(token) if !token.is_empty() => {
                bool::from(token.as_bytes().ct_eq(submitted.as_bytes()))
            }
            _ => false,
        }
    }

    /// The id of this session's cart lines, if the session has one.
    pub fn cart_id(&self) -> Option<String> {
        self.get(CART_ID).filter(|id: &String| !id.is_empty())
    }

    /// The id of this session's cart, created if the session has none yet.
    ///
    /// Creating it here is a last resort: normally `csrf_token` created it
    /// already, before any POST could arrive.
    pub fn cart_id_or_create(&self) -> String {
        if let Some(id) = self.cart_id() {
            return id;
        }
        let id = random_hex::<16>().unwrap_or_default();
        self.set(CART_ID, &id);
        id
    }

    /// Leaves a message for the next page this session shows.
    pub fn set_flash(&self, message: &str) {
        self.set(FLASH, message);
    }

    /// Takes the pending message, if any: it is shown once.
    pub fn take_flash(&self) -> Option<String> {
        let message = self.get(FLASH)?;
        self.0.remove(FLASH);
        Some(message)
    }

    /// Everything the session holds, as the store keeps it (for the inspector);
    /// the store's own bookkeeping entry, which is never stored, left out.
    pub fn entries(&self) -> Vec<(String, String)> {
        let mut entries: Vec<_> = self
            .0
            .entries()
            .iter()
            .filter(|(name, _)| !actix_session_postgres::is_reserved_key(name))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        entries.sort();
        entries
    }
}

/// At most `max` bytes of `text`, cut at a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}
