//! `GET /session`: the inspector shows this request's session, read-only.

use crate::support::{assert_redirect_to, csrf_token, spawn_app};

#[tokio::test]
async fn without_a_cookie_the_inspector_shows_step_one_and_creates_nothing() {
    let app = spawn_app().await;
    let response = app.get("/session").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("set-cookie").is_none());
    assert_eq!(response.headers()["cache-control"], "no-store");
    let page = response.text().await.expect("body");
    assert!(page.contains("Step 1: your browser sent no cookie"));
    assert!(page.contains("this request has no session on the server"));
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(rows, 0);
}

#[tokio::test]
async fn with_a_session_it_shows_the_stored_state_and_the_digest_never_the_key() {
    let app = spawn_app().await;
    app.get("/").await;
    app.get("/").await;
    let cookie = app.session_cookie().expect("a cookie");

    let response = app.get("/session").await;
    assert!(response.headers().get("set-cookie").is_none(), "read-only");
    let page = response.text().await.expect("body");
    let page = page.replace("&#34;", "\"").replace("&quot;", "\"");
    assert!(page.contains("Step 5: the app decrypted your cookie"));
    assert!(
        page.contains("\"visits\": 2"),
        "the state as stored: {page}"
    );
    let digest: String = sqlx::query_scalar("SELECT encode(key_hash, 'hex') FROM sessions")
        .fetch_one(&app.pool)
        .await
        .expect("digest");
    assert!(page.contains(&digest[..12]), "the digest prefix");
    assert!(!page.contains(&digest), "only a prefix");
    assert!(!page.contains(&cookie), "never the cookie");
    assert!(page.contains("Expires if idle"));
    assert!(page.contains("Expires at the latest"));
    assert_eq!(app.visits().await, 2, "looking changed nothing");
}

#[tokio::test]
async fn a_bad_or_ended_cookie_is_explained() {
    let app = spawn_app().await;
    let garbage = app.browser_with_cookie("garbage");
    let page = app
        .get_with(&garbage, "/session")
        .await
        .text()
        .await
        .expect("body");
    assert!(page.contains("failed decryption"));

    app.get("/").await;
    sqlx::query("DELETE FROM sessions")
        .execute(&app.pool)
        .await
        .expect("ended");
    let page = app.get_html("/session").await;
    assert!(page.contains("Step 6: the cookie decrypted, but its session has ended"));
}

/// The stored `state` of the only session row, as text.
async fn stored_state(app: &crate::support::TestApp) -> String {
    sqlx::query_scalar("SELECT state::text FROM sessions")
        .fetch_one(&app.pool)
        .await
        .expect("one session row")
}

#[tokio::test]
async fn the_inspector_leaves_a_waiting_flash_message_for_the_next_page() {
    let app = spawn_app().await;
    // Signing in leaves "Signed in as demo." for the next page, and no CSRF
    // token yet (sign-in drops it with the old key).
    assert_redirect_to(&app.login("demo", "demo-password").await, "/account");
    let before = stored_state(&app).await;
    assert!(
        before.contains("\"flash\""),
        "a message is waiting: {before}"
    );

    let response = app.get("/session").await;
    assert_eq!(response.status(), 200);
    assert!(
        response.headers().get("set-cookie").is_none(),
        "nothing changed, so nothing is saved or re-sent"
    );
    let page = response.text().await.expect("body");
    assert!(
        !page.contains("class=\"flash\""),
        "the inspector does not show (and so take) the message"
    );
    assert_eq!(
        stored_state(&app).await,
        before,
        "no flash taken, no CSRF token or cart id created"
    );

    let account = app.get_html("/account").await;
    assert!(
        account.contains("Signed in as demo."),
        "the message reaches the page it was meant for"
    );
}

#[tokio::test]
async fn signed_in_straight_onto_the_inspector_the_navigation_still_logs_out() {
    let app = spawn_app().await;
    let token = app.csrf_from("/login?next=/session").await;
    let response = app
        .post(
            "/login",
            &[
                ("csrf_token", &token),
                ("username", "demo"),
                ("password", "demo-password"),
                ("next", "/session"),
            ],
        )
        .await;
    assert_redirect_to(&response, "/session");

    // Signing in made the session a new CSRF token; the inspector creates
    // none, but puts that one in the navigation's logout form.
    let page = app.get_html("/session").await;
    assert!(page.contains("Yes, as demo"));
    let logout_token = csrf_token(&page);
    let stored: String =
        sqlx::query_scalar("SELECT state->>'csrf_token' FROM sessions WHERE user_id IS NOT NULL")
            .fetch_one(&app.pool)
            .await
            .expect("the signed-in session");
    assert_eq!(logout_token, stored, "the token made at sign-in");
    let response = app.post("/logout", &[("csrf_token", &logout_token)]).await;
    assert_redirect_to(&response, "/");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM sessions")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(rows, 0, "signed out");
}

/// The numbers of the steps the page highlights, in order.
fn lit_steps(page: &str) -> Vec<usize> {
    let steps = &page[page.find("<ol class=\"steps\">").expect("the steps")..];
    let steps = &steps[..steps.find("</ol>").expect("their end")];
    steps
        .split("<li")
        .skip(1)
        .enumerate()
        .filter(|(_, item)| item.starts_with(" class=\"current\""))
        .map(|(index, _)| index + 1)
        .collect()
}

#[tokio::test]
async fn the_inspector_lights_every_step_the_request_went_through() {
    let app = spawn_app().await;
    let page = app.get_html("/session").await;
    assert_eq!(lit_steps(&page), [1], "no cookie: a first request");
    assert!(page.contains("request, no cookie"));

    app.get("/").await;
    let page = app.get_html("/session").await;
    assert_eq!(
        lit_steps(&page),
        [2, 3, 4, 5],
        "a loaded session: stored (2), the key in the cookie (3), sent back (4), loaded (5)"
    );
    assert!(page.contains("aria-current=\"step\"><strong>The server loads"));
    let request_arrow = &page[page.find("<line x1=\"150\"").expect("the request arrow")..];
    let request_arrow = &request_arrow[..request_arrow.find("</line>").expect("its end")];
    assert!(
        request_arrow.contains("link active"),
        "the request-with-cookie arrow is lit: {request_arrow}"
    );
    assert!(page.contains("request with cookie"));

    sqlx::query("DELETE FROM sessions")
        .execute(&app.pool)
        .await
        .expect("ended");
    let page = app.get_html("/session").await;
    assert_eq!(lit_steps(&page), [3, 4, 6], "an ended session");

    let garbage = app.browser_with_cookie("garbage");
    let page = app
        .get_with(&garbage, "/session")
        .await
        .text()
        .await
        .expect("body");
    assert_eq!(lit_steps(&page), [1, 4], "a cookie that does not decrypt");
}

#[tokio::test]
async fn the_inspector_explains_its_words_and_every_state_key() {
    let app = spawn_app().await;
    app.get("/").await;
    let page = app.get_html("/session").await;
    for word in [
        "HttpOnly",
        "SameSite=Lax",
        "<strong>digest</strong>",
        "<strong>row id</strong>",
    ] {
        assert!(page.contains(word), "the page explains {word}");
    }
    let legend = &page[page.find("What the names in").expect("a legend")..];
    let legend = &legend[..legend.find("</dl>").expect("its end")];
    for key in [
        "visits",
        "csrf_token",
        "cart_id",
        "flash",
        "user_id",
        "username",
        "credentials_version",
        "user_agent",
    ] {
        assert!(
            legend.contains(&format!("<code>{key}</code>")),
            "the legend explains {key}: {legend}"
        );
    }
}

#[tokio::test]
async fn signing_in_moves_the_session_to_a_new_row_whose_latest_end_starts_again() {
    let app = spawn_app().await;
    app.get("/").await;
    // Age the anonymous session: its absolute limit is ten minutes away.
    sqlx::query(
        "UPDATE sessions SET absolute_expires_at = now() + interval '10 minutes',
                             expires_at = now() + interval '10 minutes'",
    )
    .execute(&app.pool)
    .await
    .expect("aged");
    let old_id: i64 = sqlx::query_scalar("SELECT id FROM sessions")
        .fetch_one(&app.pool)
        .await
        .expect("the row");

    assert_redirect_to(&app.login("demo", "demo-password").await, "/account");

    let (new_id, absolute_in): (i64, f64) = sqlx::query_as(
        "SELECT id, extract(epoch FROM absolute_expires_at - now())::float8 FROM sessions",
    )
    .fetch_one(&app.pool)
    .await
    .expect("one row: the renewed session");
    assert_ne!(
        new_id, old_id,
        "renewal deletes the old row and inserts a new one"
    );
    let full = app.settings.session_absolute_ttl.as_secs_f64();
    assert!(
        absolute_in > full - 60.0,
        "the absolute limit counts from sign-in: {absolute_in} s left of {full}"
    );
    let page = app.get_html("/session").await;
    assert!(
        page.contains(&format!("<dd>{new_id}</dd>")),
        "the inspector shows the new row"
    );
    assert_eq!(app.visits().await, 1, "the data came along");
}
