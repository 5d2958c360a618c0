//! The store crate's guide can be followed as written, and renders.

use std::collections::BTreeSet;

use crate::{Part, STORE_CRATE, all_docs, read, report};

/// Package names of `Cargo.lock`, with `-` written `_` as in Rust paths.
fn locked_crates() -> BTreeSet<String> {
    read("Cargo.lock")
        .lines()
        .filter_map(|line| line.strip_prefix("name = "))
        .map(|name| name.trim_matches('"').replace('-', "_"))
        .collect()
}

/// The crates a Rust code block uses by path (`use x::...`, `x::y`).
fn crates_used(code: &str, known: &BTreeSet<String>) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    for (at, _) in code.match_indices("::") {
        let before = &code[..at];
        let start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(0, |i| i + 1);
        let name = &before[start..];
        // Only the first name of a path: not `b` in `use a::{b::c}` or `a::b::c`.
        let previous = before[..start].trim_end();
        let glued = previous.ends_with([':', '.', '{', ',']);
        if !glued && known.contains(name) {
            used.insert(name.to_owned());
        }
    }
    used
}

#[test]
fn dependency_blocks_can_be_copied_as_they_are() {
    let manifest = read(&format!("{STORE_CRATE}/Cargo.toml"));
    let published = !manifest.lines().any(|l| l.trim() == "publish = false");
    let known = locked_crates();
    let mut problems = Vec::new();
    for doc in all_docs() {
        let blocks = &doc.parsed.code_blocks;
        let mut listed: BTreeSet<String> = BTreeSet::new();
        for block in blocks.iter().filter(|b| b.lang == "toml") {
            for line in block.content.lines() {
                let Some((name, value)) = line.split_once('=') else {
                    continue;
                };
                let name = name.trim();
                listed.insert(name.replace('-', "_"));
                if name == "actix-session-postgres"
                    && !published
                    && !(value.contains("path") || value.contains("git"))
                {
                    problems.push(format!(
                        "{}: `{}`: the crate is `publish = false`, so depend on it by `path` or `git`",
                        doc.at(block.start),
                        line.trim()
                    ));
                }
            }
        }
        // A guide with a dependency block lists every crate its examples use.
        if listed.is_empty() || doc.part == Part::Book {
            continue;
        }
        for block in blocks.iter().filter(|b| b.lang == "rust") {
            for name in crates_used(&block.content, &known) {
                if !listed.contains(&name) {
                    problems.push(format!(
                        "{}: the example uses `{name}`, which the dependency block does not list",
                        doc.at(block.start)
                    ));
                }
            }
        }
    }
    report("dependency blocks", problems);
}

#[test]
fn every_table_row_renders_inside_a_table() {
    // A paragraph in the middle of a table ends it: the rows after it are
    // shown as text (GitHub and rustdoc alike).
    let mut problems = Vec::new();
    for doc in all_docs() {
        let mut offset = 0;
        for line in doc.text.split_inclusive('\n') {
            let start = offset;
            offset += line.len();
            if !line.trim_start().starts_with('|') {
                continue;
            }
            let in_code = doc
                .parsed
                .code_blocks
                .iter()
                .any(|b| (b.start..b.end).contains(&start));
            let in_table = doc
                .parsed
                .tables
                .iter()
                .any(|t| (t.start..t.end).contains(&start));
            if !in_code && !in_table {
                problems.push(format!(
                    "{}: this line looks like a table row but is not in a table: {}",
                    doc.at(start),
                    line.trim()
                ));
            }
        }
    }
    report("table rows", problems);
}

#[test]
fn the_crate_guide_names_the_language_of_every_code_block() {
    // rustdoc compiles a fenced block without a language as Rust.
    let mut problems = Vec::new();
    for doc in all_docs().iter().filter(|d| d.part != Part::Book) {
        for block in doc
            .parsed
            .code_blocks
            .iter()
            .filter(|b| b.fenced && b.lang.is_empty())
        {
            problems.push(format!(
                "{}: a code block without a language (rustdoc would compile it as Rust)",
                doc.at(block.start)
            ));
        }
    }
    report("code blocks of the crate guide", problems);
}
