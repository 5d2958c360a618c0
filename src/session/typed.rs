//! `AppSession`: the session as handlers see it, with every key name in one place.
//!
//! actix-session's `Session` is a map of strings; spelling keys by hand in every
//! handler invites typos and type confusion. This wrapper gives each piece of
//! session data a method, and is the only code that knows the key names.

use std::{
    cell::RefCell,
    future::{Ready, ready},
    rc::Rc,
};

use actix_session::{Session, SessionExt, SessionStatus};
use actix_web::{FromRequest, HttpRequest, dev::Payload};
use serde::{Serialize, de::DeserializeOwned};
use subtle::ConstantTimeEq;

use crate::{
    csrf::{self, FormToken, PreSession},
    random::random_hex,
};

/// The visit counter's name: the store merges it by addition (see `startup.rs`).
pub(crate) const VISITS: &str = "visits";
const USER_ID: &str = "user_id";
const USERNAME: &str = "username";
const USER_AGENT: &str = "user_agent";
const CREDENTIALS_VERSION: &str = "credentials_version";
const CSRF_TOKEN: &str = "csrf_token";
const CART_ID: &str = "cart_id";
const FLASH: &str = "flash";

/// Every name above: what this app stores. A session holding none of them
/// holds nothing worth a row (see [`AppSession::holds_anything`]).
const STORED: [&str; 8] = [
    VISITS,
    USER_ID,
    USERNAME,
    USER_AGENT,
    CREDENTIALS_VERSION,
    CSRF_TOKEN,
    CART_ID,
    FLASH,
];

/// The signed-in user, as remembered by the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedInUser {
    /// The user's id in the `users` table.
    pub id: i64,
    /// The name the user signs in with (kept in the session so pages need no query).
    pub username: String,
}

/// A typed view over the current request's session, and over the form token
/// the browser holds while its session holds nothing (`csrf.rs`).
#[derive(Clone)]
pub struct AppSession {
    session: Session,
    pre_session: Rc<RefCell<PreSession>>,
}

impl FromRequest for AppSession {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // The pre-session cookie's settings are registered once in
        // `startup.rs`; without them no form can work, so their absence is a
        // bug, not bad input.
        ready(match csrf::pre_session(req) {
            Some(pre_session) => Ok(Self::of(req, pre_session)),
            None => Err(actix_web::error::ErrorInternalServerError(
                "PreSessionCookie is not registered as app data",
            )),
        })
    }
}

impl AppSession {
    /// The session of `req`, with its pre-session state.
    pub(crate) fn of(req: &HttpRequest, pre_session: Rc<RefCell<PreSession>>) -> Self {
        Self {
            session: req.get_session(),
            pre_session,
        }
    }

    /// Reads a value; a value that does not decode is treated as absent, never as an error.
    fn get<T: DeserializeOwned>(&self, key: &str) -> Option<T> {
        self.session.get(key).ok().flatten()
    }

    /// Stores a value. `insert` marks the session changed, so the middleware saves it.
    /// (actix-session's `update` does not, which is why it is never used here.)
    ///
    /// The first value a session stores brings along the form token of the
    /// pre-session cookie, if the browser has one: from now on the session
    /// holds it (and the pre-session cookie is removed), so the forms already
    /// on the browser's pages keep working.
    fn set<T: Serialize>(&self, key: &str, value: T) {
        if !self.session.contains_key(CSRF_TOKEN) {
            let form = self.pre_session.borrow().current().cloned();
            if let Some(form) = form {
                self.adopt(&form);
            }
        }
        self.insert(key, value);
    }

    /// `insert`, logging the impossible failure.
    fn insert<T: Serialize>(&self, key: &str, value: T) {
        // Serializing a number or string into JSON cannot fail.
        if let Err(error) = self.session.insert(key, value) {
            log::error!("could not store session value {key}: {error}");
        }
    }

    /// Makes `form` this session's CSRF token, and its cart id the session's
    /// unless the session has a cart already.
    fn adopt(&self, form: &FormToken) {
        self.insert(CSRF_TOKEN, &form.token);
        if self.cart_id_in_session().is_none() {
            self.insert(CART_ID, &form.cart_id);
        }
    }

    /// Whether the session holds anything worth storing: any value this app
    /// stores. A session that does not is not saved at all (no row, no
    /// cookie), and its forms' token lives in the pre-session cookie.
    pub fn holds_anything(&self) -> bool {
        STORED.iter().any(|name| self.session.contains_key(name))
    }

    /// Whether this request ended the session (logout).
    pub fn is_ended(&self) -> bool {
        self.session.status() == SessionStatus::Purged
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
        self.session.renew();
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
        self.session.renew();
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
        self.session.purge();
    }

    /// The CSRF token for this page's forms, created (with the cart id) on first use.
    ///
    /// Forms embed it in a hidden field and every POST must send it back. A page
    /// on another site can make the browser send our cookies, but cannot read
    /// our pages, so it cannot know the token.
    ///
    /// A session that holds something keeps the token itself. For one that
    /// holds nothing, the token lives in the pre-session cookie instead
    /// (`csrf.rs`), so that showing a form stores no row.
    ///
    /// The cart id is created here too, together with the first form the
    /// browser sees: every POST needs this token, so every POST then finds a
    /// cart id already in place, and twenty simultaneous "add to cart"
    /// requests never race to create twenty different carts.
    pub fn csrf_token_or_create(&self) -> String {
        if let Some(token) = self.existing_csrf_token() {
            return token;
        }
        let Some(form) = self.pre_session.borrow_mut().current_or_make() else {
            return String::new(); // No randomness: every POST will be refused.
        };
        if self.holds_anything() {
            self.adopt(&form);
        }
        form.token
    }

    /// The session's CSRF token if it has one, without creating it.
    pub fn existing_csrf_token(&self) -> Option<String> {
        self.get(CSRF_TOKEN)
            .filter(|token: &String| !token.is_empty())
    }

    /// True when `submitted` is the token this browser was given (compared in
    /// constant time): the session's, or, while the session has none, the one
    /// in the pre-session cookie the browser sent with this very request.
    pub fn csrf_token_matches(&self, submitted: &str) -> bool {
        let expected = self.existing_csrf_token().or_else(|| {
            self.pre_session
                .borrow()
                .sent()
                .map(|form| form.token.clone())
        });
        match expected {
            Some(token) if !token.is_empty() => {
                bool::from(token.as_bytes().ct_eq(submitted.as_bytes()))
            }
            _ => false,
        }
    }

    /// The cart id the session itself holds.
    fn cart_id_in_session(&self) -> Option<String> {
        self.get(CART_ID).filter(|id: &String| !id.is_empty())
    }

    /// The id of this browser's cart, if it has one: the session's, or the one
    /// made with the pre-session token.
    pub fn cart_id(&self) -> Option<String> {
        self.cart_id_in_session().or_else(|| {
            self.pre_session
                .borrow()
                .current()
                .map(|form| form.cart_id.clone())
        })
    }

    /// The id of this session's cart, stored in the session (which is then
    /// saved): the browser's cart id, or a new one if it has none yet.
    ///
    /// Call it when something goes into the cart. Normally the id exists
    /// already, made with the form token before any POST could arrive.
    pub fn cart_id_or_create(&self) -> String {
        if let Some(id) = self.cart_id_in_session() {
            return id;
        }
        let id = self
            .cart_id()
            .or_else(|| random_hex::<16>().ok())
            .unwrap_or_default();
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
        self.session.remove(FLASH);
        Some(message)
    }

    /// Everything the session holds, as the store keeps it (for the inspector);
    /// the store's own bookkeeping entry, which is never stored, left out.
    pub fn entries(&self) -> Vec<(String, String)> {
        let mut entries: Vec<_> = self
            .session
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
