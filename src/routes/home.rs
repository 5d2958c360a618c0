//! `GET /`, the visit counter, and `GET /visits`, its read-only JSON view.

use actix_web::{HttpResponse, http::StatusCode, web};
use askama::Template;
use serde::Serialize;
use sqlx::PgPool;

use crate::{
    error::AppError,
    routes::{layout::Layout, render},
    session::AppSession,
};

/// The counter page: `templates/home.html`.
#[derive(Template)]
#[template(path = "home.html")]
pub(crate) struct HomePage {
    /// The shared layout.
    pub layout: Layout,
    /// Visits of this session, this one included.
    pub visits: u64,
}

/// Counts the visit in the session and shows the count.
///
/// The first visit creates the session: the middleware stores `{"visits": 1}`
/// under a new key and sends the key in a cookie. Later visits load, change and
/// store it again: two round trips to PostgreSQL.
pub(crate) async fn counter(
    session: AppSession,
    pool: web::Data<PgPool>,
) -> Result<HttpResponse, AppError> {
    // The layout's query runs first: if it fails (503), the visit is not counted.
    let layout = Layout::for_page(&session, &pool, "home").await?;
    let page = HomePage {
        layout,
        visits: session.record_visit(),
    };
    render(StatusCode::OK, &page)
}

/// The JSON body of `GET /visits`.
#[derive(Serialize)]
pub(crate) struct Visits {
    /// Visits recorded so far; 0 without a session.
    pub visits: u64,
}

/// Shows the count without changing the session: one round trip with a
/// cookie, none without (and no cookie is set).
pub(crate) async fn visits(session: AppSession) -> HttpResponse {
    HttpResponse::Ok().json(Visits {
        visits: session.visits(),
    })
}
