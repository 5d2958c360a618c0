//! This process as one of several instances behind a reverse proxy: its name
//! on every response, and `Connection: close` while it drains (see
//! `shutdown.rs` for why).
//!
//! With `INSTANCE_NAME` set, every response carries `X-Instance: <name>`, so a
//! person (or a test) can see which instance answered a request that went
//! through the proxy.

use actix_web::{
    HttpResponse,
    http::{
        ConnectionType,
        header::{HeaderName, HeaderValue},
    },
};

use crate::shutdown::Draining;

/// The response header naming the instance.
pub(crate) const INSTANCE_HEADER: HeaderName = HeaderName::from_static("x-instance");

/// The instance's name and drain state, applied to every response.
#[derive(Debug, Clone)]
pub(crate) struct Instance {
    name: Option<HeaderValue>,
    draining: Draining,
}

impl Instance {
    /// `name` is `INSTANCE_NAME` (settings allow only characters that are
    /// valid in a header).
    pub(crate) fn new(name: Option<&str>, draining: Draining) -> Self {
        Self {
            name: name.and_then(|name| HeaderValue::from_str(name).ok()),
            draining,
        }
    }

    /// Adds `X-Instance` (when named) and, while draining, `Connection: close`.
    pub(crate) fn mark<B>(&self, response: &mut HttpResponse<B>) {
        if let Some(name) = &self.name {
            response.headers_mut().insert(INSTANCE_HEADER, name.clone());
        }
        if self.draining.is_draining() {
            response
                .head_mut()
                .set_connection_type(ConnectionType::Close);
        }
    }
}
