//! Device cookies: strangers' failed logins lock out strangers, not the owner's
//! browser, which has a failure budget of its own.

use reqwest::{Response, StatusCode};
use session_demo::auth::throttle::AddressLimit;

use crate::support::{TestApp, assert_redirect_to, csrf_token, spawn_app, spawn_app_with};

const PASSWORD: &str = "correct horse battery";

/// The `Retry-After` of a 429, asserting it is one.
fn assert_locked_out(response: &Response) -> u64 {
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let seconds: u64 = response.headers()["retry-after"]
        .to_str()
        .expect("text")
        .parse()
        .expect("seconds");
    assert!((1..=900).contains(&seconds), "{seconds}");
    seconds
}

/// The `Set-Cookie` header of `response` for the cookie called `name`.
fn set_cookie(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .find(|value| value.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// Registers `username` in the app's own browser, which signs it in (and makes
/// it a trusted device), then signs out again.
async fn owner_registers(app: &TestApp, username: &str) {
    assert_redirect_to(&app.register(username, PASSWORD).await, "/account");
    app.logout().await;
}

#[tokio::test]
async fn a_strangers_failures_lock_out_strangers_but_not_the_owners_browser() {
    let app = spawn_app().await;
    owner_registers(&app, "olivia").await;
    owner_registers(&app, "oscar").await;

    let stranger = app.new_browser();
    for attempt in 1..=10 {
        let response = stranger.login("olivia", "a wrong guess").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{attempt}");
    }
    // Every untrusted client is locked out now, even with the right password.
    assert_locked_out(&stranger.login("olivia", PASSWORD).await);
    assert_locked_out(&app.new_browser().login("OLIVIA", PASSWORD).await);

    // The owner's browser signed in before: it still gets in.
    assert_redirect_to(&app.login("olivia", PASSWORD).await, "/account");
    app.logout().await;
    // Other users are not affected, from any client.
    assert_redirect_to(&stranger.login("oscar", PASSWORD).await, "/account");
}

#[tokio::test]
async fn a_trusted_device_runs_out_of_its_own_budget() {
    // More logins than one address may make under the default per-address limit.
    let app = spawn_app_with(|s| {
        s.address_limit = AddressLimit {
            burst: 100,
            ..AddressLimit::default()
        }
    })
    .await;
    owner_registers(&app, "petra").await;
    owner_registers(&app, "paul").await;

    // Strangers use up their budget; the owner's browser keeps all of its own.
    let stranger = app.new_browser();
    for _ in 1..=10 {
        stranger.login("petra", "a wrong guess").await;
    }
    assert_locked_out(&stranger.login("petra", PASSWORD).await);
    for attempt in 1..=10 {
        let response = app.login("petra", "my fingers slipped").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{attempt}");
    }
    assert_locked_out(&app.login("petra", PASSWORD).await);
    // Its failures count for petra only: paul signs in from the same browser.
    assert_redirect_to(&app.login("paul", PASSWORD).await, "/account");
}

#[tokio::test]
async fn a_forged_renamed_or_foreign_device_cookie_is_untrusted() {
    let app = spawn_app().await;
    owner_registers(&app, "quinn").await;
    // The attacker has an account of their own, so a genuine device cookie too.
    let attacker = app.new_browser();
    let token = app.csrf_from_with(&attacker, "/register").await;
    let response = attacker
        .post(
            "/register",
            &[
                ("csrf_token", &token),
                ("username", "mallory"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    let own = set_cookie(&response, "device-mallory").expect("a device cookie");
    let own_value = own["device-mallory=".len()..]
        .split(';')
        .next()
        .expect("a value")
        .to_owned();

    for _ in 0..10 {
        attacker.login("quinn", "a wrong guess").await;
    }
    let url = app.address.parse().expect("a URL");
    // Another app on another secret issues a quinn device cookie of its own.
    let elsewhere = spawn_app_with(|s| {
        s.session_secret = Some(session_demo::config::Secret::new("z".repeat(64) + "other"));
    })
    .await;
    let foreign_browser = elsewhere.new_browser();
    let token = elsewhere
        .csrf_from_with(&foreign_browser, "/register")
        .await;
    let response = foreign_browser
        .post(
            "/register",
            &[
                ("csrf_token", &token),
                ("username", "quinn"),
                ("password", PASSWORD),
                ("password_confirm", PASSWORD),
            ],
        )
        .await;
    let foreign = set_cookie(&response, "device-quinn").expect("a device cookie");
    let foreign_value = foreign["device-quinn=".len()..]
        .split(';')
        .next()
        .expect("a value")
        .to_owned();

    for value in ["forged", &own_value, &foreign_value] {
        let browser = app.new_browser();
        browser
            .cookies
            .add_cookie_str(&format!("device-quinn={value}; Path=/"), &url);
        assert_locked_out(&browser.login("quinn", PASSWORD).await);
    }
    // The owner's genuine one still works.
    assert_redirect_to(&app.login("quinn", PASSWORD).await, "/account");
}

#[tokio::test]
async fn device_cookies_are_http_only_lax_and_as_secure_as_the_session_cookie() {
    let app = spawn_app().await;
    let response = app.register("rita", PASSWORD).await;
    let cookie = set_cookie(&response, "device-rita").expect("a device cookie");
    let attributes = cookie.to_lowercase();
    for attribute in ["httponly", "samesite=lax", "path=/", "max-age="] {
        assert!(attributes.contains(attribute), "{cookie}");
    }
    assert!(!attributes.contains("secure;") && !attributes.ends_with("secure"));
    assert!(
        !cookie.contains("rita "),
        "the value is encrypted: {cookie}"
    );
    app.logout().await;
    let response = app.login("rita", PASSWORD).await;
    assert!(
        set_cookie(&response, "device-rita").is_some(),
        "a login issues one too"
    );

    // In production: Secure, and the __Host- prefix. (A client keeps Secure
    // cookies for HTTPS only, so this one carries its form token's cookie by
    // hand: the registration page stores no session, see csrf.rs.)
    let production = spawn_app_with(|s| {
        s.environment = session_demo::config::Environment::Production;
        s.cookie_secure = true;
    })
    .await;
    let plain = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client");
    let page = plain
        .get(format!("{}/register", production.address))
        .send()
        .await
        .expect("sent");
    let pre_session = set_cookie(&page, "__Host-csrf").expect("a pre-session cookie");
    let pre_session = pre_session
        .split(';')
        .next()
        .expect("name=value")
        .to_owned();
    let token = csrf_token(&page.text().await.expect("body"));
    let response = plain
        .post(format!("{}/register", production.address))
        .header("cookie", pre_session)
        .form(&[
            ("csrf_token", token.as_str()),
            ("username", "rita"),
            ("password", PASSWORD),
            ("password_confirm", PASSWORD),
        ])
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = set_cookie(&response, "__Host-device-rita").expect("a device cookie");
    assert!(cookie.to_lowercase().contains("; secure"), "{cookie}");
}

/// A browser with `cookie` (`name=value`) in its jar.
fn browser_with(app: &TestApp, cookie: &str) -> crate::support::Browser {
    let browser = app.new_browser();
    let url = app.address.parse().expect("a URL");
    browser
        .cookies
        .add_cookie_str(&format!("{cookie}; Path=/"), &url);
    browser
}

/// The `name=value` part of a `Set-Cookie` header.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().expect("name=value").to_owned()
}

/// Ten wrong passwords for `username` from a stranger: its untrusted clients
/// are locked out now.
async fn lock_out_strangers(app: &TestApp, username: &str) {
    let stranger = app.new_browser();
    for _ in 0..10 {
        stranger.login(username, "a wrong guess").await;
    }
    assert_locked_out(&stranger.login(username, PASSWORD).await);
}

#[tokio::test]
async fn a_device_cookie_from_before_a_password_change_is_untrusted() {
    let app = spawn_app().await;
    let response = app.register("sofia", PASSWORD).await;
    let stolen = pair(&set_cookie(&response, "device-sofia").expect("a device cookie"));

    // The owner changes the password; this browser gets a fresh device cookie.
    let token = app.csrf_from("/account/password").await;
    let new_password = "a brand new passphrase";
    let response = app
        .post(
            "/account/password",
            &[
                ("csrf_token", &token),
                ("current_password", PASSWORD),
                ("new_password", new_password),
                ("new_password_confirm", new_password),
            ],
        )
        .await;
    assert_redirect_to(&response, "/account");
    assert!(
        set_cookie(&response, "device-sofia").is_some(),
        "a fresh one"
    );
    app.logout().await;

    lock_out_strangers(&app, "sofia").await;
    // A copy of the old cookie, in another browser: untrusted, locked out.
    let thief = browser_with(&app, &stolen);
    assert_locked_out(&thief.login("sofia", new_password).await);
    // The owner's browser, with the cookie from the password change: trusted.
    assert_redirect_to(&app.login("sofia", new_password).await, "/account");
}

#[tokio::test]
async fn an_expired_device_cookie_is_untrusted_whatever_the_browser_keeps() {
    use std::time::{Duration, SystemTime};

    use session_demo::auth::{
        credentials::Username,
        device::{DeviceCookies, LIFETIME},
        users,
    };

    let app = spawn_app().await;
    owner_registers(&app, "tomas").await;
    let user = users::find_by_username(&app.pool, "tomas")
        .await
        .expect("a query")
        .expect("the user");
    // Device cookies as the app seals them (its key comes from the secret).
    let key = actix_web::cookie::Key::derive_from(crate::support::TEST_SECRET.as_bytes());
    let devices = DeviceCookies::new(key, false, false);
    let username = Username::parse("tomas").expect("valid");
    let day = Duration::from_secs(24 * 3600);
    let issued = |age: Duration| {
        let cookie = devices
            .issue_at(&username, &user, SystemTime::now() - age)
            .expect("a cookie");
        format!("{}={}", cookie.name(), cookie.value())
    };
    let (old, recent) = (issued(LIFETIME + day), issued(LIFETIME - day));

    lock_out_strangers(&app, "tomas").await;
    assert_locked_out(&browser_with(&app, &old).login("tomas", PASSWORD).await);
    assert_redirect_to(
        &browser_with(&app, &recent).login("tomas", PASSWORD).await,
        "/account",
    );
}

#[tokio::test]
async fn forgetting_all_trusted_devices_untrusts_every_browser_of_the_user() {
    // More logins than one address may make under the default per-address limit.
    let app = spawn_app_with(|s| {
        s.address_limit = AddressLimit {
            burst: 100,
            ..AddressLimit::default()
        }
    })
    .await;
    let response = app.register("ursula", PASSWORD).await;
    let copy = pair(&set_cookie(&response, "device-ursula").expect("a device cookie"));
    owner_registers(&app, "victor").await;
    let victor_device = app.new_browser();
    assert_redirect_to(&victor_device.login("victor", PASSWORD).await, "/account");
    assert_redirect_to(&app.login("ursula", PASSWORD).await, "/account");

    let page = app.get_html("/account").await;
    assert!(
        page.contains("action=\"/account/devices/forget\""),
        "{page}"
    );
    // Without its token the form changes nothing.
    let response = app.post("/account/devices/forget", &[]).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let token = csrf_token(&page);
    let response = app
        .post("/account/devices/forget", &[("csrf_token", &token)])
        .await;
    assert_redirect_to(&response, "/account");
    let removal = set_cookie(&response, "device-ursula").expect("a removal");
    assert!(removal.contains("Max-Age=0"), "{removal}");
    assert_eq!(
        app.get("/account").await.status(),
        StatusCode::OK,
        "still signed in"
    );
    app.logout().await;

    lock_out_strangers(&app, "ursula").await;
    lock_out_strangers(&app, "victor").await;
    // Every browser of ursula's is a stranger now...
    assert_locked_out(&browser_with(&app, &copy).login("ursula", PASSWORD).await);
    assert_locked_out(&app.login("ursula", PASSWORD).await);
    // ...and other users' trusted browsers are not.
    assert_redirect_to(&victor_device.login("victor", PASSWORD).await, "/account");
}
