//! The access log: one line per request, at `info` level under the `access`
//! target (`RUST_LOG=access=warn` silences it, for example in a benchmark).
//!
//! Written by the edge of the stack (`middleware/mod.rs`) once the response is
//! final, so a failed request gets its line like any other:
//! `127.0.0.1 "GET /cart HTTP/1.1" 200 1.234ms`. It logs no headers, so no
//! cookie ever reaches the log.

use std::time::Instant;

use actix_web::{dev::ServiceRequest, http::StatusCode};

/// What the access log keeps of a request until its response is ready.
pub(crate) struct Entry {
    started: Instant,
    peer: String,
    request_line: String,
}

impl Entry {
    /// Starts the entry for `req`; `None` when the access log is off.
    pub(crate) fn begin(req: &ServiceRequest) -> Option<Self> {
        if !log::log_enabled!(target: "access", log::Level::Info) {
            return None;
        }
        Some(Self {
            started: Instant::now(),
            peer: req
                .peer_addr()
                .map_or_else(|| "-".to_owned(), |addr| addr.ip().to_string()),
            request_line: format!("{} {} {:?}", req.method(), req.uri(), req.version()),
        })
    }

    /// Writes the line, with the final status.
    pub(crate) fn finish(self, status: StatusCode) {
        log::info!(
            target: "access",
            "{} \"{}\" {} {:.3}ms",
            self.peer,
            self.request_line,
            status.as_u16(),
            self.started.elapsed().as_secs_f64() * 1000.0
        );
    }
}
