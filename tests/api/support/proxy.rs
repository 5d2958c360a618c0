//! A TCP proxy between the app and PostgreSQL that counts round trips.
//!
//! It reads the frontend side of the PostgreSQL wire protocol and counts, as
//! one round trip each, every `Sync` that closes an exchange carrying a
//! statement (Parse/Bind/Execute/Describe) and every simple `Query`. A `Sync`
//! with nothing before it is the pool's own housekeeping ping: counted apart.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};

/// What the proxy saw since the last [`CountingProxy::take`].
#[derive(Debug, Default, Clone)]
pub struct Counts {
    /// Round trips that carried a statement.
    pub statements: u64,
    /// Bare `Sync` messages (the pool's ping after each use).
    pub bare_syncs: u64,
    /// The SQL of each counted round trip, in order.
    pub sql: Vec<String>,
}

/// A running proxy.
pub struct CountingProxy {
    /// The port to give the app instead of PostgreSQL's.
    pub port: u16,
    counts: Arc<Mutex<Counts>>,
}

const SSL_REQUEST: u32 = 80_877_103;
const GSS_REQUEST: u32 = 80_877_104;

impl CountingProxy {
    /// Starts a proxy to PostgreSQL at 127.0.0.1:`upstream_port`.
    pub async fn start(upstream_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("address").port();
        let counts = Arc::new(Mutex::new(Counts::default()));
        let shared = counts.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let counts = shared.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(("127.0.0.1", upstream_port)).await {
                        relay(client, server, counts).await;
                    }
                });
            }
        });
        Self { port, counts }
    }

    /// Returns what was counted so far and starts counting from zero.
    pub fn take(&self) -> Counts {
        std::mem::take(&mut *self.counts.lock().expect("lock"))
    }
}

async fn relay(client: TcpStream, server: TcpStream, counts: Arc<Mutex<Counts>>) {
    let (mut client_read, client_write) = client.into_split();
    let (server_read, mut server_write) = server.into_split();
    // Server to client: copied as is.
    tokio::spawn(async move {
        let (mut from, mut to) = (server_read, client_write);
        let _ = tokio::io::copy(&mut from, &mut to).await;
    });
    // Client to server: message by message, counting.
    let mut statements: HashMap<String, String> = HashMap::new();
    let mut pending: Option<String> = None;
    let mut started = false;
    loop {
        let mut header = [0u8; 5];
        let (kind, body) = if started {
            if client_read.read_exact(&mut header).await.is_err() {
                return;
            }
            let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
            let mut body = vec![0u8; len.saturating_sub(4)];
            if client_read.read_exact(&mut body).await.is_err() {
                return;
            }
            if server_write.write_all(&header).await.is_err() {
                return;
            }
            (header[0], body)
        } else {
            // Untyped startup-phase message: length, then a code.
            if client_read.read_exact(&mut header[..4]).await.is_err() {
                return;
            }
            let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
            let mut body = vec![0u8; len.saturating_sub(4)];
            if client_read.read_exact(&mut body).await.is_err() {
                return;
            }
            if server_write.write_all(&header[..4]).await.is_err() {
                return;
            }
            let code = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
            if code != SSL_REQUEST && code != GSS_REQUEST {
                started = true;
            }
            (0, body)
        };
        if server_write.write_all(&body).await.is_err() {
            return;
        }
        let cstr = |bytes: &[u8]| -> (String, usize) {
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            (String::from_utf8_lossy(&bytes[..end]).into_owned(), end + 1)
        };
        match kind {
            b'P' => {
                let (name, used) = cstr(&body);
                let (query, _) = cstr(&body[used..]);
                statements.insert(name, query.clone());
                pending = Some(query);
            }
            b'B' => {
                let (_portal, used) = cstr(&body);
                let (name, _) = cstr(&body[used..]);
                pending = Some(statements.get(&name).cloned().unwrap_or(name));
            }
            b'E' | b'D' if pending.is_none() => pending = Some(String::new()),
            b'S' => {
                let mut counts = counts.lock().expect("lock");
                match pending.take() {
                    Some(sql) => {
                        counts.statements += 1;
                        counts.sql.push(sql);
                    }
                    None => counts.bare_syncs += 1,
                }
            }
            b'Q' => {
                let (query, _) = cstr(&body);
                let mut counts = counts.lock().expect("lock");
                counts.statements += 1;
                counts.sql.push(query);
            }
            _ => {}
        }
    }
}
