//! A clean exit when this process is told to stop: the drain.
//!
//! A proxy keeps idle HTTP/1.1 connections to each instance and sends the
//! next request down whichever it picks. When this process is told to stop
//! (SIGTERM or Ctrl-C), actix-web stops accepting connections at once, a
//! refused connection makes nginx try another instance, and every request
//! already received runs to the end. But the connections the proxy already
//! holds would stay open, and take new requests, until the shutdown timeout
//! cut them, possibly in the middle of a request the proxy may not retry (a
//! POST it has already sent). So from the signal on, every response says
//! `Connection: close` (`middleware/instance.rs`): each kept-alive connection
//! carries at most one more request, then closes, and the proxy opens its next
//! one to an instance that is still running. Idle connections are closed by
//! the proxy itself before the app's keep-alive timeout (see
//! `deploy/session-demo.nginx.conf`).
//!
//! **The race that leaves.** A connection that sits idle in the proxy's
//! cache when the signal comes gets no answer to carry `Connection: close`.
//! If the process stopped at once, it would close that connection as the
//! proxy sends a request down it; nginx answers 502 rather than send a POST
//! twice. So with `SHUTDOWN_DRAIN_SECONDS` set longer than the proxy's idle
//! timeout for upstream connections (nginx's `keepalive_timeout`, 4 s in
//! `deploy/session-demo.nginx.conf`; `deploy/production.env` sets 5), the
//! process first goes on serving, new connections included, for that long:
//! by then the proxy has used each cached connection once (and it closed)
//! or dropped it. Only then does actix-web stop accepting, so that new
//! connections are refused and nginx sends them elsewhere, and finish what
//! is in flight. (`tests/api/deployment.rs` restarts three instances under
//! POSTs; without the drain, 4 runs in 12 had a POST answered 502.)
//!
//! While draining, `GET /readyz` answers 503, so a balancer that polls it
//! stops sending new work here (`routes/health.rs`).

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

/// Whether this process is stopping; shared by the signal task, the
/// middleware that closes connections and the readiness check.
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    /// True once a stop signal has arrived.
    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// Waits for SIGTERM or SIGINT (Ctrl-C), marks the process as draining,
    /// and goes on serving for `drain` (`SHUTDOWN_DRAIN_SECONDS`). Handed to
    /// actix-web as its shutdown signal, which replaces its own signal
    /// handling: when this returns, a graceful shutdown starts.
    pub async fn on_stop_signal(self, drain: Duration) {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut terminate), Ok(mut interrupt)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            log::error!("cannot listen for stop signals; stop the process with SIGKILL");
            return std::future::pending().await;
        };
        let name = tokio::select! {
            _ = terminate.recv() => "SIGTERM",
            _ = interrupt.recv() => "SIGINT",
        };
        self.0.store(true, Ordering::Relaxed);
        if !drain.is_zero() {
            log::info!(
                "{name} received: serving {}s more, closing each kept-alive connection after its next answer",
                drain.as_secs()
            );
            // A second signal (Ctrl-C pressed twice) cuts the drain short.
            tokio::select! {
                _ = tokio::time::sleep(drain) => {}
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        }
        log::info!("stopping: no new connections; finishing requests in flight");
    }
}
