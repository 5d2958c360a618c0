//! Bad settings stop the start with one clear line naming the variable.

use std::process::Command;

/// Runs the real binary with `vars` (and nothing from the developer's environment
/// or `.env` that could interfere), returning its exit success and stderr.
fn run_binary(vars: &[(&str, &str)]) -> (bool, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_session-demo"));
    command
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    // Run from an empty directory so no `.env` file is picked up.
    let dir = tempfile::tempdir().expect("a temp dir");
    command.current_dir(dir.path());
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = command.output().expect("the binary runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn bad_settings_refuse_to_start_with_one_line_naming_the_variable() {
    let long = "x".repeat(64);
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("SESSION_SECRET", "too-short")], "SESSION_SECRET"),
        (&[("SESSION_TTL_SECONDS", "soon")], "SESSION_TTL_SECONDS"),
        (
            &[("SESSION_ABSOLUTE_TTL_SECONDS", "-5")],
            "SESSION_ABSOLUTE_TTL_SECONDS",
        ),
        (
            &[("SESSION_PRUNE_INTERVAL_SECONDS", "0")],
            "SESSION_PRUNE_INTERVAL_SECONDS",
        ),
        (
            &[("DATABASE_MAX_CONNECTIONS", "many")],
            "DATABASE_MAX_CONNECTIONS",
        ),
        (&[("BIND_ADDR", "localhost")], "BIND_ADDR"),
        (&[("APP_ENV", "staging")], "APP_ENV"),
        (&[("COOKIE_SECURE", "maybe")], "COOKIE_SECURE"),
        (&[("APP_ENV", "production")], "SESSION_SECRET"),
        (
            &[
                ("APP_ENV", "production"),
                ("SESSION_SECRET", session_demo::config::EXAMPLE_SECRET),
            ],
            "SESSION_SECRET",
        ),
        (
            &[("APP_ENV", "production"), ("SESSION_SECRET", &long)],
            "DATABASE_URL",
        ),
    ];
    for (vars, variable) in cases {
        let (ok, stderr) = run_binary(vars);
        assert!(!ok, "{vars:?} must refuse to start");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line for {vars:?}: {stderr}");
        assert!(lines[0].contains(variable), "{vars:?}: {stderr}");
    }
}
