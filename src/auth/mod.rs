//! Accounts: credentials, password hashing, users, the login decision, device
//! cookies, throttling, and the sign-in guard.

pub mod credentials;
pub mod device;
pub mod guard;
pub mod login;
pub mod password;
pub mod redirect;
pub mod throttle;
pub mod users;
