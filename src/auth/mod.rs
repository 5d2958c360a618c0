//! Accounts: credentials, password hashing, users, throttling, and the sign-in guard.

pub mod credentials;
pub mod guard;
pub mod password;
pub mod redirect;
pub mod throttle;
pub mod users;
