//! Keeps the documentation true: the book (`README.md` and `docs/*.md`) and the
//! session store's guide (`crates/actix-session-postgres/README.md` and the
//! crate documentation in its `src/lib.rs`), read against the code.
//!
//! A test binary of its own, with no dependency on the app: it only reads files.
//! Markdown is read with a real CommonMark parser (`pulldown-cmark`, with
//! GitHub's tables), so a table, a code block or a link is what GitHub and
//! rustdoc see. Each test checks one kind of claim and lists every failure with
//! its file and line:
//!
//! - `paths`: every path the docs name exists; a name quoted beside a path is in
//!   that file; a bare file name in backticks is a file; every relative link
//!   and `#anchor` resolves; every source file under `src/` and every migration
//!   is named somewhere in the book;
//! - `excerpts`: a fenced code block right after `<!-- from: path -->` appears
//!   in that file (whitespace aside; a line `...` skips code);
//! - `settings`: the settings table (`| variable | default |`) and
//!   `src/config.rs` name the same variables with the same defaults, and
//!   `.env.example` lists the same ones;
//! - `diagrams`: the Mermaid `erDiagram` shows exactly the columns the
//!   migrations create; no Mermaid diagram holds a bare `;`;
//! - `names`: every `Type::member`, `module::item`, `function()` and
//!   snake_case name in backticks, and every such name in Mermaid message
//!   text, exists in the code (ours, or the pinned dependencies' sources);
//! - `figures`: figures from the benchmark quoted elsewhere are the benchmark's;
//! - `inspector`: the inspector's legend explains every session key of
//!   `src/session/typed.rs`;
//! - `guide`: the store crate's dependency blocks can be copied as they are,
//!   and its tables render as tables;
//! - `landing`: the README stays a landing page, and its test command is the
//!   one `.ci/run` runs.
//!
//! A block (paragraph, list, table, diagram) right after a line
//! `<!-- TODO(lead): ... -->`, or holding one, describes code that has not
//! landed yet: its names and links are not checked until the TODO goes. The
//! same for `<!-- new: ... -->` and code blocks tagged `new` (```` ```rust new ````):
//! code an exercise asks the reader to write.

mod diagrams;
mod excerpts;
mod figures;
mod guide;
mod inspector;
mod landing;
mod markdown;
mod names;
mod paths;
mod settings;

use std::{
    fs,
    path::{Path, PathBuf},
};

use markdown::Parsed;

/// The repository's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A repository file's text (relative path); fails the test if it is missing.
pub fn read(relative: &str) -> String {
    fs::read_to_string(root().join(relative))
        .unwrap_or_else(|error| panic!("reading {relative}: {error}"))
}

/// Problems of the crate's documentation in `src/lib.rs` (the lead's file)
/// whose fixes are proposed but not applied yet: a problem whose message
/// holds one of these texts is left out of the reports. Each must still be
/// in `src/lib.rs`, or `pending_fixes_are_still_pending` fails: delete the
/// entry once its fix is in.
pub const PENDING_CRATE_DOC_FIXES: [&str; 0] = [];

/// Fails with every problem found, one per line.
pub fn report(what: &str, problems: Vec<String>) {
    let problems: Vec<String> = problems
        .into_iter()
        .filter(|problem| {
            !PENDING_CRATE_DOC_FIXES
                .iter()
                .any(|pending| problem.contains(pending))
        })
        .collect();
    assert!(
        problems.is_empty(),
        "{what}: {} problem(s)\n  {}\n",
        problems.len(),
        problems.join("\n  ")
    );
}

/// Which part of the documentation a file belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// `README.md` and `docs/*.md`.
    Book,
    /// The store crate's README.
    CrateReadme,
    /// The store crate's documentation, written as `//!` lines in its `src/lib.rs`.
    CrateDocs,
}

/// One documentation file, as Markdown.
pub struct Doc {
    /// The file, relative to the repository.
    pub path: String,
    /// The folder its relative links and paths start from ("" for the root).
    pub base: String,
    pub part: Part,
    /// The Markdown text (for `lib.rs`: its `//!` lines, without the `//!`).
    pub text: String,
    /// The file's line number for each line of `text` (1-based).
    line_numbers: Vec<usize>,
    /// The parsed Markdown.
    pub parsed: Parsed,
}

impl Doc {
    fn new(path: &str, base: &str, part: Part, text: String, line_numbers: Vec<usize>) -> Self {
        let parsed = markdown::parse(&text);
        Self {
            path: path.to_owned(),
            base: base.to_owned(),
            part,
            text,
            line_numbers,
            parsed,
        }
    }

    /// The Markdown's lines.
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.text.lines()
    }

    /// The file's line number of the Markdown's line `index` (0-based).
    pub fn line_number(&self, index: usize) -> usize {
        self.line_numbers.get(index).copied().unwrap_or(index + 1)
    }

    /// The file's line number of a byte offset into the Markdown.
    pub fn line_at(&self, offset: usize) -> usize {
        let index = self.text[..offset.min(self.text.len())]
            .matches('\n')
            .count();
        self.line_number(index)
    }

    /// "path:line" for a byte offset into the Markdown.
    pub fn at(&self, offset: usize) -> String {
        format!("{}:{}", self.path, self.line_at(offset))
    }

    /// "path:line" for a Markdown line index.
    pub fn at_line(&self, index: usize) -> String {
        format!("{}:{}", self.path, self.line_number(index))
    }
}

/// The store crate, whose guide the docs test reads too.
pub const STORE_CRATE: &str = "crates/actix-session-postgres";

fn markdown_file(path: &str, base: &str, part: Part) -> Doc {
    let text = read(path);
    let count = text.lines().count();
    Doc::new(path, base, part, text, (1..=count).collect())
}

/// The book: `README.md`, then every `docs/*.md` in name order.
pub fn book() -> Vec<Doc> {
    let mut docs = vec![markdown_file("README.md", "", Part::Book)];
    let mut pages: Vec<String> = fs::read_dir(root().join("docs"))
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .filter(|name| name.ends_with(".md"))
                .collect()
        })
        .unwrap_or_default();
    pages.sort();
    docs.extend(
        pages
            .iter()
            .map(|name| markdown_file(&format!("docs/{name}"), "docs", Part::Book)),
    );
    docs
}

/// The store crate's guide: its README (if any) and the `//!` documentation of its `lib.rs`.
pub fn crate_guide() -> Vec<Doc> {
    let mut docs = Vec::new();
    let readme = format!("{STORE_CRATE}/README.md");
    if root().join(&readme).exists() {
        docs.push(markdown_file(&readme, STORE_CRATE, Part::CrateReadme));
    }
    let lib = format!("{STORE_CRATE}/src/lib.rs");
    let source = read(&lib);
    let mut text = String::new();
    let mut numbers = Vec::new();
    for (index, line) in source.lines().enumerate() {
        if let Some(rest) = line.trim_start().strip_prefix("//!") {
            text.push_str(rest.strip_prefix(' ').unwrap_or(rest));
            text.push('\n');
            numbers.push(index + 1);
        }
    }
    docs.push(Doc::new(&lib, STORE_CRATE, Part::CrateDocs, text, numbers));
    docs
}

/// Everything the test reads: the book, then the crate's guide.
pub fn all_docs() -> Vec<Doc> {
    let mut docs = book();
    docs.extend(crate_guide());
    docs
}

/// Every file in the repository (outside `target/`, `.git/` and the like), as relative paths.
pub fn repository_files() -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            let name = entry.file_name();
            if name == "target" || name == ".git" || name == "node_modules" {
                continue;
            }
            if path.is_dir() {
                walk(&path, base, out);
            } else if let Ok(relative) = path.strip_prefix(base) {
                out.push(relative.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(&root(), &root(), &mut out);
    out.sort();
    out
}

/// The backticked spans of a text: (where the span starts, where it ends, its text).
pub fn code_spans(text: &str) -> Vec<(usize, usize, String)> {
    let mut spans = Vec::new();
    let mut rest = 0;
    while let Some(open) = text[rest..].find('`').map(|i| rest + i) {
        let Some(close) = text[open + 1..].find('`').map(|i| open + 1 + i) else {
            break;
        };
        spans.push((open, close + 1, text[open + 1..close].to_owned()));
        rest = close + 1;
    }
    spans
}

/// Splits a table row into its cells.
pub fn cells(row: &str) -> Vec<String> {
    row.trim()
        .trim_matches('|')
        .split('|')
        .map(|cell| cell.trim().to_owned())
        .collect()
}

#[test]
fn pending_fixes_are_still_pending() {
    let lib = read(&format!("{STORE_CRATE}/src/lib.rs"));
    let fixed: Vec<&str> = PENDING_CRATE_DOC_FIXES
        .iter()
        .copied()
        .filter(|pending| !lib.contains(pending))
        .collect();
    assert!(
        fixed.is_empty(),
        "fixed in src/lib.rs, so delete from PENDING_CRATE_DOC_FIXES (tests/docs/main.rs): {fixed:?}"
    );
}
