//! Oversized requests: heads over the app's limits and over the server's, and
//! bodies over the form limit, sized or chunked, on every POST route.
//! (`stalled_body.rs` covers bodies that never finish; `cart.rs` a form just
//! over 16 KiB.)

use reqwest::StatusCode;

use crate::support::{
    POST_ROUTES,
    raw_http::{request_bytes, send_raw, socket_address},
    spawn_app_without_address_limit, spawn_signed_in_app,
};

#[tokio::test]
async fn request_heads_over_the_server_limit_are_refused_with_431() {
    let app = spawn_app_without_address_limit().await;
    let socket = socket_address(&app);
    let huge = "A".repeat(200 * 1024);
    let cases = [
        (
            "a 200 KiB cookie",
            request_bytes(
                b"GET",
                b"/",
                &[("Cookie".into(), format!("session={huge}").into_bytes())],
                b"",
            ),
        ),
        (
            "a 200 KiB URL",
            request_bytes(b"GET", format!("/login?next=/{huge}").as_bytes(), &[], b""),
        ),
        (
            "200 headers",
            request_bytes(
                b"GET",
                b"/",
                &(0..200)
                    .map(|i| (format!("X-Header-{i}"), b"x".to_vec()))
                    .collect::<Vec<_>>(),
                b"",
            ),
        ),
    ];
    for (what, request) in cases {
        let status = send_raw(socket, request).await.expect(what);
        assert!((400..500).contains(&status), "{what}: {status}");
    }
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

/// actix-web's own limit on a request head is 128 KiB (`MAX_BUFFER_SIZE` in
/// actix-http's h1 decoder, not configurable); the app refuses far less
/// (`src/request_limits.rs`): 8 KiB of URL (414), 16 KiB of headers (431).
#[tokio::test]
async fn a_40_kib_cookie_or_url_is_refused_with_4xx() {
    let app = spawn_app_without_address_limit().await;
    let socket = socket_address(&app);
    let big = "A".repeat(40 * 1024);
    let cookie = request_bytes(
        b"GET",
        b"/",
        &[("Cookie".into(), format!("session={big}").into_bytes())],
        b"",
    );
    let url = request_bytes(b"GET", format!("/{big}").as_bytes(), &[], b"");
    let query = request_bytes(b"GET", format!("/login?next=/{big}").as_bytes(), &[], b"");
    let mut statuses = Vec::new();
    for request in [cookie, url, query] {
        statuses.push(send_raw(socket, request).await.expect("an answer"));
    }
    for status in &statuses {
        assert!(
            [400, 414, 431].contains(status),
            "40 KiB cookie, URL, query: {statuses:?}"
        );
    }
}

#[tokio::test]
async fn a_2_mib_body_to_every_post_route_is_413() {
    let (app, cookie, token) = spawn_signed_in_app().await;
    let socket = socket_address(&app);
    let mut body = format!("csrf_token={token}&username=x&padding=").into_bytes();
    body.resize(2 * 1024 * 1024, b'x');
    let headers = [
        (
            "Cookie".to_owned(),
            format!("session={cookie}").into_bytes(),
        ),
        (
            "Content-Type".to_owned(),
            b"application/x-www-form-urlencoded".to_vec(),
        ),
    ];
    for path in POST_ROUTES {
        // With a Content-Length, then chunked (the size is known only while reading).
        let sized = request_bytes(b"POST", path.as_bytes(), &headers, &body);
        let status = send_raw(socket, sized).await.expect("an answer");
        assert_eq!(status, 413, "{path} with Content-Length");

        let mut chunked = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\
             Cookie: session={cookie}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Transfer-Encoding: chunked\r\n\r\n"
        )
        .into_bytes();
        for piece in body.chunks(64 * 1024) {
            chunked.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            chunked.extend_from_slice(piece);
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let status = send_raw(socket, chunked).await.expect("an answer");
        assert_eq!(status, 413, "{path} chunked");
    }
    // Nothing happened: still signed in, the cart still empty.
    assert_eq!(app.get("/account").await.status(), StatusCode::OK);
    assert!(!app.get_html("/cart").await.contains("class=\"cart-line\""));
}
