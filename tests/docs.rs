//! Keeps the documentation true: `README.md` and `docs/*.md`, read against the code.
//!
//! A test binary of its own, with no dependency on the app: it only reads files.
//! Each test checks one kind of claim and lists every failure with its file and
//! line:
//!
//! - every path the docs name (`src/...`, `migrations/...`, `tests/...`,
//!   `crates/...`, `scripts/...`, `deploy/...`, `docs/...`, `templates/...`,
//!   `static/...`, `.ci/...`) exists;
//! - a name quoted in backticks beside a path exists in that file, where "beside"
//!   is one of: "`name` (`path`", "`name` in `path`", "`path`: `name`, `name`";
//! - a bare file name in backticks (`store.rs`) exists: in the directory its table
//!   row or table header names, or anywhere in the repository;
//! - a fenced code block right after a line `<!-- from: path -->` appears in that
//!   file, ignoring whitespace (a line `...` in the block skips code);
//! - README's settings table (every table whose header starts `| variable | default |`)
//!   and `src/config.rs` name the same variables, with the stated defaults, and
//!   `.env.example` lists the same ones;
//! - every source file under `src/` and every migration is named in README.md;
//! - the Mermaid `erDiagram` in README.md shows exactly the columns the migrations
//!   create for each table it draws;
//! - no Mermaid diagram holds a bare `;` (it ends a statement and breaks the diagram).

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// Top-level folders whose paths the docs may name, each checked for existence.
const PATH_PREFIXES: [&str; 10] = [
    "src/",
    "migrations/",
    "tests/",
    "crates/",
    "scripts/",
    "deploy/",
    "docs/",
    "templates/",
    "static/",
    ".ci/",
];

/// File extensions that make a backticked bare word a file name.
const FILE_EXTENSIONS: [&str; 10] = [
    ".rs", ".sql", ".html", ".sh", ".md", ".lua", ".toml", ".css", ".svg", ".png",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(relative: &str) -> String {
    fs::read_to_string(root().join(relative))
        .unwrap_or_else(|error| panic!("reading {relative}: {error}"))
}

/// One documentation file: its path (relative to the repository) and its lines.
struct Doc {
    path: String,
    lines: Vec<String>,
}

/// README.md and every `docs/*.md`.
fn docs() -> Vec<Doc> {
    let mut paths = vec!["README.md".to_owned()];
    if let Ok(entries) = fs::read_dir(root().join("docs")) {
        let mut more: Vec<String> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".md"))
            .map(|name| format!("docs/{name}"))
            .collect();
        more.sort();
        paths.extend(more);
    }
    paths
        .into_iter()
        .map(|path| Doc {
            lines: read(&path).lines().map(str::to_owned).collect(),
            path,
        })
        .collect()
}

fn readme() -> Doc {
    docs().swap_remove(0)
}

/// Fails with every problem found, one per line.
fn report(what: &str, problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{what}: {} problem(s)\n  {}\n",
        problems.len(),
        problems.join("\n  ")
    );
}

/// The backticked spans of a text: (where the span starts, where it ends, its text).
fn code_spans(text: &str) -> Vec<(usize, usize, String)> {
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

/// Whether `relative` (possibly with a `*` wildcard in its last part) names something that exists.
fn exists(relative: &str) -> bool {
    let relative = relative.trim_end_matches('/');
    if !relative.contains('*') {
        return root().join(relative).exists();
    }
    let (dir, pattern) = relative.rsplit_once('/').unwrap_or(("", relative));
    let (head, tail) = pattern.split_once('*').unwrap_or((pattern, ""));
    fs::read_dir(root().join(dir))
        .map(|entries| {
            entries.filter_map(Result::ok).any(|entry| {
                let name = entry.file_name().to_string_lossy().into_owned();
                name.len() >= head.len() + tail.len()
                    && name.starts_with(head)
                    && name.ends_with(tail)
            })
        })
        .unwrap_or(false)
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

#[test]
fn every_path_the_docs_name_exists() {
    let mut problems = Vec::new();
    for doc in docs() {
        for (number, line) in doc.lines.iter().enumerate() {
            for path in paths_in(line) {
                if !exists(&path) {
                    problems.push(format!(
                        "{}:{}: `{path}` does not exist",
                        doc.path,
                        number + 1
                    ));
                }
            }
        }
    }
    report("paths named in the docs", problems);
}

/// A paragraph, list item or table row of prose, with the line it starts on.
/// Code blocks are left out; wrapped lines are joined with a space.
fn prose_units(doc: &Doc) -> Vec<(usize, String)> {
    let mut units: Vec<(usize, String)> = Vec::new();
    let mut open: Option<(usize, String)> = None;
    let mut in_code = false;
    for (number, line) in doc.lines.iter().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_code = !in_code;
            units.extend(open.take());
            continue;
        }
        if in_code {
            continue;
        }
        let starts_unit = trimmed.is_empty()
            || trimmed.starts_with('|')
            || trimmed.starts_with('#')
            || trimmed.starts_with("- ")
            || trimmed
                .split_once(". ")
                .is_some_and(|(n, _)| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()));
        if starts_unit {
            units.extend(open.take());
        }
        if trimmed.is_empty() {
            continue;
        }
        if trimmed.starts_with('|') || trimmed.starts_with('#') {
            units.push((number + 1, trimmed.to_owned()));
            continue;
        }
        match &mut open {
            Some((_, text)) => {
                text.push(' ');
                text.push_str(trimmed);
            }
            None => open = Some((number + 1, trimmed.to_owned())),
        }
    }
    units.extend(open);
    units
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
fn has_word(text: &str, word: &str) -> bool {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(word).any(|(at, _)| {
        !text[..at].chars().next_back().is_some_and(is_word)
            && !text[at + word.len()..].chars().next().is_some_and(is_word)
    })
}

/// (name, path) pairs a unit of prose states: the name is in the file at the path.
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
    for doc in docs() {
        for (line, unit) in prose_units(&doc) {
            for (name, path) in names_beside_paths(&unit) {
                let Ok(text) = fs::read_to_string(root().join(&path)) else {
                    continue; // A missing file is the path test's to report.
                };
                let bare = name.strip_suffix("()").unwrap_or(&name);
                for part in bare.split("::") {
                    if !has_word(&text, part) {
                        problems.push(format!(
                            "{}:{line}: `{name}` is quoted beside `{path}`, but `{part}` is not in that file",
                            doc.path
                        ));
                    }
                }
            }
        }
    }
    report("names quoted beside paths", problems);
}

/// Every file in the repository (outside `target/` and `.git/`), relative paths.
fn repository_files() -> Vec<String> {
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

fn is_bare_file_name(text: &str) -> bool {
    !text.contains('/')
        && !text.contains(' ')
        && FILE_EXTENSIONS.iter().any(|ext| text.ends_with(ext))
}

/// Splits a table row into its cells.
fn cells(row: &str) -> Vec<String> {
    row.trim()
        .trim_matches('|')
        .split('|')
        .map(|cell| cell.trim().to_owned())
        .collect()
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
    for doc in docs() {
        // A table whose first header cell names a directory (`file in `tests/api/``)
        // lists files of that directory in its first column.
        let mut table_dir: Option<String> = None;
        let mut previous_was_table = false;
        for (number, line) in doc.lines.iter().enumerate() {
            let is_table = line.trim_start().starts_with('|');
            if is_table && !previous_was_table {
                table_dir = cells(line).first().and_then(|cell| directory_cell(cell));
            }
            previous_was_table = is_table;
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
                        "{}:{}: `{name}` is not a file in {place}",
                        doc.path,
                        number + 1
                    ));
                }
            }
        }
    }
    report("file names in backticks", problems);
}

/// Text with every whitespace character removed.
fn squeeze(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

/// A line in an excerpt that stands for skipped code.
fn is_elision(line: &str) -> bool {
    matches!(line.trim(), "..." | "// ..." | "-- ..." | "# ...")
}

#[test]
fn every_excerpt_marked_with_its_file_appears_in_it() {
    let mut problems = Vec::new();
    let mut excerpts = 0;
    for doc in docs() {
        let lines = &doc.lines;
        for (number, line) in lines.iter().enumerate() {
            let Some(source) = line
                .trim()
                .strip_prefix("<!-- from:")
                .and_then(|rest| rest.strip_suffix("-->"))
                .map(str::trim)
            else {
                continue;
            };
            let at = format!("{}:{}", doc.path, number + 1);
            let Some(fence) = lines[number + 1..]
                .iter()
                .position(|l| !l.trim().is_empty())
                .map(|i| number + 1 + i)
                .filter(|&i| lines[i].trim_start().starts_with("```"))
            else {
                problems.push(format!(
                    "{at}: the marker is not followed by a fenced code block"
                ));
                continue;
            };
            let Some(close) = lines[fence + 1..]
                .iter()
                .position(|l| l.trim_start().starts_with("```"))
                .map(|i| fence + 1 + i)
            else {
                problems.push(format!(
                    "{at}: the code block after the marker never closes"
                ));
                continue;
            };
            let Ok(text) = fs::read_to_string(root().join(source)) else {
                problems.push(format!("{at}: `{source}` does not exist"));
                continue;
            };
            excerpts += 1;
            let file = squeeze(&text);
            // Each piece between `...` lines must appear, in order.
            let mut from = 0;
            let mut piece: Vec<(usize, &str)> = Vec::new();
            let block: Vec<(usize, &str)> = (fence + 1..close)
                .map(|i| (i + 1, lines[i].as_str()))
                .chain([(close + 1, "...")])
                .collect();
            for (line_number, code) in block {
                if !is_elision(code) {
                    piece.push((line_number, code));
                    continue;
                }
                let whole: String = piece.iter().map(|(_, l)| squeeze(l)).collect();
                match file[from..].find(&whole) {
                    Some(found) => from += found + whole.len(),
                    None => {
                        // Name the first line from which the excerpt stops matching.
                        let mut prefix = String::new();
                        let mut culprit = piece.first().copied().unwrap_or((close, ""));
                        for &(n, l) in &piece {
                            prefix.push_str(&squeeze(l));
                            if !file[from..].contains(&prefix) {
                                culprit = (n, l);
                                break;
                            }
                        }
                        problems.push(format!(
                            "{}:{}: this line of the excerpt marked at line {} is not in `{source}` \
                             (or not in this order): {}",
                            doc.path,
                            culprit.0,
                            number + 1,
                            culprit.1.trim()
                        ));
                    }
                }
                piece.clear();
            }
        }
    }
    assert!(
        excerpts > 0 || problems.is_empty(),
        "no marked excerpts found"
    );
    report("excerpts marked with `<!-- from: path -->`", problems);
}

/// The settings code: `src/config.rs`, or every file of `src/config/`, without test modules.
fn settings_source() -> (String, String) {
    let single = root().join("src/config.rs");
    let mut files: Vec<PathBuf> = if single.exists() {
        vec![single]
    } else {
        fs::read_dir(root().join("src/config"))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|entry| entry.path())
                    .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
                    .collect()
            })
            .unwrap_or_default()
    };
    files.sort();
    let names = files
        .iter()
        .map(|path| {
            path.strip_prefix(root())
                .unwrap_or(path)
                .display()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join(", ");
    let code = files
        .iter()
        .map(|path| {
            let text = fs::read_to_string(path).unwrap_or_default();
            match text.find("#[cfg(test)]") {
                Some(tests) => text[..tests].to_owned(),
                None => text,
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    (names, code)
}

fn is_variable_name(text: &str) -> bool {
    text.len() >= 4
        && text.contains('_')
        && text.starts_with(|c: char| c.is_ascii_uppercase())
        && text
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The string literals of Rust code, as (start, end) byte ranges of their
/// contents, skipping comments and char literals; and the code with every
/// literal's contents and every comment blanked out (same length), so that
/// brackets inside them do not count.
fn string_literals(code: &str) -> (Vec<(usize, usize)>, String) {
    let bytes = code.as_bytes();
    let mut literals = Vec::new();
    let mut masked = bytes.to_vec();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = code[i..].find('\n').map_or(bytes.len(), |n| i + n);
                masked[i..end].fill(b' ');
                i = end;
            }
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                let end = j.min(bytes.len());
                literals.push((start, end));
                masked[start..end].fill(b' ');
                i = end + 1;
            }
            // A char literal ('"', '\'', 'x'); a lifetime ('a) is left alone.
            b'\'' if bytes.get(i + 1) == Some(&b'\\') => {
                i = code[i + 3..]
                    .find('\'')
                    .map_or(bytes.len(), |n| i + 3 + n + 1);
            }
            b'\'' if bytes.get(i + 2) == Some(&b'\'') => i += 3,
            _ => i += 1,
        }
    }
    (literals, String::from_utf8_lossy(&masked).into_owned())
}

/// Every environment variable the settings code names (a string literal such as
/// `"SESSION_TTL_SECONDS"`, but not `env!("CARGO_...")`), with the code after each
/// mention up to the end of the expression it sits in: a `;` not nested deeper
/// than the literal, or a `,` outside the call the literal is an argument of.
fn variables_in(code: &str) -> BTreeMap<String, Vec<String>> {
    let (literals, masked) = string_literals(code);
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (start, end) in literals {
        let literal = &code[start..end];
        if !is_variable_name(literal) || code[..start - 1].trim_end().ends_with("env!(") {
            continue;
        }
        let after = end + 1;
        let mut depth = 0i32;
        let mut stop = code.len();
        for (i, c) in masked[after..].char_indices() {
            match c {
                '(' | '{' | '[' => depth += 1,
                ')' | '}' | ']' => depth -= 1,
                ';' if depth <= 0 => {
                    stop = after + i;
                    break;
                }
                ',' if depth < 0 => {
                    stop = after + i;
                    break;
                }
                _ => {}
            }
        }
        found
            .entry(literal.to_owned())
            .or_default()
            .push(code[after..stop].to_owned());
    }
    found
}

/// `const NAME: T = value;` items, so a default written as a constant can be followed.
fn constants_in(code: &str) -> BTreeMap<String, String> {
    code.lines()
        .filter_map(|line| {
            let rest = line
                .trim()
                .trim_start_matches("pub ")
                .strip_prefix("const ")?;
            let (name, rest) = rest.split_once(':')?;
            let (_, value) = rest.split_once('=')?;
            Some((
                name.trim().to_owned(),
                value.trim().trim_end_matches(';').to_owned(),
            ))
        })
        .collect()
}

/// Numbers and words of a text, with digit-group underscores and commas dropped (86_400 = 86,400 = 86400).
fn atoms(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut cleaned = String::new();
    for (i, &c) in chars.iter().enumerate() {
        let between_digits = i > 0
            && chars[i - 1].is_ascii_digit()
            && chars.get(i + 1).is_some_and(char::is_ascii_digit);
        if (c == '_' || c == ',') && between_digits {
            continue;
        }
        cleaned.push(c);
    }
    cleaned
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|atom| !atom.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether every atom of `wanted` occurs in `window`, in order.
fn atoms_in_order(wanted: &[String], window: &[String]) -> bool {
    let mut rest = window.iter();
    wanted.iter().all(|atom| rest.any(|w| w == atom))
}

/// The README's settings rows: (line, variable, default cell).
fn settings_rows(doc: &Doc) -> Vec<(usize, String, String)> {
    let mut rows = Vec::new();
    let mut in_table = false;
    for (number, line) in doc.lines.iter().enumerate() {
        if !line.trim_start().starts_with('|') {
            in_table = false;
            continue;
        }
        let cells = cells(line);
        if cells.len() >= 2 && cells[0] == "variable" && cells[1] == "default" {
            in_table = true;
            continue;
        }
        if !in_table || cells[0].starts_with("---") {
            continue;
        }
        if let Some((_, _, name)) = code_spans(&cells[0]).into_iter().next() {
            rows.push((number + 1, name, cells.get(1).cloned().unwrap_or_default()));
        }
    }
    rows
}

#[test]
fn the_settings_table_matches_the_settings_code() {
    let doc = readme();
    let rows = settings_rows(&doc);
    assert!(
        !rows.is_empty(),
        "README.md has no settings table (a table whose header starts `| variable | default |`)"
    );
    let (source, code) = settings_source();
    let variables = variables_in(&code);
    let constants = constants_in(&code);
    let mut problems = Vec::new();

    let documented: BTreeSet<&str> = rows.iter().map(|(_, name, _)| name.as_str()).collect();
    for name in variables.keys() {
        if !documented.contains(name.as_str()) {
            problems.push(format!(
                "{source} reads `{name}`, but README.md's settings table has no row for it"
            ));
        }
    }
    for (line, name, default) in &rows {
        let Some(windows) = variables.get(name) else {
            problems.push(format!(
                "README.md:{line}: `{name}` is in the settings table, but {source} never reads it"
            ));
            continue;
        };
        let lowered = default.to_lowercase();
        if ["unset", "none", "empty"]
            .iter()
            .any(|word| lowered.starts_with(word))
            || lowered.is_empty()
        {
            continue; // No default to compare: the variable is optional or required.
        }
        // A default that depends on APP_ENV ("false in development, true in production").
        let (wanted, shown) = if lowered.contains("in production") {
            (vec!["production".to_owned()], "production".to_owned())
        } else {
            let shown = code_spans(default)
                .into_iter()
                .next()
                .map(|(_, _, text)| text)
                .unwrap_or_else(|| default.split_whitespace().next().unwrap_or("").to_owned());
            (atoms(&shown), shown)
        };
        let found = windows.iter().any(|window| {
            let mut window = atoms(window);
            // Follow constants the parse call uses (`DEFAULT_TTL` -> `3600`).
            let expanded: Vec<String> = window
                .iter()
                .filter_map(|atom| constants.get(atom))
                .flat_map(|value| atoms(value))
                .collect();
            window.extend(expanded);
            atoms_in_order(&wanted, &window)
        });
        if !found {
            problems.push(format!(
                "README.md:{line}: `{name}` defaults to `{shown}` in the settings table, \
                 but {source} shows no such default where it reads `{name}`"
            ));
        }
    }
    report("the settings table against the settings code", problems);
}

#[test]
fn env_example_lists_the_same_settings() {
    let (source, code) = settings_source();
    let variables = variables_in(&code);
    let example = read(".env.example");
    let mut listed: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for (number, line) in example.lines().enumerate() {
        let line = line.trim().trim_start_matches('#').trim();
        if let Some((name, value)) = line.split_once('=')
            && is_variable_name(name)
        {
            listed.insert(name.to_owned(), (number + 1, value.trim().to_owned()));
        }
    }
    let defaults: BTreeMap<String, String> = settings_rows(&readme())
        .into_iter()
        .map(|(_, name, default)| (name, default))
        .collect();
    let mut problems = Vec::new();
    for name in variables.keys() {
        if !listed.contains_key(name) {
            problems.push(format!(
                "{source} reads `{name}`, but .env.example does not list it"
            ));
        }
    }
    for (name, (line, value)) in &listed {
        if !variables.contains_key(name) {
            problems.push(format!(
                ".env.example:{line}: `{name}` is not read by {source}"
            ));
        }
        // A whole-number example must be the documented default.
        if let Some(default) = defaults.get(name)
            && value.parse::<u64>().is_ok()
            && let Some(documented) = atoms(default).first()
            && documented.parse::<u64>().is_ok()
            && documented != value
        {
            problems.push(format!(
                ".env.example:{line}: `{name}={value}`, but README.md gives the default {documented}"
            ));
        }
    }
    report(".env.example against the settings code", problems);
}

#[test]
fn every_source_file_and_migration_is_named_in_the_readme() {
    let doc = readme();
    let text = doc.lines.join("\n");
    let bare: BTreeSet<String> = code_spans(&text)
        .into_iter()
        .map(|(_, _, span)| span)
        .filter(|span| is_bare_file_name(span))
        .collect();
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
                "`{file}` is named nowhere in README.md (add it to \"Where to find things\")"
            ));
        }
    }
    report("source files the README should name", problems);
}

/// The statements of every migration in the repository (`migrations/` and
/// `crates/*/migrations/`), comments removed.
fn migration_statements() -> Vec<String> {
    repository_files()
        .into_iter()
        .filter(|file| file.ends_with(".sql") && file.contains("migrations/"))
        .flat_map(|file| {
            let text: String = read(&file)
                .lines()
                .map(|line| line.split("--").next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join("\n");
            text.split(';')
                .map(|statement| statement.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The columns the migrations give `table`: from its CREATE TABLE and ALTER TABLE ... ADD COLUMN.
fn columns_of(table: &str, statements: &[String]) -> Option<BTreeSet<String>> {
    let mut columns = BTreeSet::new();
    let mut created = false;
    let not_columns = [
        "PRIMARY",
        "UNIQUE",
        "CHECK",
        "CONSTRAINT",
        "FOREIGN",
        "EXCLUDE",
    ];
    for statement in statements {
        if let Some(rest) = statement
            .strip_prefix(&format!("CREATE TABLE {table} ("))
            .or_else(|| statement.strip_prefix(&format!("CREATE TABLE IF NOT EXISTS {table} (")))
        {
            created = true;
            // Split the column list at top-level commas.
            let mut depth = 0;
            let mut part = String::new();
            let mut parts = Vec::new();
            for c in rest.chars() {
                match c {
                    '(' => depth += 1,
                    ')' if depth == 0 => break,
                    ')' => depth -= 1,
                    ',' if depth == 0 => {
                        parts.push(std::mem::take(&mut part));
                        continue;
                    }
                    _ => {}
                }
                part.push(c);
            }
            parts.push(part);
            for part in parts {
                if let Some(word) = part.split_whitespace().next()
                    && !not_columns.contains(&word)
                {
                    columns.insert(word.to_owned());
                }
            }
        }
        if let Some(rest) = statement.strip_prefix(&format!("ALTER TABLE {table} ")) {
            for piece in rest.split("ADD COLUMN ").skip(1) {
                let piece = piece.trim_start_matches("IF NOT EXISTS ");
                if let Some(word) = piece.split_whitespace().next() {
                    columns.insert(word.to_owned());
                }
            }
        }
    }
    created.then_some(columns)
}

#[test]
fn the_tables_diagram_matches_the_migrations() {
    let doc = readme();
    let statements = migration_statements();
    let mut problems = Vec::new();
    let mut diagrams = 0;
    let mut in_diagram = false;
    let mut entity: Option<(usize, String, BTreeSet<String>)> = None;
    for (number, line) in doc.lines.iter().enumerate() {
        let trimmed = line.trim();
        if trimmed == "erDiagram" {
            in_diagram = true;
            diagrams += 1;
            continue;
        }
        if !in_diagram {
            continue;
        }
        if trimmed.starts_with("```") {
            in_diagram = false;
            continue;
        }
        if let Some(name) = trimmed.strip_suffix('{').map(str::trim) {
            entity = Some((number + 1, name.to_owned(), BTreeSet::new()));
            continue;
        }
        if trimmed == "}" {
            let Some((line, table, drawn)) = entity.take() else {
                continue;
            };
            let Some(columns) = columns_of(&table, &statements) else {
                problems.push(format!(
                    "README.md:{line}: the diagram draws `{table}`, but no migration creates that table"
                ));
                continue;
            };
            for column in drawn.difference(&columns) {
                problems.push(format!(
                    "README.md:{line}: the diagram gives `{table}` a column `{column}` the migrations do not create"
                ));
            }
            for column in columns.difference(&drawn) {
                problems.push(format!(
                    "README.md:{line}: the migrations give `{table}` a column `{column}` the diagram leaves out"
                ));
            }
            continue;
        }
        if let Some((_, _, drawn)) = &mut entity
            && let Some(column) = trimmed.split_whitespace().nth(1)
        {
            drawn.insert(column.to_owned());
        }
    }
    assert!(
        diagrams > 0,
        "README.md has no Mermaid erDiagram of the tables"
    );
    report("the tables diagram against the migrations", problems);
}

#[test]
fn mermaid_diagrams_have_no_bare_semicolons() {
    // Mermaid ends a statement at `;`, so "Set-Cookie: session=; Max-Age=0" breaks
    // the whole diagram (GitHub then shows an error instead). Write `#59;`.
    let mut problems = Vec::new();
    for doc in docs() {
        let mut in_mermaid = false;
        for (number, line) in doc.lines.iter().enumerate() {
            let trimmed = line.trim();
            if trimmed.starts_with("```") {
                in_mermaid = trimmed == "```mermaid";
                continue;
            }
            // Quoted labels ("rolling; indexed") may hold one.
            let unquoted: String = line.split('"').step_by(2).collect();
            if in_mermaid && unquoted.replace("#59;", "").contains(';') {
                problems.push(format!(
                    "{}:{}: a `;` in a Mermaid diagram ends the statement (write `#59;`): {trimmed}",
                    doc.path,
                    number + 1
                ));
            }
        }
    }
    report("Mermaid diagrams", problems);
}
