//! The integration tests: one binary (it links once), one module per feature.
//! Every test starts the real app on its own fresh database.

mod accounts;
mod bad_input;
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
mod error_logs;
mod errors;
mod headers;
mod inspector;
mod json_logs;
mod key_hash;
mod load;
mod logs;
mod methods;
mod migrations;
mod outage;
mod outage_under_load;
mod password_change;
mod password_guessing;
mod password_hashing;
mod password_race;
mod pool_exhaustion;
mod random_requests;
mod request_ids;
mod request_limits;
mod retry_after;
mod rotation;
mod round_trips;
mod schema_errors;
mod sessions;
mod settings;
mod shutdown;
mod stalled_body;
mod statement_timeout;
mod support;
mod throttle;
mod trusted_proxies;
