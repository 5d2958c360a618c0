//! A cookie of somebody else's with a byte that is not UTF-8 must not hide
//! this app's session cookie.

use reqwest::header::{COOKIE, HeaderValue};

use crate::support::spawn_app;

#[tokio::test]
async fn a_non_utf8_byte_in_another_cookie_does_not_hide_the_session_cookie() {
    let app = spawn_app().await;
    app.get("/").await;
    app.get("/").await;
    let session = app.session_cookie().expect("a session cookie");

    let stranger = reqwest::Client::new();
    for header in [
        format!("z=caf\u{FFFD}; session={session}").into_bytes(),
        [b"z=caf\xe9; session=".as_slice(), session.as_bytes()].concat(),
        [b"session=".as_slice(), session.as_bytes(), b"; tail=\xff"].concat(),
    ] {
        let response = stranger
            .get(format!("{}/visits", app.address))
            .header(
                COOKIE,
                HeaderValue::from_bytes(&header).expect("obs-text is allowed"),
            )
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), reqwest::StatusCode::OK);
        let body: serde_json::Value = response.json().await.expect("JSON");
        assert_eq!(body["visits"], 2, "{}", String::from_utf8_lossy(&header));
    }
}
