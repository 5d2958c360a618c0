//! Where a form's CSRF token lives while the session holds nothing.
//!
//! Every POST form carries a `csrf_token` field that must match the token the
//! server gave this browser (`AppSession::csrf_token_matches`). Once a session
//! holds something worth storing (a visit, a cart line, a sign-in), the token
//! is part of it. Before that, keeping the token in the session would mean
//! storing a row for every visitor who merely *looks* at a form: every
//! cookieless `GET /login`, `/register` or `/cart`, which anyone can repeat
//! millions of times an hour to fill the `sessions` table. (express-session's
//! `saveUninitialized: false` makes the same choice.)
//!
//! So until the session holds something, the token, and the cart id made
//! together with it, live in a cookie of their own, the **pre-session
//! cookie**:
//!
//! - `csrf` (`__Host-csrf` in production), its value encrypted and
//!   authenticated with the session cookie's key (AES-256-GCM, with the
//!   cookie's name bound in), so it can be neither read nor forged nor passed
//!   off as another cookie;
//! - `HttpOnly`, `SameSite=Lax`, `Path=/`, and `Secure` when the session cookie
//!   is; no `Max-Age`, so it ends with the browser session;
//! - a POST passes when its `csrf_token` field equals the token in this cookie
//!   (the "double-submit" pattern): another site can make the browser *send*
//!   the cookie, but can read neither it nor our pages;
//! - the moment the session stores anything, the token and the cart id move
//!   into it (`AppSession::set`) and `pre_session_cookie` removes the cookie
//!   on that response. Logging out removes it too.
//!
//! The cart id travels with the token so that a visitor's first adds to the
//! cart all land in one cart: twenty simultaneous "add" requests of a browser
//! that has no session yet each create a session, but every one of them
//! carries the same cart id, from the same cookie.
//!
//! What it does not stop: someone who can set cookies for this host (a sibling
//! subdomain, or a network attacker on plain HTTP) could plant a pre-session
//! cookie whose token they know. The `__Host-` prefix in production makes the
//! browser refuse such cookies from anyone but this host over HTTPS.

use std::{cell::RefCell, rc::Rc};

use actix_web::{
    HttpMessage, HttpRequest,
    body::MessageBody,
    cookie::{Cookie, CookieJar, Key, SameSite},
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
    web,
};

use crate::{random::random_hex, session::AppSession};

/// A form's CSRF token and the cart id made together with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormToken {
    /// The secret every form sends back (64 hex digits).
    pub token: String,
    /// The id the browser's cart will have (32 hex digits).
    pub cart_id: String,
}

impl FormToken {
    /// A new random token and cart id; `None` if the system has no randomness
    /// to give (then no form can be protected, and POSTs are refused).
    pub fn random() -> Option<Self> {
        Some(Self {
            token: random_hex::<32>().ok()?,
            cart_id: random_hex::<16>().ok()?,
        })
    }
}

/// How the pre-session cookie is named, sealed and flagged; kept as app data.
#[derive(Clone)]
pub struct PreSessionCookie {
    key: Key,
    name: String,
    secure: bool,
}

impl PreSessionCookie {
    /// The cookie sealed with `key` (the session cookie's), `Secure` when
    /// `secure`, named `__Host-csrf` when `host_prefix`, else `csrf`.
    pub fn new(key: Key, secure: bool, host_prefix: bool) -> Self {
        let name = if host_prefix { "__Host-csrf" } else { "csrf" };
        Self {
            key,
            name: name.to_owned(),
            secure,
        }
    }

    /// The cookie's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The token and cart id in `req`'s pre-session cookie, if it sent a
    /// genuine one.
    fn read(&self, req: &HttpRequest) -> Option<FormToken> {
        let mut jar = CookieJar::new();
        jar.add_original(req.cookie(&self.name)?);
        // Decryption fails for a forged value, another secret, or another name.
        let cookie = jar.private(&self.key).get(&self.name)?;
        let (token, cart_id) = cookie.value().split_once(' ')?;
        let hex = |text: &str, len: usize| {
            text.len() == len && text.bytes().all(|b| b.is_ascii_hexdigit())
        };
        (hex(token, 64) && hex(cart_id, 32)).then(|| FormToken {
            token: token.to_owned(),
            cart_id: cart_id.to_owned(),
        })
    }

    fn build(&self, value: String) -> Cookie<'static> {
        Cookie::build(self.name.clone(), value)
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(SameSite::Lax)
            .finish()
    }

    /// The cookie carrying `form`, sealed.
    fn seal(&self, form: &FormToken) -> Cookie<'static> {
        let mut jar = CookieJar::new();
        jar.private_mut(&self.key)
            .add(self.build(format!("{} {}", form.token, form.cart_id)));
        jar.get(&self.name)
            .cloned()
            .unwrap_or_else(|| self.build(String::new()))
    }

    /// A cookie that makes the browser forget the pre-session cookie (with the
    /// same attributes, or a browser would keep a `__Host-` one).
    fn removal(&self) -> Cookie<'static> {
        let mut removal = self.build(String::new());
        removal.make_removal();
        removal
    }
}

/// This request's pre-session token: the one its cookie carried, and the one
/// made for it, if any. Every [`AppSession`] of one request shares it.
#[derive(Debug, Default)]
pub struct PreSession {
    /// A cookie of that name was sent (genuine or not).
    cookie_sent: bool,
    /// The token and cart id of a genuine pre-session cookie.
    sent: Option<FormToken>,
    /// A token made on this request, for a browser that had none.
    made: Option<FormToken>,
}

impl PreSession {
    /// The token a POST of this request may carry: only one the browser sent.
    pub fn sent(&self) -> Option<&FormToken> {
        self.sent.as_ref()
    }

    /// The token of this request: the one the browser sent, or one made on it.
    pub fn current(&self) -> Option<&FormToken> {
        self.sent.as_ref().or(self.made.as_ref())
    }

    /// The token of this request, made now if the browser sent none.
    pub fn current_or_make(&mut self) -> Option<FormToken> {
        if self.current().is_none() {
            self.made = FormToken::random();
        }
        self.current().cloned()
    }
}

/// The pre-session state of `req`, read from its cookie on first use.
///
/// `None` when the app has no [`PreSessionCookie`] registered (a bug in
/// assembling the app, not bad input).
pub fn pre_session(req: &HttpRequest) -> Option<Rc<RefCell<PreSession>>> {
    if let Some(shared) = req.extensions().get::<Rc<RefCell<PreSession>>>() {
        return Some(shared.clone());
    }
    let config = req.app_data::<web::Data<PreSessionCookie>>()?;
    let shared = Rc::new(RefCell::new(PreSession {
        cookie_sent: req.cookie(&config.name).is_some(),
        sent: config.read(req),
        made: None,
    }));
    req.extensions_mut().insert(shared.clone());
    Some(shared)
}

/// Sets or removes the pre-session cookie once the handler has run.
///
/// Wrapped inside actix-session's middleware, so it sees the session as the
/// handler left it:
/// - the session holds something, or was ended (logout): a pre-session cookie
///   the browser sent is removed (its token, if used, moved into the session);
/// - otherwise a token made on this request (a form was shown to a browser
///   without one) is sent in a new pre-session cookie.
pub async fn pre_session_cookie(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut response = next.call(req).await?;
    let request = response.request().clone();
    let (Some(state), Some(config)) = (
        request
            .extensions()
            .get::<Rc<RefCell<PreSession>>>()
            .cloned(),
        request.app_data::<web::Data<PreSessionCookie>>().cloned(),
    ) else {
        // No handler looked at the session: nothing to set or remove.
        return Ok(response);
    };
    let session = AppSession::of(&request, state.clone());
    let state = state.borrow();
    let cookie = if session.holds_anything() || session.is_ended() {
        state.cookie_sent.then(|| config.removal())
    } else {
        state.made.as_ref().map(|form| config.seal(form))
    };
    if let Some(cookie) = cookie
        && let Err(error) = response.response_mut().add_cookie(&cookie)
    {
        log::error!("could not set the pre-session cookie: {error}");
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn a_sealed_token_reads_back_only_under_its_own_key_and_name() {
        let config = PreSessionCookie::new(Key::generate(), true, true);
        let form = FormToken::random().expect("randomness");
        let cookie = config.seal(&form);
        assert_eq!(cookie.name(), "__Host-csrf");
        assert!(!cookie.value().contains(&form.token), "encrypted");
        assert_eq!(cookie.http_only(), Some(true));
        assert_eq!(cookie.secure(), Some(true));
        assert_eq!(cookie.same_site(), Some(SameSite::Lax));
        assert_eq!(cookie.path(), Some("/"));

        let req = TestRequest::default()
            .cookie(cookie.clone())
            .to_http_request();
        assert_eq!(config.read(&req), Some(form));

        let other = PreSessionCookie::new(Key::generate(), true, true);
        assert_eq!(other.read(&req), None, "another secret");
        let renamed = Cookie::new("__Host-session", cookie.value().to_owned());
        let config_named_session = PreSessionCookie {
            name: "__Host-session".into(),
            ..config.clone()
        };
        let req = TestRequest::default().cookie(renamed).to_http_request();
        assert_eq!(config_named_session.read(&req), None, "another name");
    }

    #[test]
    fn the_removal_keeps_the_attributes_a_host_prefixed_cookie_needs() {
        let removal = PreSessionCookie::new(Key::generate(), true, true).removal();
        assert_eq!(removal.name(), "__Host-csrf");
        assert_eq!(removal.secure(), Some(true));
        assert_eq!(removal.path(), Some("/"));
        assert_eq!(
            removal.max_age(),
            Some(actix_web::cookie::time::Duration::ZERO)
        );
    }
}
