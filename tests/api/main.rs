//! The integration tests: one binary (it links once), one module per feature.
//! Every test starts the real app on its own fresh database.

mod accounts;
mod browser;
mod cart;
mod connections;
mod counter;
mod csrf;
mod deployment;
mod dev_database;
mod errors;
mod fuzz;
mod headers;
mod helpers;
mod inspector;
mod key_hash;
mod logs;
mod outage;
mod password_change;
mod proxy;
mod reliability;
mod rotation;
mod round_trips;
mod sessions;
mod settings;
mod store;
mod throttle;
mod trusted_proxies;
