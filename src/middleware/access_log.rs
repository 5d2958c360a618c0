//! The access log: one line per request, at `info` level under the `access`
//! target (`RUST_LOG=access=warn` silences it, for example in a benchmark).
//!
//! Written by the edge of the stack (`middleware/mod.rs`) once the response is
//! final, so a failed request gets its line like any other:
//! `203.0.113.7 "GET /cart HTTP/1.1" 200 1.234ms`. The address is the
//! client's as `TRUSTED_PROXIES` identifies it (behind nginx, the visitor,
//! not nginx). Its fields (method, route, status, duration, client address)
//! travel as the record's key-values too, for JSON lines (`logging.rs`); the
//! request id is on every line of the request anyway. It logs no headers, so
//! no cookie ever reaches the log.

use std::{net::IpAddr, time::Instant};

use actix_web::{
    dev::ServiceRequest,
    http::{StatusCode, header::X_FORWARDED_FOR},
};

use crate::trusted_proxies::TrustedProxies;

/// What the access log keeps of a request until its response is ready.
pub(crate) struct Entry {
    started: Instant,
    client: Option<IpAddr>,
    request_line: String,
}

impl Entry {
    /// Starts the entry for `req`; `None` when the access log is off.
    pub(crate) fn begin(req: &ServiceRequest, trusted: &TrustedProxies) -> Option<Self> {
        if !log::log_enabled!(target: "access", log::Level::Info) {
            return None;
        }
        Some(Self {
            started: Instant::now(),
            client: req.peer_addr().map(|peer| {
                trusted.client_address(peer.ip(), req.headers().get_all(X_FORWARDED_FOR))
            }),
            request_line: format!("{} {} {:?}", req.method(), req.uri(), req.version()),
        })
    }

    /// Writes the line, with the final status and the route template that
    /// served the request (`None`: no route matched).
    pub(crate) fn finish(self, method: &str, route: Option<&str>, status: StatusCode) {
        let duration_ms = self.started.elapsed().as_secs_f64() * 1000.0;
        let client = self
            .client
            .map_or_else(|| "-".to_owned(), |address| address.to_string());
        log::info!(
            target: "access",
            method = method,
            route = route.unwrap_or(""),
            status = status.as_u16(),
            duration_ms = (duration_ms * 1000.0).round() / 1000.0,
            client_address = client.as_str();
            "{client} \"{}\" {} {duration_ms:.3}ms",
            self.request_line,
            status.as_u16(),
        );
    }
}
