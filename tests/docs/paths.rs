//! Paths, file names and links: everything the docs point at exists.

use std::{collections::BTreeSet, fs, path::Path};

use crate::{
    Doc, Part, all_docs, book, cells, code_spans, markdown, report, repository_files, root,
};

/// Top-level folders whose paths the docs may name, each checked for existence.
pub const PATH_PREFIXES: [&str; 11] = [
    "src/",
    "migrations/",
    "tests/",
    "crates/",
    "scripts/",
    "deploy/",
    "docs/",
    "templates/",
    "static/",
    "examples/",
    ".ci/",
];

/// File extensions that make a backticked bare word a file name.
const FILE_EXTENSIONS: [&str; 10] = [
    ".rs", ".sql", ".html", ".sh", ".md", ".lua", ".toml", ".css", ".svg", ".png",
];

/// Whether `relative` (possibly with a `*` wildcard in its last part) names
/// something that exists, from the repository's root or from `base`.
fn exists(relative: &str, base: &str) -> bool {
    let relative = relative.trim_end_matches('/');
    let from = |dir: &Path| {
        if !relative.contains('*') {
            return dir.join(relative).exists();
        }
        let (folder, pattern) = relative.rsplit_once('/').unwrap_or(("", relative));
        let (head, tail) = pattern.split_once('*').unwrap_or((pattern, ""));
        fs::read_dir(dir.join(folder))
            .map(|entries| {
                entries.filter_map(Result::ok).any(|entry| {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    name.len() >= head.len() + tail.len()
                        && name.starts_with(head)
                        && name.ends_with(tail)
                })
            })
            .unwrap_or(false)
    };
    from(&root()) || (!base.is_empty() && from(&root().join(base)))
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_-./*@".contains(c)
}

/// Repository paths named in a line of text (outside URLs).
fn paths_in(line: &str) -> Vec<String> {
    let mut found = Vec::new();
    for prefix in PATH_PREFIXES {
        let mut from = 0;
        while let Some(at) = line[from..].find(prefix).map(|i| from + i) {
            from = at + prefix.len();
            let before = &line[..at];
            let glued = before
                .chars()
                .next_back()
                .is_some_and(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
            // `../src/x.rs` is a relative link from docs/; any other `/src/` is part of a URL.
            let in_url = before.ends_with('/') && !before.ends_with("../");
            if glued || in_url {
                continue;
            }
            let end = line[at..]
                .find(|c: char| !is_path_char(c))
                .map_or(line.len(), |i| at + i);
            // `crates/<name>/...` and the like are patterns, not paths.
            if line[end..].starts_with(['<', '{']) {
                continue;
            }
            let path = line[at..end].trim_end_matches('.');
            if path.len() > prefix.len() || line[end..].starts_with(['`', ' ', ')', ',', ':']) {
                found.push(path.to_owned());
            }
        }
    }
    found
}

/// The lines of a doc with the byte offset each starts at.
fn lines_with_offsets(doc: &Doc) -> Vec<(usize, usize, &str)> {
    let mut offset = 0;
    doc.text
        .split_inclusive('\n')
        .enumerate()
        .map(|(index, line)| {
            let start = offset;
            offset += line.len();
            (index, start, line.trim_end_matches(['\n', '\r']))
        })
        .collect()
}

#[test]
fn every_path_the_docs_name_exists() {
    let mut problems = Vec::new();
    for doc in all_docs() {
        for (index, offset, line) in lines_with_offsets(&doc) {
            if doc.parsed.is_exempt(offset) {
                continue;
            }
            for path in paths_in(line) {
                if !exists(&path, &doc.base) {
                    problems.push(format!("{}: `{path}` does not exist", doc.at_line(index)));
                }
            }
        }
    }
    report("paths named in the docs", problems);
}

fn is_identifier(text: &str) -> bool {
    let text = text.strip_suffix("()").unwrap_or(text);
    !text.is_empty()
        && text.split("::").all(|part| {
            part.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

fn is_file_path(text: &str) -> bool {
    PATH_PREFIXES.iter().any(|prefix| text.starts_with(prefix))
        && FILE_EXTENSIONS.iter().any(|ext| text.ends_with(ext))
}

/// Whether `word` occurs in `text` as a whole word.
pub fn has_word(text: &str, word: &str) -> bool {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        !text[..at].chars().next_back().is_some_and(is_word)
            && !text[at + word.len()..].chars().next().is_some_and(is_word)
    })
}

/// (name, path) pairs a block of prose states: the name is in the file at the path.
fn names_beside_paths(unit: &str) -> Vec<(String, String)> {
    let spans = code_spans(unit);
    let mut pairs = Vec::new();
    for (i, (_, end, text)) in spans.iter().enumerate() {
        let Some((next_start, _, next)) = spans.get(i + 1) else {
            continue;
        };
        let between = &unit[*end..*next_start];
        // "`name` (`path`" and "`name` in `path`"
        if is_identifier(text) && is_file_path(next) && matches!(between, " (" | " in ") {
            pairs.push((text.clone(), next.clone()));
        }
        // "`path`: `a`, `b` and `c`"
        if is_file_path(text) && between == ": " {
            let mut last_end = *end + 2;
            for (start, span_end, name) in &spans[i + 1..] {
                let gap = &unit[last_end..*start];
                if !(gap.is_empty() || matches!(gap, ", " | " and " | ", and " | " or ")) {
                    break;
                }
                if !is_identifier(name) {
                    break;
                }
                pairs.push((name.clone(), text.clone()));
                last_end = *span_end;
            }
        }
    }
    pairs
}

#[test]
fn every_name_quoted_beside_a_path_is_in_that_file() {
    let mut problems = Vec::new();
    for doc in all_docs() {
        for block in doc.parsed.blocks.iter().filter(|block| !block.exempt) {
            for (name, path) in names_beside_paths(&block.text) {
                let text = fs::read_to_string(root().join(&path))
                    .or_else(|_| fs::read_to_string(root().join(&doc.base).join(&path)));
                let Ok(text) = text else {
                    continue; // A missing file is the path test's to report.
                };
                let bare = name.strip_suffix("()").unwrap_or(&name);
                for part in bare.split("::") {
                    if !has_word(&text, part) {
                        problems.push(format!(
                            "{}: `{name}` is quoted beside `{path}`, but `{part}` is not in that file",
                            doc.at(block.start)
                        ));
                    }
                }
            }
        }
    }
    report("names quoted beside paths", problems);
}

fn is_bare_file_name(text: &str) -> bool {
    !text.contains('/')
        && !text.contains(' ')
        && FILE_EXTENSIONS.iter().any(|ext| text.ends_with(ext))
}

/// The directory a table cell names, if it is one backticked directory path.
fn directory_cell(cell: &str) -> Option<String> {
    code_spans(cell).into_iter().find_map(|(_, _, text)| {
        (text.ends_with('/') && PATH_PREFIXES.iter().any(|p| text.starts_with(p))).then_some(text)
    })
}

#[test]
fn every_bare_file_name_in_backticks_exists() {
    let files = repository_files();
    let mut problems = Vec::new();
    for doc in all_docs() {
        // A table whose first header cell names a directory (`file in `tests/api/``)
        // lists files of that directory in its first column.
        let mut table_dir: Option<String> = None;
        let mut previous_was_table = false;
        for (index, offset, line) in lines_with_offsets(&doc) {
            let is_table = line.trim_start().starts_with('|');
            if is_table && !previous_was_table {
                table_dir = cells(line).first().and_then(|cell| directory_cell(cell));
            }
            previous_was_table = is_table;
            if doc.parsed.is_exempt(offset) {
                continue;
            }
            let row = is_table.then(|| cells(line));
            let row_dir = row
                .as_ref()
                .and_then(|cells| cells.first())
                .and_then(|cell| directory_cell(cell));
            for (start, _, name) in code_spans(line) {
                if !is_bare_file_name(&name) {
                    continue;
                }
                let in_first_cell = row.is_some() && line[..start].matches('|').count() <= 1;
                let dir = row_dir
                    .clone()
                    .or_else(|| table_dir.clone().filter(|_| in_first_cell));
                let ok = match &dir {
                    Some(dir) => files.iter().any(|file| {
                        file.starts_with(dir.as_str()) && file.ends_with(&format!("/{name}"))
                    }),
                    None => files
                        .iter()
                        .any(|file| *file == name || file.ends_with(&format!("/{name}"))),
                };
                if !ok {
                    let place = dir.map_or("the repository".to_owned(), |dir| format!("`{dir}`"));
                    problems.push(format!(
                        "{}: `{name}` is not a file in {place}",
                        doc.at_line(index)
                    ));
                }
            }
        }
    }
    report("file names in backticks", problems);
}

#[test]
fn every_source_file_and_migration_is_named_somewhere_in_the_book() {
    let docs = book();
    let mut bare: BTreeSet<String> = BTreeSet::new();
    let mut text = String::new();
    for doc in &docs {
        text.push_str(&doc.text);
        text.push('\n');
        bare.extend(
            code_spans(&doc.text)
                .into_iter()
                .map(|(_, _, span)| span)
                .filter(|span| is_bare_file_name(span)),
        );
    }
    let mut problems = Vec::new();
    for file in repository_files() {
        let wanted = (file.starts_with("src/") && file.ends_with(".rs"))
            || (file.starts_with("migrations/") && file.ends_with(".sql"));
        if !wanted {
            continue;
        }
        let name = file.rsplit('/').next().unwrap_or(&file);
        if !text.contains(&file) && !bare.contains(name) {
            problems.push(format!(
                "`{file}` is named nowhere in README.md or docs/ (add it to the file map in docs/reference.md)"
            ));
        }
    }
    report("source files the book should name", problems);
}

/// `a/b/../c` as `a/c`; `None` if it climbs out of the repository.
fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            part => parts.push(part),
        }
    }
    Some(parts.join("/"))
}

/// Anchors of a Markdown file in the repository (empty if it is not one).
fn anchors_of(relative: &str) -> BTreeSet<String> {
    fs::read_to_string(root().join(relative))
        .map(|text| markdown::parse(&text).anchors)
        .unwrap_or_default()
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let mut problems = Vec::new();
    for doc in all_docs() {
        // rustdoc resolves links of its own kind; its relative file links do not work.
        if doc.part == Part::CrateDocs {
            continue;
        }
        let folder = Path::new(&doc.path)
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        for link in doc.parsed.links.iter().filter(|link| !link.exempt) {
            let target = link.target.as_str();
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
            let resolved = if file.is_empty() {
                Some(doc.path.clone())
            } else {
                normalize(&format!("{folder}/{file}"))
            };
            let Some(resolved) = resolved.filter(|r| root().join(r).exists()) else {
                problems.push(format!(
                    "{}: the link `{target}` leads to no file",
                    doc.at(link.start)
                ));
                continue;
            };
            if anchor.is_empty() || !resolved.ends_with(".md") {
                continue;
            }
            let anchors = if resolved == doc.path {
                doc.parsed.anchors.clone()
            } else {
                anchors_of(&resolved)
            };
            if !anchors.contains(anchor) {
                problems.push(format!(
                    "{}: the link `{target}`: `{resolved}` has no heading or id `{anchor}`",
                    doc.at(link.start)
                ));
            }
        }
    }
    report("relative links", problems);
}
