//! `dev-postgres`: the private development PostgreSQL, for scripts.
//!
//! ```text
//! dev-postgres start <data-dir>   start the server (or find it running), print its URL
//! dev-postgres url <data-dir>     print the URL of the server running there
//! dev-postgres stop <data-dir>    stop the server running there, if any
//! ```
//!
//! The URL names the `postgres` database; replace the last part for another.

use std::path::PathBuf;
use std::process::ExitCode;

use dev_postgres::{DevPostgres, DevPostgresOptions};

const USAGE: &str = "usage: dev-postgres start|url|stop <data-dir>";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [command, data_dir] = args.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let data_dir = PathBuf::from(data_dir);
    let result = match command.as_str() {
        "start" => start(data_dir).await,
        "url" => url(data_dir).await,
        "stop" => stop(data_dir).await,
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("dev-postgres: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Starts (or reuses) the server and leaves it running after we exit.
async fn start(data_dir: PathBuf) -> Result<(), String> {
    let server = DevPostgres::start(DevPostgresOptions {
        data_dir,
        fsync: true,
        port: None,
    })
    .await
    .map_err(|error| error.to_string())?;
    println!("{}", server.url("postgres"));
    server.leave_running();
    Ok(())
}

/// Prints the URL of the running server; fails when none runs.
async fn url(data_dir: PathBuf) -> Result<(), String> {
    match DevPostgres::running(&data_dir).await {
        Ok(Some(server)) => {
            println!("{}", server.url("postgres"));
            Ok(())
        }
        Ok(None) => Err(format!("no server runs on {}", data_dir.display())),
        Err(error) => Err(error.to_string()),
    }
}

/// Stops the running server; nothing running is fine.
async fn stop(data_dir: PathBuf) -> Result<(), String> {
    match DevPostgres::running(&data_dir).await {
        Ok(Some(server)) => server.stop().await.map_err(|error| error.to_string()),
        Ok(None) => Ok(()),
        Err(error) => Err(error.to_string()),
    }
}
