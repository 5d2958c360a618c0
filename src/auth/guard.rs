//! The sign-in guard: one middleware in front of every `/account` route.

use actix_web::{
    HttpMessage, HttpResponse,
    body::{EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::header,
    middleware::Next,
};

use crate::session::{AppSession, typed::SignedInUser};

/// Lets signed-in requests through, with the user available to handlers as a
/// `web::ReqData<SignedInUser>`; sends everyone else to the login page, which
/// brings them back here afterwards (`/login?next=/account`).
pub async fn require_sign_in(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let session = req.extract::<AppSession>().await?;
    match session.user() {
        Some(user) => {
            req.extensions_mut().insert::<SignedInUser>(user);
            Ok(next.call(req).await?.map_into_left_body())
        }
        None => {
            // Our own paths under /account need no escaping; anything odd gets the plain page.
            let path = req.path();
            let plain = path
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.'));
            let target = format!("/login?next={}", if plain { path } else { "/account" });
            let response = HttpResponse::SeeOther()
                .insert_header((header::LOCATION, target))
                .finish();
            Ok(req.into_response(response).map_into_right_body())
        }
    }
}
