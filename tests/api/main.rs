//! The integration tests: one binary (it links once), one module per feature.
//! Every test starts the real app on its own fresh database.

mod counter;
mod errors;
mod helpers;
mod outage;
mod proxy;
mod round_trips;
mod sessions;
mod settings;
mod store;
