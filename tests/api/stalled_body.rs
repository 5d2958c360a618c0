//! A client that announces a body and then stops sending it is timed out
//! (`REQUEST_BODY_TIMEOUT_SECONDS`): a 408, and the connection is closed.

use std::time::{Duration, Instant};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::support::spawn_app_with;

/// Opens a connection to `address` and sends a POST to `path` that announces
/// 100 bytes of body but sends only 3.
async fn stall(address: &str, path: &str) -> TcpStream {
    let host = address.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).await.expect("connected");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nabc"
    );
    stream.write_all(head.as_bytes()).await.expect("sent");
    stream
}

/// Reads until the server closes the connection (or `limit` passes) and
/// returns what it sent, or `None` if it kept the connection open.
async fn read_until_closed(mut stream: TcpStream, limit: Duration) -> Option<String> {
    let mut answer = Vec::new();
    tokio::time::timeout(limit, stream.read_to_end(&mut answer))
        .await
        .ok()?
        .ok()?;
    Some(String::from_utf8_lossy(&answer).into_owned())
}

#[tokio::test]
async fn a_stalled_request_body_gets_408_and_its_connection_is_closed() {
    let app = spawn_app_with(|s| s.request_body_timeout = Duration::from_secs(1)).await;
    for path in ["/login", "/cart/add", "/", "/nope"] {
        let started = Instant::now();
        let stream = stall(&app.address, path).await;
        let answer = read_until_closed(stream, Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("{path}: the connection stayed open"));
        assert!(started.elapsed() < Duration::from_secs(3), "{path}");
        let status = answer.lines().next().unwrap_or_default();
        if path == "/login" || path == "/cart/add" {
            // Handlers that read the body: they give up on it.
            assert!(status.starts_with("HTTP/1.1 408"), "{path}: {answer}");
            assert!(answer.contains("Request timed out"), "{path}: {answer}");
        } else {
            // The others answer without reading it (`/` takes no POST, `/nope`
            // is no page), then close the connection.
            let expected = if path == "/" { "405" } else { "404" };
            assert!(
                status.starts_with(&format!("HTTP/1.1 {expected}")),
                "{path}: {answer}"
            );
        }
    }
}

#[tokio::test]
async fn many_stalled_bodies_are_all_closed() {
    let app = spawn_app_with(|s| s.request_body_timeout = Duration::from_secs(1)).await;
    let mut streams = Vec::new();
    // (Not `/login`: its per-address limit would refuse most of them first.)
    for _ in 0..200 {
        streams.push(stall(&app.address, "/cart/add").await);
    }
    let started = Instant::now();
    let answers = futures_util::future::join_all(
        streams
            .into_iter()
            .map(|stream| read_until_closed(stream, Duration::from_secs(10))),
    )
    .await;
    let closed_with_408 = answers
        .iter()
        .filter(|answer| {
            answer
                .as_deref()
                .is_some_and(|a| a.starts_with("HTTP/1.1 408"))
        })
        .count();
    println!(
        "200 stalled bodies: {closed_with_408} answered 408 and closed within {:?}",
        started.elapsed()
    );
    assert_eq!(closed_with_408, 200);
    // And the app still serves.
    assert_eq!(app.get("/healthz").await.status(), reqwest::StatusCode::OK);
}
