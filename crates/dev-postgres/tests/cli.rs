//! The `dev-postgres` command, as scripts use it: start prints a URL and
//! leaves the server running, url finds it again, stop stops it.

use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};

/// Runs `dev-postgres <command> <data_dir>`.
fn dev_postgres(command: &str, data_dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dev-postgres"))
        .arg(command)
        .arg(data_dir)
        .output()
        .expect("runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

/// A scratch folder whose server is stopped, and which is removed, on drop.
struct Scratch(std::path::PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        dev_postgres("stop", &self.0.join("data"));
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn start_prints_the_url_url_finds_it_and_stop_stops_it() {
    let scratch = Scratch(std::env::temp_dir().join(format!("devpg-cli-{}", std::process::id())));
    let data_dir = scratch.0.join("data");

    let started = dev_postgres("start", &data_dir);
    assert!(started.status.success(), "{started:?}");
    let url = stdout(&started);
    let port: u16 = url
        .strip_prefix("postgres://postgres@127.0.0.1:")
        .and_then(|rest| rest.strip_suffix("/postgres"))
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("a URL: {url}"));
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_ok(),
        "left running"
    );

    let found = dev_postgres("url", &data_dir);
    assert_eq!(stdout(&found), url);

    assert!(dev_postgres("stop", &data_dir).status.success());
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err(), "stopped");
    let gone = dev_postgres("url", &data_dir);
    assert!(!gone.status.success(), "no server to find");
    assert!(String::from_utf8_lossy(&gone.stderr).contains("no server runs on"));
    assert!(
        dev_postgres("stop", &data_dir).status.success(),
        "stopping twice is fine"
    );

    let usage = Command::new(env!("CARGO_BIN_EXE_dev-postgres"))
        .output()
        .expect("runs");
    assert_eq!(usage.status.code(), Some(2));
}
