//! `/account`: who you are, your sessions, ending them, changing your password.
//! Every route here sits behind `auth::guard::require_sign_in`.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use askama::Template;
use serde::Deserialize;
use sqlx::PgPool;

use crate::{
    auth::{
        credentials::{NewPassword, Username},
        device::DeviceCookies,
        login::{self, LoginOutcome},
        password,
        users::{self, User},
    },
    error::AppError,
    forms::CsrfForm,
    routes::{layout::Layout, render, see_other, time_text},
    session::{AppSession, current::CurrentSessionDigest, typed::SignedInUser, user_sessions},
};

/// The account page: `templates/account.html`.
#[derive(Template)]
#[template(path = "account.html")]
pub(crate) struct AccountPage {
    /// The shared layout.
    pub layout: Layout,
    /// The signed-in user's name.
    pub username: String,
    /// When the account was created.
    pub created: String,
    /// How long this session has existed.
    pub age: String,
    /// When this session ends if left idle.
    pub expires: String,
    /// When this session ends at the latest.
    pub absolute_expires: String,
    /// The user's live sessions, this one first.
    pub sessions: Vec<SessionRow>,
}

/// One line of the sessions table.
pub(crate) struct SessionRow {
    /// The session's opaque id (for the revoke form).
    pub id: i64,
    /// When it was created, in words.
    pub created: String,
    /// When it was last seen, in words.
    pub last_seen: String,
    /// The browser's user agent.
    pub user_agent: String,
    /// True for the session viewing the page.
    pub current: bool,
}

/// Shows the account page.
pub(crate) async fn show(
    user: web::ReqData<SignedInUser>,
    session: AppSession,
    pool: web::Data<PgPool>,
    current: CurrentSessionDigest,
) -> Result<HttpResponse, AppError> {
    let sessions = user_sessions::list(&pool, user.id, current.digest()).await?;
    let current = sessions.iter().find(|s| s.current);
    let created: Option<String> = sqlx::query_scalar(
        "SELECT to_char(created_at AT TIME ZONE 'UTC', 'FMDD Mon YYYY, HH24:MI \"UTC\"')
         FROM users WHERE id = $1",
    )
    .bind(user.id)
    .fetch_optional(pool.get_ref())
    .await?;
    let page = AccountPage {
        layout: Layout::for_form(&session, &pool, "account").await?,
        username: user.username.clone(),
        created: created.unwrap_or_default(),
        age: current.map_or_else(String::new, |s| time_text::duration(s.age_seconds)),
        expires: current.map_or_else(String::new, |s| time_text::from_now(s.expires_in_seconds)),
        absolute_expires: current.map_or_else(String::new, |s| {
            time_text::from_now(s.absolute_expires_in_seconds)
        }),
        sessions: sessions
            .iter()
            .map(|s| SessionRow {
                id: s.id,
                created: time_text::ago(s.age_seconds),
                last_seen: time_text::ago(s.idle_seconds),
                user_agent: s
                    .user_agent
                    .clone()
                    .filter(|ua| !ua.is_empty())
                    .unwrap_or_else(|| "Unknown browser".into()),
                current: s.current,
            })
            .collect(),
    };
    render(StatusCode::OK, &page)
}

/// The revoke form: one `session` id, or `all_others=1`.
#[derive(Deserialize)]
pub(crate) struct RevokeForm {
    session: Option<String>,
    all_others: Option<String>,
}

/// Ends one other session of the user, or all of them.
pub(crate) async fn revoke(
    CsrfForm(form): CsrfForm<RevokeForm>,
    user: web::ReqData<SignedInUser>,
    session: AppSession,
    pool: web::Data<PgPool>,
    current: CurrentSessionDigest,
) -> Result<HttpResponse, AppError> {
    let current = current.digest();
    if form.all_others.as_deref() == Some("1") {
        let ended = user_sessions::revoke_all_others(&pool, user.id, current).await?;
        session.set_flash(&match ended {
            0 => "You were not signed in anywhere else.".to_owned(),
            1 => "Signed out of 1 other session.".to_owned(),
            n => format!("Signed out of {n} other sessions."),
        });
        return Ok(see_other("/account"));
    }
    let Some(id) = form
        .session
        .as_deref()
        .and_then(|s| s.trim().parse::<i64>().ok())
    else {
        return Err(AppError::BadRequest(
            "Choose a session to end: the form needs a session id or all_others=1.".into(),
        ));
    };
    let ended = user_sessions::revoke(&pool, user.id, id, current).await?;
    session.set_flash(if ended {
        "Session ended: that browser is signed out."
    } else {
        "That session had already ended."
    });
    Ok(see_other("/account"))
}

/// The password page: `templates/password.html`.
#[derive(Template)]
#[template(path = "password.html")]
pub(crate) struct PasswordPage {
    /// The shared layout.
    pub layout: Layout,
    /// What was wrong with the last attempt.
    pub error: Option<String>,
}

/// The password form's fields.
#[derive(Deserialize)]
pub(crate) struct PasswordForm {
    #[serde(default)]
    current_password: String,
    #[serde(default)]
    new_password: String,
    #[serde(default)]
    new_password_confirm: String,
}

/// Shows the password form.
pub(crate) async fn password_form(
    session: AppSession,
    pool: web::Data<PgPool>,
) -> Result<HttpResponse, AppError> {
    password_page(&session, &pool, StatusCode::OK, None).await
}

/// Changes the password: this session gets a new key, every other session of
/// the user ends (on every app process: they are rows in the shared table).
///
/// The current password is checked by the same decision as a login, so a wrong
/// one counts as a failed login for the user, and too many of them lock this
/// form out exactly as they lock out the login form (`429`).
pub(crate) async fn change_password(
    CsrfForm(form): CsrfForm<PasswordForm>,
    user: web::ReqData<SignedInUser>,
    session: AppSession,
    pool: web::Data<PgPool>,
    current: CurrentSessionDigest,
    devices: web::Data<DeviceCookies>,
    req: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let rejected = |message: &str| {
        password_page(
            &session,
            &pool,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some(message.to_owned()),
        )
    };
    let account =
        match login::attempt(&pool, &devices, &req, &user.username, form.current_password).await? {
            LoginOutcome::Accepted { user, .. } => user,
            LoginOutcome::Refused => {
                return rejected("Your current password is not correct.").await;
            }
            LoginOutcome::LockedOut { retry_after } => {
                return Err(AppError::TooManyRequests { retry_after });
            }
        };
    let new_password = match NewPassword::parse(&form.new_password, &form.new_password_confirm) {
        Ok(password) => password,
        Err(error) => return rejected(&error.to_string()).await,
    };
    let hash = password::hash(new_password.expose().to_owned()).await?;
    // First the new version, then the delete: a login that read the old
    // password is either deleted here or refused by the database when it
    // saves its session (migrations/0005).
    let Some(version) = users::set_password_hash(&pool, user.id, &hash).await? else {
        // The account was deleted meanwhile (its sessions went with it).
        return Ok(see_other("/login"));
    };
    user_sessions::revoke_all_others(&pool, user.id, current.digest()).await?;
    session.renew_credentials(version);
    session.set_flash("Password changed. You were signed out everywhere else.");
    // Device cookies sealed under the old password are untrusted now, this
    // browser's included: it gets a fresh one.
    let mut response = see_other("/account");
    if let Ok(username) = Username::parse(&account.username) {
        let changed = User {
            credentials_version: version,
            ..account
        };
        let device_cookie = devices
            .issue(&username, &changed)
            .map_err(AppError::Internal)?;
        response
            .add_cookie(&device_cookie)
            .map_err(|e| AppError::Internal(e.into()))?;
    }
    Ok(response)
}

/// Forgets every trusted browser of the user, this one included: from now on
/// each of them is an untrusted client at login until it signs in again
/// (`auth/device.rs`). For an owner who fears a copy of a device cookie is
/// out there. The user's sessions are left alone (the account page ends
/// those).
pub async fn forget_devices(
    _form: CsrfForm<serde::de::IgnoredAny>,
    user: web::ReqData<SignedInUser>,
    session: AppSession,
    pool: web::Data<PgPool>,
    devices: web::Data<DeviceCookies>,
) -> Result<HttpResponse, AppError> {
    users::forget_devices(&pool, user.id).await?;
    session.set_flash(
        "Every browser you signed in with is untrusted now, this one included: each \
         becomes trusted again by signing in.",
    );
    let mut response = see_other("/account");
    // Untrusted already; the removal just tidies this browser's cookie away.
    if let Ok(username) = Username::parse(&user.username) {
        response
            .add_cookie(&devices.removal(&username))
            .map_err(|e| AppError::Internal(e.into()))?;
    }
    Ok(response)
}

async fn password_page(
    session: &AppSession,
    pool: &PgPool,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    let page = PasswordPage {
        layout: Layout::for_form(session, pool, "account").await?,
        error,
    };
    render(status, &page)
}
