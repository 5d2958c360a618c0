//! Wiring actix-session to the store: the cookie's settings, and a guard that
//! turns store failures into the right error page (503 or 500).

use std::{cell::Cell, collections::HashMap};

use actix_session::{
    SessionMiddleware,
    config::{BrowserSession, CookieContentSecurity, TtlExtensionPolicy},
    storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError},
};
use actix_web::{
    body::MessageBody,
    cookie::{SameSite, time::Duration},
    dev::{ServiceRequest, ServiceResponse},
    middleware::Next,
};

use super::{PgSessionStore, cookie::CookieConfig};
use crate::error::AppError;

/// What actix-session keeps for one session: names mapped to JSON text.
type SessionState = HashMap<String, String>;

/// The session middleware: encrypted, HttpOnly, SameSite=Lax cookie; data in `store`.
///
/// - `Private` content security: the cookie's value (the session key) is encrypted
///   and authenticated with the cookie's key (AES-256-GCM), so it can be neither read nor forged.
/// - `HttpOnly`: page scripts cannot read it; `SameSite=Lax`: other sites' forms do
///   not carry it on POST; `Path=/`: one cookie for the whole site.
/// - A browser-session cookie (no `Max-Age`): how long the session lives is decided
///   on the server, by the store's expiry, which reads extend as well as writes.
/// - `OnStateChanges`: the store is written only when the data changed; the store's
///   `load` extends the expiry of sessions that are only read (throttled).
/// - The store is wrapped in [`CauseKeepingStore`], for [`store_errors_as_pages`].
pub fn session_middleware(
    store: PgSessionStore,
    cookie: &CookieConfig,
) -> SessionMiddleware<CauseKeepingStore<PgSessionStore>> {
    let ttl = Duration::try_from(store.policy().inactivity).unwrap_or(Duration::HOUR);
    SessionMiddleware::builder(CauseKeepingStore(store), cookie.key.clone())
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

/// Turns a failure of the session store into the right error page.
///
/// actix-session answers any store error with an empty `500` that replaces the
/// handler's response. Wrapped around it, this function swaps that error for
/// the one the store's [`CauseKeepingStore`] filed: a database that cannot
/// serve is the 503 page ("temporarily unavailable, try again", and the next
/// request tries the database again, nothing needs restarting), anything else
/// (a schema that does not match the store's queries) is the 500 page. Either
/// way the cause chain is logged once, by the error page.
pub async fn store_errors_as_pages(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    STORE_FAILURE
        .scope(Cell::new(None), async move {
            next.call(req).await.map_err(|error| {
                let filed = STORE_FAILURE.with(Cell::take);
                // No store failure filed: actix-session failed on its own (a cookie
                // it could not write, for example).
                filed
                    .unwrap_or_else(|| {
                        AppError::Internal(anyhow::anyhow!("session middleware: {error}"))
                    })
                    .into()
            })
        })
        .await
}

tokio::task_local! {
    /// The store failure of the request being served, filed by
    /// [`CauseKeepingStore`] for [`store_errors_as_pages`].
    static STORE_FAILURE: Cell<Option<AppError>>;
}

/// A session store that keeps the cause of its failures.
///
/// actix-session wraps a store's error in an opaque `InternalError` whose
/// cause can never be reached again, and for a failed `save` or `update` its
/// message is only "Something went wrong when persisting the session state".
/// This wrapper files each failure, with its whole chain (the `sqlx::Error`
/// at its root), where [`store_errors_as_pages`] picks it up, and hands
/// actix-session a copy in words.
#[derive(Debug, Clone)]
pub struct CauseKeepingStore<S>(pub S);

/// Files `cause` as this request's store failure; returns the copy in words.
fn file(cause: anyhow::Error) -> anyhow::Error {
    let copy = anyhow::anyhow!("{cause:#}");
    let failure = AppError::database(cause.context("session store"));
    // Outside `store_errors_as_pages` (no scope), the copy is all there is.
    let _ = STORE_FAILURE.try_with(|slot| slot.set(Some(failure)));
    copy
}

impl<S: SessionStore> SessionStore for CauseKeepingStore<S> {
    async fn load(&self, session_key: &SessionKey) -> Result<Option<SessionState>, LoadError> {
        self.0.load(session_key).await.map_err(|error| match error {
            LoadError::Other(cause) => LoadError::Other(file(cause)),
            // Unreadable data: actix-session starts a fresh session, no failure.
            unreadable @ LoadError::Deserialization(_) => unreadable,
        })
    }

    async fn save(
        &self,
        session_state: SessionState,
        ttl: &Duration,
    ) -> Result<SessionKey, SaveError> {
        self.0
            .save(session_state, ttl)
            .await
            .map_err(|error| match error {
                SaveError::Other(cause) => SaveError::Other(file(cause)),
                SaveError::Serialization(cause) => SaveError::Serialization(file(cause)),
            })
    }

    async fn update(
        &self,
        session_key: SessionKey,
        session_state: SessionState,
        ttl: &Duration,
    ) -> Result<SessionKey, UpdateError> {
        self.0
            .update(session_key, session_state, ttl)
            .await
            .map_err(|error| match error {
                UpdateError::Other(cause) => UpdateError::Other(file(cause)),
                UpdateError::Serialization(cause) => UpdateError::Serialization(file(cause)),
            })
    }

    async fn update_ttl(&self, session_key: &SessionKey, ttl: &Duration) -> anyhow::Result<()> {
        self.0.update_ttl(session_key, ttl).await.map_err(file)
    }

    async fn delete(&self, session_key: &SessionKey) -> anyhow::Result<()> {
        self.0.delete(session_key).await.map_err(file)
    }
}
