//! `GET /session`: the session inspector, for learners.
//!
//! It shows what happened on this very request, laid beside the six steps of
//! the README: was a cookie sent, did it decrypt, was a session found, and what
//! the server holds for it.
//!
//! Looking must not change what is looked at, so this page only reads: it
//! leaves a pending flash message for the page it was meant for, and creates
//! neither a CSRF token nor a cart id. (Loading the session is still activity,
//! as on every page: it may push the idle expiry forward.)

use actix_web::{HttpResponse, http::StatusCode, web};
use askama::Template;
use sqlx::PgPool;

use crate::{
    cart,
    error::AppError,
    routes::{layout::Layout, render, time_text},
    session::{
        AppSession,
        current::{CurrentSessionDigest, SessionCookie},
        details,
    },
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

impl Outcome {
    /// The step of the six this request ended at: the one the page marks as current.
    pub fn step(self) -> u8 {
        match self {
            Outcome::NoCookie | Outcome::Undecryptable => 1,
            Outcome::NotFound => 6,
            Outcome::Loaded => 5,
        }
    }

    /// Every step this request went through, `lit[n]` for step `n` (index 0 unused).
    ///
    /// - no cookie: step 1 only (nothing was sent, nothing loaded);
    /// - a cookie that does not decrypt: the browser sent it (4), and the app
    ///   treated the request as a first one (1);
    /// - a session that has ended: the cookie came back (4) holding a key (3),
    ///   but no live row has that key any more (6);
    /// - a loaded session: the row holds the data (2), the cookie held the key
    ///   (3) and came back (4), the app loaded the row by it (5).
    pub fn lit(self) -> [bool; 7] {
        let mut lit = [false; 7];
        let steps: &[usize] = match self {
            Outcome::NoCookie => &[1],
            Outcome::Undecryptable => &[1, 4],
            Outcome::NotFound => &[3, 4, 6],
            Outcome::Loaded => &[2, 3, 4, 5],
        };
        for &step in steps {
            lit[step] = true;
        }
        lit
    }
}

/// The inspector page: `templates/session.html`.
#[derive(Template)]
#[template(path = "session.html")]
pub struct InspectorPage {
    /// The shared layout.
    pub layout: Layout,
    /// What happened on this request.
    pub outcome: Outcome,
    /// The step of the six this request ended at (1 to 6), marked as current.
    pub step: u8,
    /// The steps this request went through, highlighted (`lit[1]` to `lit[6]`).
    pub lit: [bool; 7],
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
    /// The row's opaque id (what the account page uses to end a session).
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

/// Shows the inspector, changing nothing in the session.
pub async fn show(
    session: AppSession,
    pool: web::Data<PgPool>,
    cookie: web::Data<SessionCookie>,
    current: CurrentSessionDigest,
) -> Result<HttpResponse, AppError> {
    let digest = current.digest();
    let row = match &digest {
        Some(digest) => details::find(&pool, digest).await?,
        None => None,
    };
    let outcome = match (current.cookie_sent(), &digest, &row) {
        (false, _, _) => Outcome::NoCookie,
        (true, None, _) => Outcome::Undecryptable,
        (true, Some(_), None) => Outcome::NotFound,
        (true, Some(_), Some(_)) => Outcome::Loaded,
    };
    let cart_count = match session.cart_id() {
        Some(cart_id) => cart::item_count(&pool, &cart_id).await?,
        None => 0,
    };
    let user = session.user().map(|u| u.username);
    // Built by hand rather than with `Layout::for_page`, which takes the flash
    // message and may create a CSRF token: this page only reads. The
    // navigation's logout form gets the token the session already has: a
    // signed-in session always has one (signing in makes it), and a visitor's
    // page shows no logout form.
    let layout = Layout {
        user: user.clone(),
        cart_count,
        csrf_token: session.existing_csrf_token().unwrap_or_default(),
        flash: None,
        current: "session",
    };
    let page = InspectorPage {
        layout,
        outcome,
        step: outcome.step(),
        lit: outcome.lit(),
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
        user,
    };
    render(StatusCode::OK, &page)
}
