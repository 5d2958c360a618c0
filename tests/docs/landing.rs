//! The README is a landing page, and its test command is CI's.

use crate::{book, read};

/// The most lines the README may have: the rest of the book is in docs/.
const README_LINES: usize = 200;

#[test]
fn the_readme_stays_a_landing_page() {
    let readme = read("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= README_LINES,
        "README.md has {lines} lines; keep it at most {README_LINES} and move the rest into docs/"
    );
}

#[test]
fn ci_runs_exactly_the_test_command_the_readme_gives() {
    let readme = book().swap_remove(0);
    let commands: Vec<String> = readme
        .parsed
        .code_blocks
        .iter()
        .flat_map(|block| {
            block
                .content
                .lines()
                .map(str::trim)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|line| line.starts_with("cargo test"))
        .collect();
    assert_eq!(
        commands.len(),
        1,
        "README.md gives one test command in a code block: {commands:?}"
    );
    let command = &commands[0];
    let ci = read(".ci/run");
    let runs = ci.lines().map(str::trim).any(|line| {
        line.strip_prefix(command.as_str())
            .is_some_and(|rest| rest.is_empty() || rest.trim_start().starts_with("||"))
    });
    assert!(
        runs,
        ".ci/run does not run README.md's test command `{command}`"
    );
}
