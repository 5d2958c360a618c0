//! A private PostgreSQL server for development and tests.
//!
//! An app that keeps its data in PostgreSQL needs a server to run against,
//! and asking every contributor to install, configure and start one by hand
//! is a poor first experience. This crate starts a server of its own from the
//! PostgreSQL server binaries installed on the machine (`initdb`, `pg_ctl` and
//! `postgres`), keeps its data in a folder you choose (under `target/`,
//! typically, so that data survives restarts), and stops it again when the
//! handle that started it is dropped.
//!
//! It is a development tool: the server trusts every local connection and
//! listens on 127.0.0.1 only. Production connects to a real server.
//!
//! ```no_run
//! # async fn example() -> dev_postgres::Result<()> {
//! use dev_postgres::{DevPostgres, DevPostgresOptions};
//!
//! let server = DevPostgres::start(DevPostgresOptions {
//!     data_dir: "target/dev-postgres".into(),
//!     fsync: true,
//!     port: None,
//! })
//! .await?;
//! let url = server.url("my_app"); // postgres://postgres@127.0.0.1:<port>/my_app
//! // ... run the app; dropping `server` stops it.
//! # Ok(())
//! # }
//! ```
//!
//! The pieces, one file each:
//!
//! - `binaries`: finding `initdb`, `pg_ctl` and `postgres` on the machine;
//! - `cluster`: one cluster's files and the commands that create, start,
//!   stop and inspect it;
//! - `account`: running those commands as the `postgres` account when we are
//!   root, since PostgreSQL refuses to run as root;
//! - `location`: where the data lives when that account cannot reach the
//!   folder asked for ([`data_dir_for`]);
//! - `lock`: a lock file, so that parallel processes start one server only;
//! - `server`: [`DevPostgres`], the handle.
//!
//! The `dev-postgres` binary offers the same to scripts:
//! `dev-postgres start <data-dir>` prints the server's URL,
//! `dev-postgres url <data-dir>` prints it again, and
//! `dev-postgres stop <data-dir>` stops the server.

#![deny(missing_docs)]

mod account;
mod binaries;
mod cluster;
mod command;
mod error;
mod location;
mod lock;
mod server;

use std::path::{Path, PathBuf};

use tokio::sync::OnceCell;

pub use error::{Error, Result};
pub use location::{data_dir_for, relocated_folder};
pub use server::{DevPostgres, DevPostgresOptions};

/// Where the workspace's tests keep the server they share: `target/test-postgres`.
pub fn test_server_dir() -> PathBuf {
    // This crate lives in `crates/dev-postgres` of the workspace.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .unwrap_or(Path::new("."));
    workspace.join("target").join("test-postgres")
}

/// The server the workspace's tests share, started on first use in this
/// process (in [`test_server_dir`], `fsync` off) or reused if another test
/// process already started it.
///
/// It is left running when the tests end, so the next run starts at once;
/// `dev-postgres stop target/test-postgres` stops it.
pub async fn test_server() -> Result<&'static DevPostgres> {
    static SERVER: OnceCell<DevPostgres> = OnceCell::const_new();
    SERVER
        .get_or_try_init(|| {
            DevPostgres::start(DevPostgresOptions {
                data_dir: test_server_dir(),
                fsync: false,
                port: None,
            })
        })
        .await
}
