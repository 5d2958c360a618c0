//! Raw HTTP/1.1: requests written byte by byte on a TCP connection, for what
//! an HTTP client refuses to send (oversized heads, broken bodies).

use std::net::SocketAddr;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use super::{REQUEST_TIMEOUT, TestApp};

/// The app's listening socket, for [`send_raw`].
pub fn socket_address(app: &TestApp) -> SocketAddr {
    app.address
        .trim_start_matches("http://")
        .parse()
        .expect("an address")
}

/// The status of the final (non-1xx) response in `response`.
fn final_status(mut response: &[u8]) -> Option<u16> {
    loop {
        let status: u16 = std::str::from_utf8(response.get(9..12)?)
            .ok()?
            .parse()
            .ok()?;
        if !(100..200).contains(&status) {
            return Some(status);
        }
        let head_end = response.windows(4).position(|w| w == b"\r\n\r\n")?;
        response = &response[head_end + 4..];
    }
}

/// Sends raw bytes on a new connection (`Connection: close`), reads the
/// answer to its end and returns the final status code.
///
/// Writing and reading run at once, so a server that answers before it has
/// read the whole body (a 413) is heard. Fails on a timeout and when the
/// server closes the connection without an answer.
pub async fn send_raw(address: SocketAddr, request: Vec<u8>) -> Result<u16, String> {
    let stream = TcpStream::connect(address)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut reader, mut writer) = stream.into_split();
    let writing = tokio::spawn(async move {
        if writer.write_all(&request).await.is_ok() {
            let _ = writer.shutdown().await;
        }
    });
    let mut response = Vec::new();
    let read = tokio::time::timeout(REQUEST_TIMEOUT, async {
        let mut chunk = [0u8; 8192];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) => return Ok(()),
                Ok(n) => response.extend_from_slice(&chunk[..n]),
                Err(error) => return Err(error),
            }
        }
    })
    .await;
    writing.abort();
    let preview = || String::from_utf8_lossy(&response[..response.len().min(200)]).into_owned();
    match (read, final_status(&response)) {
        (_, Some(status)) => Ok(status),
        (Err(_), None) => Err(format!(
            "no answer within {REQUEST_TIMEOUT:?}: {}",
            preview()
        )),
        (Ok(Err(error)), None) => Err(format!("connection failed: {error}: {}", preview())),
        (Ok(Ok(())), None) => Err(format!("closed without an answer: {:?}", preview())),
    }
}

/// A request head: `method target HTTP/1.1`, Host, the headers, then Content-Length.
pub fn request_bytes(
    method: &[u8],
    target: &[u8],
    headers: &[(String, Vec<u8>)],
    body: &[u8],
) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(body.len() + 512);
    bytes.extend_from_slice(method);
    bytes.push(b' ');
    bytes.extend_from_slice(target);
    bytes.extend_from_slice(b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (name, value) in headers {
        bytes.extend_from_slice(name.as_bytes());
        bytes.extend_from_slice(b": ");
        bytes.extend_from_slice(value);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
    bytes.extend_from_slice(body);
    bytes
}
