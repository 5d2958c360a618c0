//! The middleware stack, in one place. `startup.rs` only assembles it.
//!
//! Outermost first, as a request meets it:
//!
//! 1. `edge`: the one place that sees a request's `Result`. Whatever comes
//!    back from inside, a response or an error, leaves it as one final
//!    response, which then gets everything every response gets: its error
//!    page rendered in the layout (`error_pages`), the security headers
//!    (`headers`), the instance's name and, while draining,
//!    `Connection: close` (`instance`), the request's id
//!    (`request_id`: every log line written while it is served carries it
//!    too), and its line in the access log (`access_log`).
//!    It records the request's metrics too: `http_server_active_requests`,
//!    `http_server_request_duration_seconds` and the 503s by cause
//!    (`metrics.rs`). (Login attempts are counted around their route:
//!    `metrics`.)
//! 2. `request_limits`: oversized request heads are refused before any work.
//! 3. `cookie_header`: unreadable pairs are dropped before anything reads cookies.
//! 4. The router; the pages of a session have the session's own layers
//!    (`session/middleware.rs`: the store's failures, secret rotation,
//!    actix-session) and `Cache-Control: no-store` (`headers::private_page`).
//!
//! **Why one edge and not a layer per concern.** A middleware that fails
//! (actix-session does, when its store fails) returns an `Err`, not a
//! response, and the request goes with it. A layer above it cannot make a
//! response of its own for that error: actix-web's `ServiceResponse` needs
//! the request, and a layer cannot keep a copy of the request across the call
//! either (routing below it needs the only reference, and panics otherwise).
//! So with one layer per concern, every layer above a failing one would need
//! an `Err` branch of its own (the review found three idioms for it). Here
//! the edge is the outermost layer: an `Err` reaches it and nothing else, it
//! becomes its response there, once, and that response leaves for the client
//! inside the error (actix-web's `InternalError::from_response`), already
//! finished. The concerns stay in their own files, as plain functions the
//! edge calls on the final response.

pub(crate) mod access_log;
pub(crate) mod cookie_header;
pub(crate) mod error_pages;
pub(crate) mod headers;
pub(crate) mod instance;
pub(crate) mod metrics;
pub(crate) mod request_id;
pub(crate) mod request_limits;

use std::{rc::Rc, sync::Arc, time::Instant};

use actix_web::{
    HttpResponse,
    body::{BoxBody, EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    error::InternalError,
    middleware::Next,
};

use crate::{error::UnavailableCause, metrics::Metrics, trusted_proxies::TrustedProxies};
use instance::Instance;
use request_id::RequestId;

/// What the edge adds to every response, built once per worker.
#[derive(Clone)]
pub(crate) struct Edge {
    /// Production: HSTS too.
    pub(crate) production: bool,
    /// The instance's name and drain state.
    pub(crate) instance: Instance,
    /// Who may name the client and the request id (`TRUSTED_PROXIES`).
    pub(crate) trusted_proxies: TrustedProxies,
    /// The metrics, when `METRICS_ADDR` is set.
    pub(crate) metrics: Option<Arc<Metrics>>,
}

impl Edge {
    /// Everything every final response gets, whatever made it.
    fn finish<B>(&self, response: &mut HttpResponse<B>, id: &RequestId, served: Served) {
        headers::add_security_headers(response.headers_mut(), self.production);
        self.instance.mark(response);
        response
            .headers_mut()
            .insert(request_id::X_REQUEST_ID, id.header_value());
        let status = response.status();
        if let Some(metrics) = &self.metrics {
            let route = served.route.as_deref().unwrap_or("");
            metrics.request_finished(
                served.method,
                route,
                status.as_str(),
                served.started.elapsed(),
            );
            if let Some(UnavailableCause(cause)) = response.extensions().get() {
                metrics.unavailable(cause);
            }
        }
        if let Some(access) = served.access {
            access.finish(served.method_text.as_str(), served.route.as_deref(), status);
        }
    }
}

/// What the edge noted of a request before passing it on.
struct Served {
    started: Instant,
    /// The method's metric label (`_OTHER` for unknown ones).
    method: &'static str,
    /// The method as sent, for the access log.
    method_text: actix_web::http::Method,
    /// The route template, `None` when nothing matched.
    route: Option<String>,
    access: Option<access_log::Entry>,
}

/// The edge of the stack: see the module documentation.
pub(crate) async fn edge(
    edge: Rc<Edge>,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, BoxBody>>, actix_web::Error> {
    let id = RequestId::of(&req, &edge.trusted_proxies);
    // Everything below, and every log line written meanwhile, runs with the id.
    id.clone().scope(serve(edge, id, req, next)).await
}

async fn serve(
    edge: Rc<Edge>,
    id: RequestId,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody, BoxBody>>, actix_web::Error> {
    let (method_index, method) = crate::metrics::method_label(req.method());
    // Counted as active until answered, or abandoned by its client.
    let _active = edge
        .metrics
        .as_ref()
        .map(|m| m.request_started(method_index));
    let access = access_log::Entry::begin(&req, &edge.trusted_proxies);
    let served = Served {
        started: Instant::now(),
        method,
        method_text: req.method().clone(),
        // The route template that will serve the request ("/cart/add", never
        // the raw path), when the metrics or the access log want it: asked
        // now, because an error comes back without the request.
        route: (edge.metrics.is_some() || access.is_some())
            .then(|| req.match_pattern())
            .flatten(),
        access,
    };
    match next.call(req).await {
        Ok(response) => {
            let mut response = error_pages::render(response, &id);
            edge.finish(response.response_mut(), &id, served);
            Ok(response)
        }
        Err(error) => {
            // The error's own response (`AppError::error_response` logs a
            // 5xx's cause here, once), as a page in the layout.
            let mut response = error_pages::render_boxed(error.error_response(), &id);
            edge.finish(&mut response, &id, served);
            // Without the request there is no `ServiceResponse` to make: the
            // finished response travels inside the error, and actix-web sends
            // exactly it.
            Err(InternalError::from_response(error, response).into())
        }
    }
}
