//! Request ids: every response carries `X-Request-Id`, and every log line
//! written while the request is served carries the same id, so a user who
//! quotes the id from an error page leads to that request's log lines.
//!
//! The id is the one a trusted proxy sent (nginx sets it, see
//! `deploy/session-demo.nginx.conf`), so nginx's log and the app's share it;
//! but only when it is short and plain: at most 64 characters of
//! `A-Z a-z 0-9 . _ -` (nothing that could forge a log line or a header).
//! Any other request gets a new random one: a client cannot choose the id
//! that its request is logged under.

use std::future::Future;

use actix_web::{
    dev::ServiceRequest,
    http::header::{HeaderName, HeaderValue},
};

use crate::trusted_proxies::TrustedProxies;

/// The request and response header.
pub(crate) const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest id accepted from a proxy.
const MAX_LEN: usize = 64;

/// One request's id, valid as a header value and as plain text.
#[derive(Debug, Clone)]
pub(crate) struct RequestId(HeaderValue);

impl RequestId {
    /// The id of `req`: the proxy's, when a trusted proxy sent a plain one;
    /// otherwise a new one.
    pub(crate) fn of(req: &ServiceRequest, trusted: &TrustedProxies) -> Self {
        let from_proxy = req
            .peer_addr()
            .is_some_and(|peer| trusted.contains(peer.ip()));
        match req.headers().get(X_REQUEST_ID) {
            Some(sent) if from_proxy && is_plain(sent.as_bytes()) => Self(sent.clone()),
            _ => Self::generate(),
        }
    }

    /// 128 random bits as 32 hex digits (the shape of nginx's `$request_id`).
    fn generate() -> Self {
        let mut bytes = [0u8; 16];
        // Without randomness (never seen on Linux) the id is all zeros: a
        // request still gets one, only not a unique one.
        let _ = getrandom::fill(&mut bytes);
        let mut hex = [0u8; 32];
        // Two hex digits per byte always fit: the encoding cannot fail.
        let _ = hex::encode_to_slice(bytes, &mut hex);
        Self(HeaderValue::from_bytes(&hex).unwrap_or(HeaderValue::from_static("0")))
    }

    /// The id as text.
    pub(crate) fn as_str(&self) -> &str {
        // Only plain ASCII ever gets in (see `is_plain` and `generate`).
        self.0.to_str().unwrap_or("")
    }

    /// The id as a header value.
    pub(crate) fn header_value(&self) -> HeaderValue {
        self.0.clone()
    }

    /// Runs `future` with this id as the current request's (see [`current`]).
    pub(crate) fn scope<F: Future>(self, future: F) -> impl Future<Output = F::Output> {
        CURRENT.scope(self, future)
    }
}

tokio::task_local! {
    /// The id of the request the current task is serving.
    static CURRENT: RequestId;
}

/// Calls `f` with the id of the request being served, if any (the log
/// formatter uses it, `logging.rs`). Tasks spawned by a request (a batch of
/// the session store, a password hash) are not inside it.
pub fn with_current<T>(f: impl FnOnce(Option<&str>) -> T) -> T {
    match CURRENT.try_with(RequestId::clone) {
        Ok(id) => f(Some(id.as_str())),
        Err(_) => f(None),
    }
}

/// At most 64 characters of `A-Z a-z 0-9 . _ -`, and at least one.
fn is_plain(id: &[u8]) -> bool {
    (1..=MAX_LEN).contains(&id.len())
        && id
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn trusted() -> TrustedProxies {
        "127.0.0.1".parse().expect("valid")
    }

    #[test]
    fn a_plain_id_from_a_trusted_proxy_is_kept() {
        let req = TestRequest::default()
            .peer_addr("127.0.0.1:4000".parse().expect("address"))
            .insert_header((X_REQUEST_ID, "abc-123_x.Y"))
            .to_srv_request();
        assert_eq!(RequestId::of(&req, &trusted()).as_str(), "abc-123_x.Y");
    }

    #[test]
    fn anything_else_gets_a_new_id() {
        let long = "a".repeat(65);
        for (peer, sent) in [
            ("192.0.2.1:4000", "abc"), // not a trusted proxy
            ("127.0.0.1:4000", long.as_str()),
            ("127.0.0.1:4000", "a b"),
            ("127.0.0.1:4000", "a\"b"),
            ("127.0.0.1:4000", "é"),
        ] {
            let req = TestRequest::default()
                .peer_addr(peer.parse().expect("address"))
                .insert_header((X_REQUEST_ID, sent))
                .to_srv_request();
            let id = RequestId::of(&req, &trusted());
            assert_ne!(id.as_str(), sent);
            assert_eq!(id.as_str().len(), 32);
            assert!(is_plain(id.as_str().as_bytes()));
        }
        assert!(is_plain("a".repeat(64).as_bytes()));
    }

    #[tokio::test]
    async fn the_current_id_is_there_inside_the_scope_only() {
        assert_eq!(with_current(|id| id.map(str::to_owned)), None);
        let id = RequestId(HeaderValue::from_static("inside"));
        let seen = id
            .scope(async { with_current(|id| id.map(str::to_owned)) })
            .await;
        assert_eq!(seen.as_deref(), Some("inside"));
    }
}
