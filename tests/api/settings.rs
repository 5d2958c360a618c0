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

/// A secret with enough variety for production (64 hex digits).
const RANDOM_SECRET: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

#[test]
fn bad_settings_refuse_to_start_with_one_line_naming_the_variable() {
    let long = RANDOM_SECRET;
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
        (&[("TRUSTED_PROXIES", "0.0.0.0/0")], "TRUSTED_PROXIES"),
        (&[("TRUSTED_PROXIES", "127.0.0.1, ::/0")], "TRUSTED_PROXIES"),
        (&[("APP_ENV", "production")], "SESSION_SECRET"),
        (
            &[
                ("APP_ENV", "production"),
                ("SESSION_SECRET", session_demo::config::EXAMPLE_SECRET),
            ],
            "SESSION_SECRET",
        ),
        (
            &[("APP_ENV", "production"), ("SESSION_SECRET", long)],
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

#[test]
fn production_without_secure_cookies_refuses_to_start_naming_both_variables() {
    let (ok, stderr) = run_binary(&[
        ("APP_ENV", "production"),
        ("SESSION_SECRET", RANDOM_SECRET),
        (
            "DATABASE_URL",
            "postgres://postgres@127.0.0.1:1/never_reached",
        ),
        ("COOKIE_SECURE", "false"),
    ]);
    assert!(!ok, "must refuse to start");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].contains("COOKIE_SECURE") && lines[0].contains("APP_ENV"),
        "{stderr}"
    );
}

#[test]
fn out_of_range_numbers_and_guessable_secrets_refuse_to_start_with_one_line() {
    // A database that is never reached: a value that slipped through would
    // make the start fail later, on a line naming no variable (or hang).
    let unreachable = (
        "DATABASE_URL",
        "postgres://postgres@127.0.0.1:1/never_reached",
    );
    let weak = "a".repeat(64);
    let cases: &[(&[(&str, &str)], &str)] = &[
        (
            &[("SESSION_TTL_SECONDS", "9300000000000")],
            "SESSION_TTL_SECONDS",
        ),
        (
            &[("SESSION_PRUNE_INTERVAL_SECONDS", "18446744073709551615")],
            "SESSION_PRUNE_INTERVAL_SECONDS",
        ),
        (
            &[("DATABASE_ACQUIRE_TIMEOUT_SECONDS", "18446744073709551615")],
            "DATABASE_ACQUIRE_TIMEOUT_SECONDS",
        ),
        (
            &[("DATABASE_STATEMENT_TIMEOUT_MS", "99999999999")],
            "DATABASE_STATEMENT_TIMEOUT_MS",
        ),
        (
            &[("REQUEST_BODY_TIMEOUT_SECONDS", "0")],
            "REQUEST_BODY_TIMEOUT_SECONDS",
        ),
        (
            &[("APP_ENV", "production"), ("SESSION_SECRET", &weak)],
            "SESSION_SECRET",
        ),
    ];
    for (vars, variable) in cases {
        let mut vars = vars.to_vec();
        vars.push(unreachable);
        let (ok, stderr) = run_binary(&vars);
        assert!(!ok, "{vars:?} must refuse to start");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line for {vars:?}: {stderr}");
        assert!(lines[0].contains(variable), "{vars:?}: {stderr}");
    }
}
