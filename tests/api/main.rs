//! The integration tests: one binary (it links once), one module per feature.
//! Every test starts the real app on its own fresh database.

mod accounts;
mod browser;
mod cart;
mod concurrent_start;
mod connections;
mod cookie_header;
mod counter;
mod csrf;
mod deployment;
#[cfg(feature = "dev-postgres")]
mod dev_database;
mod device_cookies;
mod errors;
mod fuzz;
mod headers;
mod helpers;
mod inspector;
mod key_hash;
mod logs;
mod methods;
mod migrations;
mod outage;
mod password_change;
mod password_guessing;
mod password_hashing;
mod password_race;
mod proxy;
mod reliability;
mod retry_after;
mod rotation;
mod round_trips;
mod schema_errors;
mod sessions;
mod settings;
mod stalled_body;
mod throttle;
mod trusted_proxies;
