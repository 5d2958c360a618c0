//! `GET /register` and `POST /register`: creating an account.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use serde::Deserialize;
use sqlx::PgPool;

use crate::{
    auth::{
        credentials::{NewPassword, Username},
        device::DeviceCookies,
        password,
        users::{self, CreateUserError},
    },
    error::AppError,
    forms::CsrfForm,
    routes::{layout::Layout, render, see_other, user_agent},
    session::{AppSession, typed::SignedInUser},
};

/// The registration page: `templates/register.html`.
#[derive(Template)]
#[template(path = "register.html")]
pub(crate) struct RegisterPage {
    /// The shared layout.
    pub layout: Layout,
    /// The username typed so far (kept after an error).
    pub username: String,
    /// What was wrong with the last attempt.
    pub error: Option<String>,
}

/// The registration form's fields.
#[derive(Deserialize)]
pub(crate) struct RegisterForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
}

/// Shows the empty form.
pub(crate) async fn form(
    session: AppSession,
    pool: web::Data<PgPool>,
) -> Result<HttpResponse, AppError> {
    page(&session, &pool, StatusCode::OK, String::new(), None).await
}

/// Creates the account and signs it in, or shows the form again with a `422`.
/// The browser becomes a trusted device for the new account.
pub(crate) async fn submit(
    CsrfForm(form): CsrfForm<RegisterForm>,
    session: AppSession,
    pool: web::Data<PgPool>,
    devices: web::Data<DeviceCookies>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let rejected = |message: String| {
        page(
            &session,
            &pool,
            StatusCode::UNPROCESSABLE_ENTITY,
            form.username.clone(),
            Some(message),
        )
    };
    let username = match Username::parse(&form.username) {
        Ok(username) => username,
        Err(error) => return rejected(error.to_string()).await,
    };
    let new_password = match NewPassword::parse(&form.password, &form.password_confirm) {
        Ok(password) => password,
        Err(error) => return rejected(error.to_string()).await,
    };

    let hash = password::hash(new_password.expose().to_owned()).await?;
    let created = match users::create(&pool, &username, &hash).await {
        Ok(user) => user,
        Err(CreateUserError::Taken) => {
            return rejected("That username is taken; choose another.".into()).await;
        }
        Err(CreateUserError::Database(error)) => return Err(error.into()),
    };

    let device_cookie = devices
        .issue(&username, &created)
        .map_err(AppError::Internal)?;
    let user = SignedInUser {
        id: created.id,
        username: created.username,
    };
    session.sign_in(&user, created.credentials_version, user_agent(&req));
    session.set_flash(&format!(
        "Welcome, {}! Your account is ready and you are signed in.",
        user.username
    ));
    let mut response = see_other("/account");
    response
        .add_cookie(&device_cookie)
        .map_err(|e| AppError::Internal(e.into()))?;
    Ok(response)
}

async fn page(
    session: &AppSession,
    pool: &PgPool,
    status: StatusCode,
    username: String,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let page = RegisterPage {
        layout: Layout::for_form(session, pool, "register").await?,
        username,
        error,
    };
    render(status, &page)
}
