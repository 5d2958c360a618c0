//! Test harness, by concern: the app ([`app`]), browsers ([`browser`]), the
//! real binary ([`binary`]), reading pages ([`html`]), the round-trip counting
//! proxy ([`proxy`]), raw HTTP requests ([`raw_http`]) and scratch databases
//! ([`database`]). Everything a test
//! uses is re-exported here, so a test imports from `crate::support`; the
//! nginx deployment ([`deployment`]) and the Patroni cluster ([`ha`]) are
//! imported by their module.

pub mod app;
pub mod binary;
pub mod browser;
pub mod database;
pub mod deployment;
pub mod ha;
pub mod html;
pub mod proxy;
pub mod raw_http;

pub use app::{
    POST_ROUTES, TestApp, spawn_app, spawn_app_from, spawn_app_with,
    spawn_app_without_address_limit, spawn_signed_in_app,
};
pub use binary::{RunningBinary, start_binary};
pub use browser::{Browser, REQUEST_TIMEOUT};
pub use database::{
    Scratch, TEST_SECRET, connect, database_url, fresh_database_url, lock_cart_lines, test_settings,
};
pub use html::{assert_redirect_to, attribute_values, cart_lines, csrf_token, location};
