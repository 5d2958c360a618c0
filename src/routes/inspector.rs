//! `GET /session`: the session inspector, for learners.
//!
//! It shows what happened on this very request, laid beside the six steps of
//! the README: was a cookie sent, did it decrypt, was a session found, and what
//! the server holds for it. It never changes the session itself.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use sqlx::PgPool;

use crate::{
    error::AppError,
    routes::{layout::Layout, render, time_text},
    session::{AppSession, current::SessionCookie, details},
};

/// What this request looked like, from the session's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No cookie: a first request. A session is made when something is stored.
    NoCookie,
    /// A cookie that did not decrypt: tampered with, truncated, or another secret's.
    Undecryptable,
    /// A valid cookie naming no live session: expired, logged out or revoked.
    NotFound,
    /// A valid cookie, and its session loaded from PostgreSQL.
    Loaded,
}

/// The inspector page: `templates/session.html`.
#[derive(Template)]
#[template(path = "session.html")]
pub struct InspectorPage {
    /// The shared layout.
    pub layout: Layout,
    /// What happened on this request.
    pub outcome: Outcome,
    /// The step of the six this request ended at (1 to 6), highlighted.
    pub step: u8,
    /// The cookie's name.
    pub cookie_name: String,
    /// The first 12 hex digits of the key's SHA-256 digest (never the key).
    pub digest_prefix: Option<String>,
    /// The row, when one was found.
    pub row: Option<RowView>,
    /// The signed-in user's name, if any.
    pub user: Option<String>,
}

/// The session row, ready for display.
pub struct RowView {
    /// The row id.
    pub id: i64,
    /// The stored state as pretty JSON.
    pub state: String,
    /// Creation time and age.
    pub created: String,
    /// Last seen time and how long ago.
    pub last_seen: String,
    /// Inactivity expiry and how far away.
    pub expires: String,
    /// Absolute expiry and how far away.
    pub absolute_expires: String,
}

/// Shows the inspector.
pub async fn show(
    session: AppSession,
    pool: web::Data<PgPool>,
    cookie: web::Data<SessionCookie>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let digest = cookie.key_digest(&req);
    let row = match &digest {
        Some(digest) => details::find(&pool, digest).await?,
        None => None,
    };
    let outcome = match (cookie.was_sent(&req), &digest, &row) {
        (false, _, _) => Outcome::NoCookie,
        (true, None, _) => Outcome::Undecryptable,
        (true, Some(_), None) => Outcome::NotFound,
        (true, Some(_), Some(_)) => Outcome::Loaded,
    };
    let step = match outcome {
        Outcome::NoCookie | Outcome::Undecryptable => 1,
        Outcome::NotFound => 6,
        Outcome::Loaded => 5,
    };
    let page = InspectorPage {
        layout: Layout::for_page(&session, &pool, "session").await?,
        outcome,
        step,
        cookie_name: cookie.name.clone(),
        digest_prefix: digest.map(|d| hex::encode(&d[..6])),
        row: row.map(|r| RowView {
            id: r.id,
            state: r.state,
            created: format!("{} ({})", r.created_at, time_text::ago(r.age_seconds)),
            last_seen: format!("{} ({})", r.last_seen_at, time_text::ago(r.idle_seconds)),
            expires: format!(
                "{} ({})",
                r.expires_at,
                time_text::from_now(r.expires_in_seconds)
            ),
            absolute_expires: format!(
                "{} ({})",
                r.absolute_expires_at,
                time_text::from_now(r.absolute_expires_in_seconds)
            ),
        }),
        user: session.user().map(|u| u.username),
    };
    render(StatusCode::OK, &page)
}
