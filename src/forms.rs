//! Form bodies: `CsrfForm<T>`, the extractor every POST handler uses, and
//! `PlainForm<T>`, the same without the CSRF check (only logout needs that).
//!
//! `CsrfForm` does three checks, in this order, before the handler runs:
//! 1. the body is at most [`MAX_BODY_BYTES`](crate::forms::MAX_BODY_BYTES) (else `413`) and arrives within
//!    the [`BodyTimeout`](crate::forms::BodyTimeout) (else `408`, and the connection is closed, so a
//!    client that stops sending cannot hold it open);
//! 2. its `csrf_token` field equals this session's token (else `403`, and the
//!    handler never runs, so nothing changes);
//! 3. it decodes into `T` (else `400`). Handlers take text fields and validate
//!    them into domain types themselves, so a wrong value gets a `422` page with
//!    a message rather than a bare `400`.

use std::{future::Future, pin::Pin, time::Duration};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::StatusCode, web};
use serde::{Deserialize, de::DeserializeOwned};

use crate::{error::AppError, session::AppSession};

/// The largest form body accepted: 16 KiB.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// How long a form body may take to arrive (`REQUEST_BODY_TIMEOUT_SECONDS`),
/// kept as app data.
#[derive(Debug, Clone, Copy)]
pub struct BodyTimeout(pub Duration);

impl Default for BodyTimeout {
    /// Ten seconds: 16 KiB arrive in far less even on a slow mobile link.
    fn default() -> Self {
        Self(Duration::from_secs(10))
    }
}

/// A form that passed the size and CSRF checks, decoded into `T`.
pub struct CsrfForm<T>(pub T);

/// A form that passed the size check, decoded into `T` (no CSRF check).
pub struct PlainForm<T>(pub T);

/// Only the token, read before anything else in the form is looked at.
#[derive(Deserialize, Default)]
struct CsrfField {
    csrf_token: Option<String>,
}

type Extracting<T> = Pin<Box<dyn Future<Output = Result<T, AppError>>>>;

/// Reads the body within the size limit (`web::Bytes` enforces the app's
/// `PayloadConfig`, see startup.rs) and the [`BodyTimeout`].
fn read_body(req: &HttpRequest, payload: &mut Payload) -> Extracting<web::Bytes> {
    let body = web::Bytes::from_request(req, payload);
    let timeout = req.app_data::<BodyTimeout>().copied().unwrap_or_default();
    Box::pin(async move {
        let Ok(body) = tokio::time::timeout(timeout.0, body).await else {
            return Err(AppError::RequestTimeout);
        };
        body.map_err(|error| {
            if error.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::PayloadTooLarge
            } else {
                AppError::BadRequest("The request body could not be read.".into())
            }
        })
    })
}

/// Decodes a form body into `T`.
fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    serde_urlencoded::from_bytes(body)
        .map_err(|_| AppError::BadRequest("The form could not be read.".into()))
}

impl<T: DeserializeOwned + 'static> FromRequest for PlainForm<T> {
    type Error = AppError;
    type Future = Extracting<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_body(req, payload);
        Box::pin(async move { decode(&body.await?).map(PlainForm) })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = AppError;
    type Future = Extracting<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = read_body(req, payload);
        let session = AppSession::extract(req);
        Box::pin(async move {
            let body = body.await?;
            let session = session.await.map_err(|_| AppError::CsrfRejected)?;
            let field: CsrfField = serde_urlencoded::from_bytes(&body).unwrap_or_default();
            match field.csrf_token {
                Some(token) if session.csrf_token_matches(&token) => decode(&body).map(CsrfForm),
                _ => Err(AppError::CsrfRejected),
            }
        })
    }
}
