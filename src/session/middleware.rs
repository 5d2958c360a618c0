//! Wiring actix-session to the store: the cookie's settings, and a guard that
//! turns store failures into the 503 page.

use actix_session::{
    SessionMiddleware,
    config::{BrowserSession, CookieContentSecurity, TtlExtensionPolicy},
};
use actix_web::{
    body::MessageBody,
    cookie::{Key, SameSite, time},
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
};

use super::PgSessionStore;
use crate::error::AppError;

/// How the session cookie is made.
#[derive(Debug, Clone)]
pub struct CookieSettings {
    /// The cookie's name (`session`, or `__Host-session` in production).
    pub name: String,
    /// Send it over HTTPS only.
    pub secure: bool,
}

/// The session middleware: encrypted, HttpOnly, SameSite=Lax cookie; data in `store`.
///
/// - `Private` content security: the cookie's value (the session key) is encrypted
///   and authenticated with `key` (AES-256-GCM), so it can be neither read nor forged.
/// - `HttpOnly`: page scripts cannot read it; `SameSite=Lax`: other sites' forms do
///   not carry it on POST; `Path=/`: one cookie for the whole site.
/// - A browser-session cookie (no `Max-Age`): how long the session lives is decided
///   on the server, by the store's expiry, which reads extend as well as writes.
/// - `OnStateChanges`: the store is written only when the data changed; the store's
///   `load` extends the expiry of sessions that are only read (throttled).
pub fn session_middleware(
    store: PgSessionStore,
    key: Key,
    cookie: &CookieSettings,
) -> SessionMiddleware<PgSessionStore> {
    let ttl = time::Duration::try_from(store.policy().inactivity).unwrap_or(time::Duration::HOUR);
    SessionMiddleware::builder(store, key)
        .cookie_name(cookie.name.clone())
        .cookie_secure(cookie.secure)
        .cookie_http_only(true)
        .cookie_same_site(SameSite::Lax)
        .cookie_path("/".into())
        .cookie_domain(None)
        .cookie_content_security(CookieContentSecurity::Private)
        .session_lifecycle(
            BrowserSession::default()
                .state_ttl(ttl)
                .state_ttl_extension_policy(TtlExtensionPolicy::OnStateChanges),
        )
        .build()
}

/// Turns a failure of the session store into the 503 page.
///
/// actix-session answers any store error with an empty `500` that replaces the
/// handler's response. Wrapped around it, this function swaps that error for
/// [`AppError::Unavailable`]: the visitor sees "temporarily unavailable, try
/// again", the cause is logged once, and the next request tries the database
/// again (nothing needs restarting).
pub async fn store_errors_as_unavailable(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    next.call(req)
        .await
        // `{:#}` keeps the whole cause chain on one line ("loading a session: pool timed out").
        .map_err(|error| AppError::Unavailable(anyhow::anyhow!("session store: {error:#}")).into())
}
