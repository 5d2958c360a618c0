//! The settings table against `src/config.rs` and `.env.example`.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::PathBuf,
};

use crate::{Doc, book, cells, code_spans, read, report, root};

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
pub fn string_literals(code: &str) -> (Vec<(usize, usize)>, String) {
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

/// The book's settings rows: ("file:line", variable, default cell), from
/// every table whose header starts `| variable | default |`.
fn settings_rows() -> Vec<(String, String, String)> {
    let mut rows = Vec::new();
    for doc in book() {
        rows.extend(settings_rows_of(&doc));
    }
    rows
}

fn settings_rows_of(doc: &Doc) -> Vec<(String, String, String)> {
    let mut rows = Vec::new();
    let mut in_table = false;
    for (number, line) in doc.lines().enumerate() {
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
            rows.push((
                doc.at_line(number),
                name,
                cells.get(1).cloned().unwrap_or_default(),
            ));
        }
    }
    rows
}

#[test]
fn the_settings_table_matches_the_settings_code() {
    let rows = settings_rows();
    assert!(
        !rows.is_empty(),
        "the book has no settings table (a table whose header starts `| variable | default |`)"
    );
    let (source, code) = settings_source();
    let variables = variables_in(&code);
    let constants = constants_in(&code);
    let mut problems = Vec::new();

    let documented: BTreeSet<&str> = rows.iter().map(|(_, name, _)| name.as_str()).collect();
    for name in variables.keys() {
        if !documented.contains(name.as_str()) {
            problems.push(format!(
                "{source} reads `{name}`, but the settings table (docs/reference.md) has no row for it"
            ));
        }
    }
    for (line, name, default) in &rows {
        let Some(windows) = variables.get(name) else {
            problems.push(format!(
                "{line}: `{name}` is in the settings table, but {source} never reads it"
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
                "{line}: `{name}` defaults to `{shown}` in the settings table, \
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
    let defaults: BTreeMap<String, String> = settings_rows()
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
                ".env.example:{line}: `{name}={value}`, but the settings table gives the default {documented}"
            ));
        }
    }
    report(".env.example against the settings code", problems);
}
