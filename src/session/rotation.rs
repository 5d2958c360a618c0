//! Rotating `SESSION_SECRET` without signing everybody out.
//!
//! actix-session decrypts the cookie with exactly one key. To replace the
//! secret, the app runs for a while with the new one in `SESSION_SECRET` and the
//! old one in `SESSION_SECRET_PREVIOUS`. This middleware sits in front of
//! actix-session: when a request's session cookie does not decrypt with the
//! new key but does with the old one, it
//! 1. re-encrypts the cookie under the new key and rewrites the request's
//!    `Cookie` header, so actix-session sees a cookie it can read: the same
//!    session, nothing lost;
//! 2. sends the re-encrypted cookie back on that same response (unless
//!    actix-session already set a fresh cookie), so the browser stores it even
//!    when the request only read the session.
//!
//! Once every process runs with both secrets, wait `SESSION_TTL_SECONDS` (the
//! inactivity timeout): a browser that came by in that time got its cookie
//! re-issued, and the session of one that did not has expired. Then the old
//! secret can be removed; a cookie never re-issued no longer decrypts and is
//! treated as no session at all.

use std::sync::Arc;

use super::cookie::CookieConfig;
use actix_web::{
    body::MessageBody,
    cookie::{Cookie, CookieJar, Key, SameSite},
    dev::{ServiceRequest, ServiceResponse},
    http::header::{COOKIE, HeaderValue},
    middleware::Next,
};

/// The two keys and how to write the cookie back: the cookie's
/// configuration, when it has a previous key.
struct SecretRotation<'a> {
    cookie_name: &'a str,
    current: &'a Key,
    previous: &'a Key,
    secure: bool,
}

impl<'a> SecretRotation<'a> {
    /// The rotation `cookie` asks for, if `SESSION_SECRET_PREVIOUS` is set.
    fn of(cookie: &'a CookieConfig) -> Option<Self> {
        Some(Self {
            cookie_name: &cookie.name,
            current: &cookie.key,
            previous: cookie.previous.as_ref()?,
            secure: cookie.secure,
        })
    }
}

impl SecretRotation<'_> {
    /// If the request's session cookie was made with the previous key, rewrites
    /// it under the current key and returns the new cookie to send back.
    fn reencrypt(&self, req: &mut ServiceRequest) -> Option<Cookie<'static>> {
        // Parse the header ourselves: `req.cookies()` would cache the old value
        // where actix-session would later read it.
        let header = req.headers().get(COOKIE)?.to_str().ok()?;
        let cookies: Vec<Cookie<'static>> = header
            .split(';')
            .filter_map(|pair| Cookie::parse_encoded(pair.trim().to_owned()).ok())
            .collect();
        let sent = cookies.iter().find(|c| c.name() == self.cookie_name)?;

        let mut jar = CookieJar::new();
        jar.add_original(sent.clone());
        if jar.private(self.current).get(self.cookie_name).is_some() {
            return None; // Already under the current key: nothing to do.
        }
        let session_key = jar.private(self.previous).get(self.cookie_name)?;

        let mut fresh = CookieJar::new();
        fresh.private_mut(self.current).add(Cookie::new(
            self.cookie_name.to_owned(),
            session_key.value().to_owned(),
        ));
        let encrypted = fresh.get(self.cookie_name)?.value().to_owned();

        // Cookie values travel percent-encoded, as actix-web reads and writes them.
        let rewritten: Vec<String> = cookies
            .iter()
            .map(|c| {
                let value = if c.name() == self.cookie_name {
                    encrypted.as_str()
                } else {
                    c.value()
                };
                Cookie::new(c.name(), value).encoded().to_string()
            })
            .collect();
        let value = HeaderValue::from_str(&rewritten.join("; ")).ok()?;
        req.headers_mut().insert(COOKIE, value);

        let mut reissued = Cookie::new(self.cookie_name.to_owned(), encrypted);
        reissued.set_http_only(true);
        reissued.set_same_site(SameSite::Lax);
        reissued.set_path("/");
        reissued.set_secure(self.secure);
        Some(reissued)
    }
}

/// The middleware: re-encrypts old cookies on the way in, re-issues them on the way out.
pub async fn reissue_old_cookies(
    cookie: Arc<CookieConfig>,
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let reissued = SecretRotation::of(&cookie).and_then(|r| r.reencrypt(&mut req));
    let mut response = next.call(req).await?;
    if let Some(cookie) = reissued {
        let already_set = response
            .response()
            .cookies()
            .any(|c| c.name() == cookie.name());
        if !already_set {
            response.response_mut().add_cookie(&cookie)?;
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn encrypted(key: &Key, value: &str) -> String {
        let mut jar = CookieJar::new();
        jar.private_mut(key)
            .add(Cookie::new("session", value.to_owned()));
        jar.get("session")
            .map(|c| c.value().to_owned())
            .unwrap_or_default()
    }

    fn config() -> CookieConfig {
        CookieConfig {
            name: "session".into(),
            key: Key::derive_from(&[1; 64]),
            previous: Some(Key::derive_from(&[2; 64])),
            secure: false,
            host_prefix: false,
        }
    }

    #[test]
    fn an_old_cookie_is_rewritten_under_the_current_key() {
        let config = config();
        let rotation = SecretRotation::of(&config).expect("a previous key");
        let old = encrypted(rotation.previous, "the-session-key");
        let header = format!("other=1; {}", Cookie::new("session", old).encoded());
        let mut req = TestRequest::default()
            .insert_header((COOKIE, header))
            .to_srv_request();
        let reissued = rotation.reencrypt(&mut req).expect("re-encrypted");
        // The request now carries a cookie the current key decrypts.
        let cookie = req.cookie("session").expect("still there");
        let mut jar = CookieJar::new();
        jar.add_original(cookie);
        let plain = jar
            .private(rotation.current)
            .get("session")
            .expect("decrypts");
        assert_eq!(plain.value(), "the-session-key");
        assert_eq!(
            req.cookie("other").map(|c| c.value().to_owned()),
            Some("1".into())
        );
        assert!(reissued.http_only().unwrap_or(false));
    }

    #[test]
    fn a_current_or_foreign_cookie_is_left_alone() {
        let config = config();
        let rotation = SecretRotation::of(&config).expect("a previous key");
        for value in [
            encrypted(rotation.current, "k"),
            encrypted(&Key::derive_from(&[3; 64]), "k"),
            "garbage".into(),
        ] {
            let mut req = TestRequest::default()
                .insert_header((COOKIE, format!("session={value}")))
                .to_srv_request();
            assert!(rotation.reencrypt(&mut req).is_none());
        }
    }
}
