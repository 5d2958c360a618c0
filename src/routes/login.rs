//! `GET /login`, `POST /login` and `POST /logout`.

use actix_web::{
    HttpRequest, HttpResponse,
    cookie::{Cookie, SameSite},
    http::StatusCode,
    web::{self, Query},
};
use askama::Template;
use serde::Deserialize;
use sqlx::PgPool;

use crate::{
    auth::{
        device::DeviceCookies,
        login::{self, LoginOutcome},
        redirect::local_path,
    },
    cart,
    error::AppError,
    forms::{CsrfForm, PlainForm},
    routes::{layout::Layout, render, see_other, user_agent},
    session::{AppSession, cookie::CookieConfig, typed::SignedInUser},
};

/// The demo account shown on the login page (development only).
#[derive(Debug, Clone, Default)]
pub(crate) struct DemoAccount(pub Option<(String, String)>);

/// The login page: `templates/login.html`.
#[derive(Template)]
#[template(path = "login.html")]
pub(crate) struct LoginPage {
    /// The shared layout.
    pub layout: Layout,
    /// The username typed so far.
    pub username: String,
    /// Where to go after signing in (a checked local path, or empty).
    pub next: String,
    /// What went wrong.
    pub error: Option<String>,
    /// The development demo account, if any.
    pub demo: Option<(String, String)>,
}

/// `?next=` on the login page.
#[derive(Deserialize)]
pub(crate) struct NextQuery {
    next: Option<String>,
}

/// The login form's fields.
#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

/// The message for every failed login: it never says which part was wrong.
pub(crate) const LOGIN_FAILED: &str = "Invalid username or password.";

/// Shows the login form.
pub(crate) async fn form(
    query: Query<NextQuery>,
    session: AppSession,
    pool: web::Data<PgPool>,
    demo: web::Data<DemoAccount>,
) -> Result<HttpResponse, AppError> {
    let next = query.next.as_deref().and_then(local_path).unwrap_or("");
    page(
        &session,
        &pool,
        &demo,
        StatusCode::OK,
        String::new(),
        next,
        None,
    )
    .await
}

/// Checks the credentials; signs in and redirects, or answers `401`/`429`.
pub(crate) async fn submit(
    CsrfForm(form): CsrfForm<LoginForm>,
    session: AppSession,
    pool: web::Data<PgPool>,
    devices: web::Data<DeviceCookies>,
    demo: web::Data<DemoAccount>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let next = form.next.as_deref().and_then(local_path).unwrap_or("");
    match login::attempt(&pool, &devices, &req, &form.username, form.password).await? {
        LoginOutcome::Accepted {
            user,
            device_cookie,
        } => {
            let signed_in = SignedInUser {
                id: user.id,
                username: user.username,
            };
            session.sign_in(&signed_in, user.credentials_version, user_agent(&req));
            session.set_flash(&format!("Signed in as {}.", signed_in.username));
            let mut response = see_other(if next.is_empty() { "/account" } else { next });
            response
                .add_cookie(&device_cookie)
                .map_err(|e| AppError::Internal(e.into()))?;
            Ok(response)
        }
        LoginOutcome::Refused => {
            page(
                &session,
                &pool,
                &demo,
                StatusCode::UNAUTHORIZED,
                form.username,
                next,
                Some(LOGIN_FAILED.into()),
            )
            .await
        }
        LoginOutcome::LockedOut { retry_after } => Err(AppError::TooManyRequests { retry_after }),
    }
}

/// The logout form: only its CSRF token matters.
#[derive(Deserialize)]
pub(crate) struct LogoutForm {
    csrf_token: Option<String>,
}

/// Signs out: deletes the cart and the server-side session, removes the cookie.
///
/// A session that is already gone (expired, or ended from another browser) has
/// no CSRF token left to compare; there is nothing to protect then, so the
/// answer is the same as a normal logout: the cookie is removed. A live session
/// must send its token (else `403`, and it stays signed in).
pub(crate) async fn logout(
    PlainForm(form): PlainForm<LogoutForm>,
    session: AppSession,
    pool: web::Data<PgPool>,
    cookie: web::Data<CookieConfig>,
) -> Result<HttpResponse, AppError> {
    if session.existing_csrf_token().is_some() {
        let token = form.csrf_token.as_deref().unwrap_or("");
        if !session.csrf_token_matches(token) {
            return Err(AppError::CsrfRejected);
        }
    }
    if let Some(cart_id) = session.cart_id() {
        cart::delete(&pool, &cart_id).await?;
    }
    session.sign_out();
    let mut response = see_other("/");
    // actix-session sends a removal cookie only when the session's row still
    // existed; send one ourselves so the cookie goes in every case. With the
    // session cookie's own attributes: a browser ignores a removal of a
    // `__Host-` cookie that lacks `Secure` or `Path=/`.
    let removal = Cookie::build(cookie.name.clone(), "")
        .path("/")
        .secure(cookie.secure)
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish();
    response
        .add_removal_cookie(&removal)
        .map_err(|e| AppError::Internal(e.into()))?;
    Ok(response)
}

async fn page(
    session: &AppSession,
    pool: &PgPool,
    demo: &DemoAccount,
    status: StatusCode,
    username: String,
    next: &str,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let page = LoginPage {
        layout: Layout::for_form(session, pool, "login").await?,
        username,
        next: next.to_owned(),
        error,
        demo: demo.0.clone(),
    };
    render(status, &page)
}
