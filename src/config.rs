//! Settings: read from the environment once, at start, into one typed struct.
//!
//! Nothing else in the crate reads environment variables. Every value is parsed
//! and checked here, so a bad setting stops the start with one clear line that
//! names the variable, instead of failing later in the middle of a request.
//! This module sits at the bottom of the crate: it imports nothing from it.

use std::{
    collections::HashSet, net::SocketAddr, ops::RangeInclusive, path::PathBuf, time::Duration,
};

use secrecy::{ExposeSecret, SecretString};

// A leaf module: parsing addresses and networks, nothing of the app above it.
use crate::trusted_proxies::TrustedProxies;

/// The secret shipped in `.env.example`: fine to try the app with, refused in production.
pub const EXAMPLE_SECRET: &str =
    "change-me-this-example-secret-is-public-so-never-use-it-in-production-0123456789";

/// The shortest secret accepted, in bytes: the cookie key is derived from it.
pub const MIN_SECRET_BYTES: usize = 64;

/// The fewest distinct characters a production secret may have.
///
/// A screen for obvious mistakes (`aaaa...`, `abcabc...`, a word repeated),
/// not a measure of strength: 64 random hex digits have about 16 distinct
/// characters, almost never fewer than 12; random base64 has far more.
pub const MIN_SECRET_DISTINCT_CHARS: usize = 10;

/// Where the app runs: production turns on the strict defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    /// Friendly defaults: a private PostgreSQL, a generated secret, a demo user.
    Development,
    /// Secure cookies, a required secret and database, no demo user.
    Production,
}

/// A secret setting: `{:?}` prints `[REDACTED]`, and the memory is wiped when
/// it is dropped (`secrecy`). Read it with [`Secret::expose`], only where the
/// value is used, never to print it.
#[derive(Debug, Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

/// How each log line is written (`LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// `[time LEVEL target request_id=...] message`, for people.
    Text,
    /// One JSON object per line, for log collectors (`logging.rs` names the fields).
    Json,
}

/// How many POSTs to `/login` and `/register` one address may make in a burst,
/// and how fast that allowance refills.
#[derive(Debug, Clone, Copy)]
pub struct AddressLimit {
    /// Requests allowed at once.
    pub burst: u32,
    /// One more request is allowed every this long.
    pub refill_every: Duration,
}

impl Default for AddressLimit {
    /// 20 attempts at once, then one every 3 seconds (20 a minute).
    fn default() -> Self {
        Self {
            burst: 20,
            refill_every: Duration::from_secs(3),
        }
    }
}

impl AddressLimit {
    /// The default limit on new sessions per address and process: 60 at
    /// once, then one a second. Generous for the people behind one address
    /// (an office, a mobile carrier's NAT); a flood stores at most this many
    /// rows (see `limits.rs`, docs/security.md).
    pub const NEW_SESSIONS: Self = Self {
        burst: 60,
        refill_every: Duration::from_secs(1),
    };
}

/// Every setting of the application, validated.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `DATABASE_URL`: the PostgreSQL to use; `None` in development starts a private one.
    pub database_url: Option<Secret>,
    /// `SESSION_SECRET`: encrypts the session cookie; `None` in development only.
    pub session_secret: Option<Secret>,
    /// `SESSION_SECRET_PREVIOUS`: a retired secret still accepted during rotation.
    pub session_secret_previous: Option<Secret>,
    /// `SESSION_TTL_SECONDS`: a session ends after this much inactivity.
    pub session_ttl: Duration,
    /// `SESSION_ABSOLUTE_TTL_SECONDS`: a session ends this long after it began, whatever the activity.
    pub session_absolute_ttl: Duration,
    /// `SESSION_PRUNE_INTERVAL_SECONDS`: how often expired sessions are deleted.
    pub session_prune_interval: Duration,
    /// `DATABASE_MAX_CONNECTIONS`: the most PostgreSQL connections this process
    /// opens, all its pools together (`startup.rs` splits it between them).
    pub database_max_connections: u32,
    /// `DATABASE_ACQUIRE_TIMEOUT_SECONDS`: how long a request waits for a connection before a 503.
    pub database_acquire_timeout: Duration,
    /// `DATABASE_STATEMENT_TIMEOUT_MS`: PostgreSQL cancels any statement running longer.
    pub database_statement_timeout: Duration,
    /// `REQUEST_BODY_TIMEOUT_SECONDS`: a request body not fully received within
    /// this time gets a `408` and its connection is closed.
    pub request_body_timeout: Duration,
    /// `SHUTDOWN_DRAIN_SECONDS`: after a stop signal, how long the process
    /// keeps serving (every answer with `Connection: close`) before it stops
    /// accepting, so that a proxy's idle kept-alive connections to it are
    /// used up or expire first (see `instance.rs`). 0: stop at once.
    pub shutdown_drain: Duration,
    /// `SESSION_SYNCHRONOUS_COMMIT`: `false` lets session writes return before
    /// their commit is on disk (PostgreSQL's `synchronous_commit = off`, for the
    /// session store's connections only). A database crash may then lose the
    /// last moment of session changes, never corrupt them. Default: durable.
    pub session_synchronous_commit: bool,
    /// `BIND_ADDR`: where to listen; port 0 picks a free port.
    pub bind_addr: SocketAddr,
    /// `APP_ENV`: development or production.
    pub environment: Environment,
    /// `COOKIE_SECURE`: send the session cookie over HTTPS only.
    pub cookie_secure: bool,
    /// `RUST_LOG`: the env_logger filter.
    pub rust_log: String,
    /// `LOG_FORMAT`: `text` (the default) or `json`.
    pub log_format: LogFormat,
    /// `METRICS_ADDR`: where `GET /metrics` is served, on a listener of its
    /// own (never `BIND_ADDR`); `None`: no metrics listener.
    pub metrics_addr: Option<SocketAddr>,
    /// `DEV_DATA_DIR`: where development keeps its private PostgreSQL and
    /// generated secret (default: the crate's `target/`).
    pub dev_data_dir: PathBuf,
    /// `TRUSTED_PROXIES`: reverse proxies whose `X-Forwarded-For` names the
    /// client (see `trusted_proxies.rs`); empty: the TCP peer is the client.
    pub trusted_proxies: TrustedProxies,
    /// `INSTANCE_NAME`: when set, every response names this process in an
    /// `X-Instance` header (to see which instance behind a proxy answered).
    pub instance_name: Option<String>,
    /// Per-address limit on `POST /login` and `/register` (not an environment
    /// variable: the default suits every deployment this demo has; tests adjust it).
    pub address_limit: AddressLimit,
    /// Per-address limit on new sessions, in each process (not an environment
    /// variable either: [`AddressLimit::NEW_SESSIONS`]; tests adjust it).
    pub new_session_limit: AddressLimit,
}

/// A setting that could not be accepted: which variable, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid setting {variable}: {problem}")]
pub struct SettingsError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong, in words a person can act on.
    pub problem: String,
}

/// The accepted range of each numeric setting, in its own unit.
mod range {
    use std::ops::RangeInclusive;

    /// `SESSION_TTL_SECONDS` and `SESSION_ABSOLUTE_TTL_SECONDS`: a second to a year.
    pub const SESSION_TTL: RangeInclusive<u64> = 1..=365 * 24 * 3600;
    /// `SESSION_PRUNE_INTERVAL_SECONDS`: a second to a day.
    pub const PRUNE_INTERVAL: RangeInclusive<u64> = 1..=24 * 3600;
    /// `DATABASE_MAX_CONNECTIONS`: at least one connection for the pages' pool
    /// and one for the session store's; PostgreSQL's own default allows 100 in all.
    pub const MAX_CONNECTIONS: RangeInclusive<u64> = 2..=1000;
    /// `DATABASE_ACQUIRE_TIMEOUT_SECONDS`: a second to five minutes.
    pub const ACQUIRE_TIMEOUT: RangeInclusive<u64> = 1..=300;
    /// `DATABASE_STATEMENT_TIMEOUT_MS`: a millisecond to an hour.
    pub const STATEMENT_TIMEOUT_MS: RangeInclusive<u64> = 1..=3_600_000;
    /// `REQUEST_BODY_TIMEOUT_SECONDS`: a second to two minutes.
    pub const BODY_TIMEOUT: RangeInclusive<u64> = 1..=120;
    /// `SHUTDOWN_DRAIN_SECONDS`: none to a minute.
    pub const SHUTDOWN_DRAIN: RangeInclusive<u64> = 0..=60;
}

impl Settings {
    /// Reads the settings from the process environment (after `.env`, see `main.rs`).
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the settings through `lookup`, so tests can pass a map instead of the environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let var = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());

        let environment = match var("APP_ENV").as_deref().map(str::trim) {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some(other) => {
                return Err(SettingsError {
                    variable: "APP_ENV",
                    problem: format!("expected `development` or `production`, got `{other}`"),
                });
            }
        };
        let production = environment == Environment::Production;

        let session_secret = secret(var("SESSION_SECRET"), "SESSION_SECRET", production)?;
        if production && session_secret.is_none() {
            return Err(SettingsError {
                variable: "SESSION_SECRET",
                problem: "required in production (at least 64 bytes of random text)".into(),
            });
        }
        let session_secret_previous = secret(
            var("SESSION_SECRET_PREVIOUS"),
            "SESSION_SECRET_PREVIOUS",
            production,
        )?;

        let database_url = var("DATABASE_URL").map(Secret::new);
        if production && database_url.is_none() {
            return Err(SettingsError {
                variable: "DATABASE_URL",
                problem: "required in production".into(),
            });
        }
        if !cfg!(feature = "dev-postgres") && database_url.is_none() {
            return Err(SettingsError {
                variable: "DATABASE_URL",
                problem: "required: set it to a PostgreSQL URL (this build has no private \
                          development PostgreSQL: it was built without the `dev-postgres` feature)"
                    .into(),
            });
        }

        let seconds = |variable, default, range| {
            number(&var, variable, default, range).map(Duration::from_secs)
        };
        let session_ttl = seconds("SESSION_TTL_SECONDS", 3600, range::SESSION_TTL)?;
        let session_absolute_ttl =
            seconds("SESSION_ABSOLUTE_TTL_SECONDS", 86_400, range::SESSION_TTL)?;
        let session_prune_interval =
            seconds("SESSION_PRUNE_INTERVAL_SECONDS", 300, range::PRUNE_INTERVAL)?;
        let database_acquire_timeout = seconds(
            "DATABASE_ACQUIRE_TIMEOUT_SECONDS",
            5,
            range::ACQUIRE_TIMEOUT,
        )?;
        let request_body_timeout =
            seconds("REQUEST_BODY_TIMEOUT_SECONDS", 10, range::BODY_TIMEOUT)?;
        let shutdown_drain = seconds("SHUTDOWN_DRAIN_SECONDS", 0, range::SHUTDOWN_DRAIN)?;
        let database_statement_timeout = Duration::from_millis(number(
            &var,
            "DATABASE_STATEMENT_TIMEOUT_MS",
            5_000,
            range::STATEMENT_TIMEOUT_MS,
        )?);
        // The range keeps it far below u32::MAX.
        let database_max_connections =
            number(&var, "DATABASE_MAX_CONNECTIONS", 16, range::MAX_CONNECTIONS)? as u32;

        let bind_addr = match var("BIND_ADDR") {
            None => SocketAddr::from(([127, 0, 0, 1], 8080)),
            Some(text) => text.trim().parse().map_err(|_| SettingsError {
                variable: "BIND_ADDR",
                problem: format!("expected an address like 127.0.0.1:8080, got `{text}`"),
            })?,
        };

        let metrics_addr = match var("METRICS_ADDR") {
            None => None,
            Some(text) => Some(
                text.trim()
                    .parse::<SocketAddr>()
                    .map_err(|_| SettingsError {
                        variable: "METRICS_ADDR",
                        problem: format!("expected an address like 127.0.0.1:9464, got `{text}`"),
                    })?,
            ),
        };
        if let Some(metrics) = metrics_addr
            && metrics.port() != 0
            && metrics == bind_addr
        {
            // The metrics are for the operator, never for the public listener.
            return Err(SettingsError {
                variable: "METRICS_ADDR",
                problem: format!("must differ from BIND_ADDR ({bind_addr})"),
            });
        }
        let log_format = match var("LOG_FORMAT").as_deref().map(str::trim) {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(other) => {
                return Err(SettingsError {
                    variable: "LOG_FORMAT",
                    problem: format!("expected `text` or `json`, got `{other}`"),
                });
            }
        };

        let cookie_secure = boolean(&var, "COOKIE_SECURE", production)?;
        if production && !cookie_secure {
            // Browsers drop a `__Host-` cookie without `Secure`: every session would break.
            return Err(SettingsError {
                variable: "COOKIE_SECURE",
                problem: "must be true when APP_ENV=production (the __Host-session cookie \
                          requires Secure, and browsers reject it without)"
                    .into(),
            });
        }
        let session_synchronous_commit =
            match var("SESSION_SYNCHRONOUS_COMMIT").as_deref().map(str::trim) {
                None | Some("on") => true,
                Some("off") => false,
                Some(other) => {
                    return Err(SettingsError {
                        variable: "SESSION_SYNCHRONOUS_COMMIT",
                        problem: format!("expected `on` or `off`, got `{other}`"),
                    });
                }
            };

        // Behind reverse proxies: who they are, and what this instance is called.
        let trusted_proxies = match var("TRUSTED_PROXIES") {
            None => TrustedProxies::default(),
            Some(text) => text.parse().map_err(|problem| SettingsError {
                variable: "TRUSTED_PROXIES",
                problem,
            })?,
        };
        let instance_name = var("INSTANCE_NAME").map(|name| name.trim().to_owned());
        if let Some(name) = &instance_name
            && (name.len() > 64
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)))
        {
            return Err(SettingsError {
                variable: "INSTANCE_NAME",
                problem: format!("expected up to 64 of A-Z a-z 0-9 . _ -, got `{name}`"),
            });
        }

        Ok(Settings {
            database_url,
            session_secret,
            session_secret_previous,
            session_ttl,
            session_absolute_ttl,
            session_prune_interval,
            database_max_connections,
            database_acquire_timeout,
            database_statement_timeout,
            request_body_timeout,
            shutdown_drain,
            session_synchronous_commit,
            bind_addr,
            environment,
            cookie_secure,
            rust_log: var("RUST_LOG").unwrap_or_else(|| "info".into()),
            log_format,
            metrics_addr,
            dev_data_dir: var("DEV_DATA_DIR").map_or_else(
                || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"),
                PathBuf::from,
            ),
            trusted_proxies,
            instance_name,
            address_limit: AddressLimit::default(),
            new_session_limit: AddressLimit::NEW_SESSIONS,
        })
    }

    /// True in production.
    pub fn is_production(&self) -> bool {
        self.environment == Environment::Production
    }

    /// The session cookie's name. In production the `__Host-` prefix makes the browser
    /// insist on `Secure`, `Path=/` and no `Domain`, so no sibling site can plant or read it.
    pub fn cookie_name(&self) -> &'static str {
        if self.is_production() {
            "__Host-session"
        } else {
            "session"
        }
    }
}

/// Checks a secret's length, and that production runs neither on the public
/// example nor on an obviously guessable value.
fn secret(
    value: Option<String>,
    variable: &'static str,
    production: bool,
) -> Result<Option<Secret>, SettingsError> {
    let Some(value) = value else { return Ok(None) };
    let refuse = |problem: String| Err(SettingsError { variable, problem });
    if value.len() < MIN_SECRET_BYTES {
        return refuse(format!(
            "must be at least {MIN_SECRET_BYTES} bytes long, got {} bytes",
            value.len()
        ));
    }
    if production && value == EXAMPLE_SECRET {
        return refuse("is the public example secret from .env.example; generate your own".into());
    }
    let distinct = value.chars().collect::<HashSet<_>>().len();
    if production && distinct < MIN_SECRET_DISTINCT_CHARS {
        return refuse(format!(
            "has only {distinct} distinct characters, too few to be random (at least \
             {MIN_SECRET_DISTINCT_CHARS} needed); generate one with `openssl rand -hex 32`"
        ));
    }
    Ok(Some(Secret::new(value)))
}

/// `true`/`false` (or `1`/`0`, `yes`/`no`), or the default when unset.
fn boolean(
    var: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: bool,
) -> Result<bool, SettingsError> {
    match var(variable).as_deref().map(str::trim) {
        None => Ok(default),
        Some("true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no") => Ok(false),
        Some(other) => Err(SettingsError {
            variable,
            problem: format!("expected `true` or `false`, got `{other}`"),
        }),
    }
}

/// A whole number within `range`, or the default when unset.
fn number(
    var: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: u64,
    range: RangeInclusive<u64>,
) -> Result<u64, SettingsError> {
    let Some(text) = var(variable) else {
        return Ok(default);
    };
    let (min, max) = (range.start(), range.end());
    match text.trim().parse::<u64>() {
        Ok(value) if range.contains(&value) => Ok(value),
        Ok(value) => Err(SettingsError {
            variable,
            problem: format!("must be between {min} and {max}, got {value}"),
        }),
        // Too many digits for a u64 is out of range too, not "not a number".
        Err(error) if *error.kind() == std::num::IntErrorKind::PosOverflow => Err(SettingsError {
            variable,
            problem: format!("must be between {min} and {max}, got {}", text.trim()),
        }),
        Err(_) => Err(SettingsError {
            variable,
            problem: format!("expected a whole number between {min} and {max}, got `{text}`"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[cfg(feature = "dev-postgres")]
    #[test]
    fn development_runs_its_own_database_without_database_url() {
        assert!(settings(&[]).expect("valid").database_url.is_none());
    }

    #[cfg(not(feature = "dev-postgres"))]
    #[test]
    fn a_build_without_the_dev_postgres_feature_requires_database_url() {
        let err = settings(&[]).expect_err("refused");
        assert_eq!(err.variable, "DATABASE_URL");
        assert!(
            err.to_string().contains("set it to a PostgreSQL URL"),
            "{err}"
        );
        assert!(settings(&[("DATABASE_URL", "postgres://db/app")]).is_ok());
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = settings(&[]).expect("defaults are valid");
        assert_eq!(s.session_ttl, Duration::from_secs(3600));
        assert_eq!(s.session_absolute_ttl, Duration::from_secs(86_400));
        assert_eq!(s.session_prune_interval, Duration::from_secs(300));
        assert_eq!(s.database_max_connections, 16);
        assert_eq!(s.request_body_timeout, Duration::from_secs(10));
        assert_eq!(s.shutdown_drain, Duration::ZERO);
        assert_eq!(s.bind_addr.to_string(), "127.0.0.1:8080");
        assert_eq!(s.environment, Environment::Development);
        assert!(!s.cookie_secure);
        assert!(s.session_synchronous_commit, "durable by default");
        assert_eq!(s.cookie_name(), "session");
        assert!(s.trusted_proxies.is_empty(), "no proxy trusted by default");
        assert_eq!(s.instance_name, None);
        assert_eq!(s.metrics_addr, None, "no metrics listener by default");
        assert_eq!(s.log_format, LogFormat::Text);
    }

    #[test]
    fn metrics_and_log_format_are_checked_by_name() {
        let s =
            settings(&[("METRICS_ADDR", "127.0.0.1:9464"), ("LOG_FORMAT", "json")]).expect("valid");
        assert_eq!(s.metrics_addr.map(|a| a.port()), Some(9464));
        assert_eq!(s.log_format, LogFormat::Json);
        for pairs in [
            &[("METRICS_ADDR", "localhost")][..],
            &[("METRICS_ADDR", "127.0.0.1:8080")][..],
            &[("BIND_ADDR", "0.0.0.0:80"), ("METRICS_ADDR", "0.0.0.0:80")][..],
        ] {
            assert_eq!(
                settings(pairs).unwrap_err().variable,
                "METRICS_ADDR",
                "{pairs:?}"
            );
        }
        // Port 0 twice: two listeners on two free ports.
        assert!(
            settings(&[
                ("BIND_ADDR", "127.0.0.1:0"),
                ("METRICS_ADDR", "127.0.0.1:0")
            ])
            .is_ok()
        );
        assert_eq!(
            settings(&[("LOG_FORMAT", "xml")]).unwrap_err().variable,
            "LOG_FORMAT"
        );
    }

    #[test]
    fn trusted_proxies_and_the_instance_name_are_checked_by_name() {
        let s = settings(&[
            ("TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8"),
            ("INSTANCE_NAME", "web-1"),
        ])
        .expect("valid");
        assert!(
            s.trusted_proxies
                .contains("10.2.3.4".parse().expect("an address"))
        );
        assert_eq!(s.instance_name.as_deref(), Some("web-1"));
        let err = settings(&[("TRUSTED_PROXIES", "10.0.0.0/33")]).unwrap_err();
        assert_eq!(err.variable, "TRUSTED_PROXIES");
        let err = settings(&[("INSTANCE_NAME", "web 1\r\nSet-Cookie: x")]).unwrap_err();
        assert_eq!(err.variable, "INSTANCE_NAME");
        let err = settings(&[("DATABASE_MAX_CONNECTIONS", "1")]).unwrap_err();
        assert_eq!(err.variable, "DATABASE_MAX_CONNECTIONS");
    }

    #[test]
    fn a_short_secret_is_refused_by_name() {
        let err = settings(&[("SESSION_SECRET", "short")]).unwrap_err();
        assert_eq!(err.variable, "SESSION_SECRET");
        assert!(err.to_string().contains("at least 64 bytes"));
    }

    #[test]
    fn an_unparsable_number_is_refused_by_name() {
        let err = settings(&[("SESSION_TTL_SECONDS", "ten")]).unwrap_err();
        assert_eq!(err.variable, "SESSION_TTL_SECONDS");
        let err = settings(&[("DATABASE_MAX_CONNECTIONS", "0")]).unwrap_err();
        assert_eq!(err.variable, "DATABASE_MAX_CONNECTIONS");
        let err = settings(&[("SESSION_SYNCHRONOUS_COMMIT", "maybe")]).unwrap_err();
        assert_eq!(err.variable, "SESSION_SYNCHRONOUS_COMMIT");
    }

    /// A secret with enough variety for production (64 hex digits).
    const RANDOM_SECRET: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    #[test]
    fn production_requires_a_real_secret_and_database() {
        let err = settings(&[("APP_ENV", "production")]).unwrap_err();
        assert_eq!(err.variable, "SESSION_SECRET");
        let err = settings(&[
            ("APP_ENV", "production"),
            ("SESSION_SECRET", EXAMPLE_SECRET),
        ])
        .unwrap_err();
        assert!(err.problem.contains("example"));
        let err =
            settings(&[("APP_ENV", "production"), ("SESSION_SECRET", RANDOM_SECRET)]).unwrap_err();
        assert_eq!(err.variable, "DATABASE_URL");
        let s = settings(&[
            ("APP_ENV", "production"),
            ("SESSION_SECRET", RANDOM_SECRET),
            ("DATABASE_URL", "postgres://db/app"),
        ])
        .expect("complete production settings");
        assert!(s.cookie_secure);
        assert_eq!(s.cookie_name(), "__Host-session");
    }

    #[test]
    fn production_refuses_cookies_without_secure_naming_both_variables() {
        let err = settings(&[
            ("APP_ENV", "production"),
            ("SESSION_SECRET", RANDOM_SECRET),
            ("DATABASE_URL", "postgres://db/app"),
            ("COOKIE_SECURE", "false"),
        ])
        .unwrap_err();
        assert_eq!(err.variable, "COOKIE_SECURE");
        assert!(err.to_string().contains("APP_ENV=production"), "{err}");
        // Development may send the cookie over plain HTTP.
        let s = settings(&[("COOKIE_SECURE", "false")]).expect("fine in development");
        assert!(!s.cookie_secure);
    }

    #[test]
    fn production_refuses_secrets_with_too_few_distinct_characters() {
        for weak in ["a".repeat(64), "ab".repeat(32), "password".repeat(8)] {
            let err = settings(&[
                ("APP_ENV", "production"),
                ("SESSION_SECRET", &weak),
                ("DATABASE_URL", "postgres://db/app"),
            ])
            .unwrap_err();
            assert_eq!(err.variable, "SESSION_SECRET", "{weak}");
            assert!(err.problem.contains("distinct characters"), "{err}");
            let err = settings(&[
                ("APP_ENV", "production"),
                ("SESSION_SECRET", RANDOM_SECRET),
                ("SESSION_SECRET_PREVIOUS", &weak),
                ("DATABASE_URL", "postgres://db/app"),
            ])
            .unwrap_err();
            assert_eq!(err.variable, "SESSION_SECRET_PREVIOUS");
            // Development takes what it is given (it is for trying things out).
            settings(&[("SESSION_SECRET", &weak)]).expect("development");
        }
    }

    #[test]
    fn random_hex_secrets_pass_the_variety_rule() {
        // 64 random hex digits rarely have fewer than 13 distinct characters;
        // check many of them, drawn from the operating system.
        for _ in 0..1000 {
            let mut bytes = [0u8; 32];
            getrandom::fill(&mut bytes).expect("randomness");
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            let distinct = hex.chars().collect::<HashSet<_>>().len();
            assert!(distinct >= MIN_SECRET_DISTINCT_CHARS, "{hex}");
        }
    }

    #[test]
    fn numbers_out_of_their_range_are_refused_by_name() {
        let cases = [
            ("SESSION_TTL_SECONDS", "9300000000000"),
            ("SESSION_TTL_SECONDS", "0"),
            ("SESSION_ABSOLUTE_TTL_SECONDS", "31536001"),
            ("SESSION_PRUNE_INTERVAL_SECONDS", "18446744073709551615"),
            ("SESSION_PRUNE_INTERVAL_SECONDS", "99999999999999999999999"),
            ("DATABASE_ACQUIRE_TIMEOUT_SECONDS", "18446744073709551615"),
            ("DATABASE_STATEMENT_TIMEOUT_MS", "99999999999"),
            ("DATABASE_MAX_CONNECTIONS", "4294967297"),
            ("REQUEST_BODY_TIMEOUT_SECONDS", "0"),
            ("REQUEST_BODY_TIMEOUT_SECONDS", "121"),
            ("SHUTDOWN_DRAIN_SECONDS", "61"),
            ("SHUTDOWN_DRAIN_SECONDS", "-1"),
        ];
        for (variable, value) in cases {
            let err = settings(&[(variable, value)]).unwrap_err();
            assert_eq!(err.variable, variable, "{value}");
            assert!(err.problem.contains("between"), "{err}");
        }
        let s = settings(&[
            ("SESSION_TTL_SECONDS", "31536000"),
            ("DATABASE_STATEMENT_TIMEOUT_MS", "3600000"),
            ("REQUEST_BODY_TIMEOUT_SECONDS", "1"),
            ("SHUTDOWN_DRAIN_SECONDS", "60"),
        ])
        .expect("the ends of the ranges are accepted");
        assert_eq!(s.session_ttl, Duration::from_secs(31_536_000));
        assert_eq!(s.request_body_timeout, Duration::from_secs(1));
        assert_eq!(s.shutdown_drain, Duration::from_secs(60));
    }

    #[test]
    fn secrets_are_redacted_in_debug_output() {
        let secret = "s".repeat(64);
        let s = settings(&[("SESSION_SECRET", &secret)]).expect("valid");
        assert!(!format!("{s:?}").contains(&secret));
    }
}
