//! `GET /healthz`: can the session store serve?

use actix_web::{HttpResponse, web};

use actix_session_postgres::SessionPool;

/// Every table column and function the session store's queries use, read from
/// no row. PostgreSQL still resolves each name and checks the privileges, so
/// a renamed column or a missing function fails here as it would in the store.
/// A simple query: one round trip, nothing prepared.
const STORE_CHECK: &str = "
    SELECT id, key_hash, state, created_at, last_seen_at, expires_at, absolute_expires_at,
           touch_session(key_hash, interval '0')
    FROM sessions
    WHERE false";

/// `200 ok` when the session store can serve, `503` otherwise.
///
/// The check runs through the session store's own pool (this worker's), so a
/// pool that cannot hand out a connection fails it too, and against the
/// `sessions` table the store uses. This route sits outside the session
/// middleware: a load balancer polling it every second never loads (or
/// creates) a session. Its one query is its check.
pub async fn healthz(pool: web::Data<SessionPool>) -> HttpResponse {
    let checked = pool
        .run(async |conn| sqlx::raw_sql(STORE_CHECK).execute(conn).await)
        .await;
    match checked {
        Ok(_) => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body("ok"),
        Err(error) => {
            log::warn!("health check failed: {error}");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain; charset=utf-8")
                .body("session store unavailable")
        }
    }
}
