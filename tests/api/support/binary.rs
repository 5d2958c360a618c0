//! The real binary, run as a child process.

/// The real binary, running as a child process with the environment given.
pub struct RunningBinary {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT`, read from its "listening on" log line.
    pub address: String,
    lines: std::sync::mpsc::Receiver<String>,
    /// Every log line read so far.
    pub log: Vec<String>,
}

/// Starts `target/.../session-demo` with only `vars` (and `PATH`) in its
/// environment, from a directory without a `.env`, and waits until it listens.
pub fn start_binary(vars: &[(&str, &str)]) -> RunningBinary {
    use std::io::{BufRead, BufReader};
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_session-demo"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(std::env::temp_dir())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped());
    for (name, value) in vars {
        command.env(name, value);
    }
    let mut child = command.spawn().expect("the binary starts");
    let stderr = child.stderr.take().expect("stderr");
    let (sender, lines) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    let mut log = Vec::new();
    let address = loop {
        let line = lines
            .recv_timeout(std::time::Duration::from_secs(90))
            .unwrap_or_else(|_| panic!("the app logs its address; log so far: {log:#?}"));
        log.push(line.clone());
        // (In a JSON line the address is followed by the object's end.)
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest
                .split(['"', ' '])
                .next()
                .unwrap_or(rest)
                .trim()
                .to_string();
        }
    };
    RunningBinary {
        child,
        address,
        lines,
        log,
    }
}

impl RunningBinary {
    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` (as `kill` spells it, e.g. `"-TERM"`); returns whether it was delivered.
    fn send(&self, signal: &str) -> bool {
        std::process::Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .is_ok_and(|status| status.success())
    }

    /// Sends `signal` (as `kill` spells it, e.g. `"-TERM"`), asserting it was delivered.
    pub fn signal(&self, signal: &str) {
        assert!(self.send(signal), "kill {signal}");
    }

    /// Its exit status if it has exited, without waiting.
    pub fn exit_status(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().expect("waitable")
    }

    /// Waits up to `limit` for the process to exit.
    pub async fn wait_exit(
        &mut self,
        limit: std::time::Duration,
    ) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.exit_status() {
                return Some(status);
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM and waits (at most 30 s) for the exit; returns whether it exited 0.
    pub fn terminate(&mut self) -> bool {
        self.send("-TERM");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Some(status) = self.exit_status() {
                self.drain();
                return status.success();
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Reads the log lines written so far, waiting `quiet` for each next one,
    /// and returns every line read since the start.
    pub fn collect(&mut self, quiet: std::time::Duration) -> &[String] {
        while let Ok(line) = self.lines.recv_timeout(quiet) {
            self.log.push(line);
        }
        &self.log
    }

    /// Reads the log lines written so far and returns the whole log.
    pub fn drain(&mut self) -> String {
        self.collect(std::time::Duration::from_millis(300))
            .join("\n")
    }
}

impl Drop for RunningBinary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
