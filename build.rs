//! Two things Cargo does not do by itself:
//!
//! - Rebuild when a migration is added or changed: `sqlx::migrate!` embeds the
//!   SQL files at compile time, and Cargo does not otherwise watch them. (The
//!   session store's own migrations are watched by its crate's build script.)
//! - Name the git commit this build was made from, for the metrics'
//!   `session_demo_build_info` (`SESSION_DEMO_GIT_COMMIT`): `git rev-parse`,
//!   or `unknown` where there is no git or no repository (a source tarball).

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|output| output.status.success())
            .and_then(|output| String::from_utf8(output.stdout).ok())
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=SESSION_DEMO_GIT_COMMIT={commit}");
    // A new commit moves HEAD or the branch it points to: name both files,
    // wherever this checkout keeps them (a worktree has its own HEAD).
    for path in [
        git(&["rev-parse", "--git-path", "HEAD"]),
        git(&["rev-parse", "--symbolic-full-name", "HEAD"])
            .and_then(|branch| git(&["rev-parse", "--git-path", &branch])),
    ]
    .into_iter()
    .flatten()
    {
        println!("cargo:rerun-if-changed={path}");
    }
}
