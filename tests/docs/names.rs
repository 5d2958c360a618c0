//! Names the docs give for code exist in the code: `Type::member`,
//! `module::item`, `function()`, snake_case names in backticks, and the names
//! and SQL in Mermaid messages.
//!
//! The code is this repository's (every file but the docs) and, for the types
//! of the pinned dependencies the docs talk about (actix-session's `Session`,
//! actix-web's `HttpServer`, ...), their sources in Cargo's registry, found
//! through `Cargo.lock`. Without those sources (no build yet), names of
//! foreign types are not checked.

use std::{
    collections::{BTreeMap, BTreeSet},
    env, fs,
    path::{Path, PathBuf},
    sync::OnceLock,
};

use crate::{
    Doc, all_docs, code_spans, paths::has_word as paths_has_word, read, report, repository_files,
    root,
};

/// Dependencies whose types the docs name.
const DEPENDENCIES: [&str; 12] = [
    "actix-session",
    "actix-web",
    "actix-http",
    "actix-files",
    "actix-governor",
    "actix-service",
    "sqlx-core",
    "sqlx-postgres",
    "cookie",
    "deadpool",
    "askama",
    "governor",
];

/// Types of the standard library the docs may name (not indexed).
const STD_TYPES: [&str; 12] = [
    "Duration", "Arc", "Option", "Result", "String", "Vec", "HashMap", "Box", "Instant", "Some",
    "None", "Ok",
];

/// PostgreSQL types, as in a cast (`state::jsonb`).
const SQL_TYPES: [&str; 11] = [
    "text",
    "jsonb",
    "json",
    "interval",
    "bytea",
    "bigint",
    "int",
    "integer",
    "timestamptz",
    "regclass",
    "boolean",
];

/// snake_case words the docs use that name something outside any code here:
/// other frameworks' options and settings of other programs.
const FOREIGN_WORDS: [&str; 10] = [
    "set_expiry",
    "pg_current_wal_lsn",
    "run_command_on_shards",
    "create_distributed_table",
    "connect_pg_simple",
    "lock_timeout",
    "idle_in_transaction_session_timeout",
    "synchronous_standby_names",
    "random_page_cost",
    "shared_buffers",
];

/// What the code defines, by name.
#[derive(Default)]
pub struct Index {
    /// Every identifier that occurs in the code.
    pub words: BTreeSet<String>,
    /// Every item defined: functions, types, traits, constants, modules, macros.
    pub items: BTreeSet<String>,
    /// Types, traits and enums.
    pub types: BTreeSet<String>,
    /// The members of each type: methods and associated items of its `impl`
    /// blocks, variants of an enum, fields of a struct, functions of a trait.
    pub members: BTreeMap<String, BTreeSet<String>>,
    /// SQL functions the migrations create.
    pub sql_functions: BTreeSet<String>,
    /// The SQL of the code: string literals of Rust files, statements of `.sql` files.
    pub sql: Vec<String>,
}

/// Rust source with comments and the insides of string and char literals
/// blanked (same length), so that braces in them do not count. String
/// literals' contents are returned apart.
fn mask(code: &str) -> (String, Vec<String>) {
    let bytes = code.as_bytes();
    let mut out = bytes.to_vec();
    let mut literals = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                let end = code[i..].find('\n').map_or(bytes.len(), |n| i + n);
                out[i..end].fill(b' ');
                i = end;
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut depth = 0;
                let mut j = i;
                while j < bytes.len() {
                    if bytes[j] == b'/' && bytes.get(j + 1) == Some(&b'*') {
                        depth += 1;
                        j += 2;
                    } else if bytes[j] == b'*' && bytes.get(j + 1) == Some(&b'/') {
                        depth -= 1;
                        j += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        j += 1;
                    }
                }
                let end = j.min(bytes.len());
                out[i..end].fill(b' ');
                i = end;
            }
            b'r' if (bytes.get(i + 1) == Some(&b'"') || bytes.get(i + 1) == Some(&b'#'))
                && !i
                    .checked_sub(1)
                    .is_some_and(|p| bytes[p].is_ascii_alphanumeric() || bytes[p] == b'_') =>
            {
                let hashes = bytes[i + 1..].iter().take_while(|&&b| b == b'#').count();
                if bytes.get(i + 1 + hashes) != Some(&b'"') {
                    i += 1;
                    continue;
                }
                let start = i + 2 + hashes;
                let closing = format!("\"{}", "#".repeat(hashes));
                let end = code[start..]
                    .find(&closing)
                    .map_or(bytes.len(), |n| start + n);
                literals.push(code[start..end].to_owned());
                out[start..end].fill(b' ');
                i = (end + closing.len()).min(bytes.len());
            }
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < bytes.len() && bytes[j] != b'"' {
                    j += if bytes[j] == b'\\' { 2 } else { 1 };
                }
                let end = j.min(bytes.len());
                literals.push(code[start..end].to_owned());
                out[start..end].fill(b' ');
                i = end + 1;
            }
            b'\'' if bytes.get(i + 1) == Some(&b'\\') => {
                let end = code[(i + 3).min(code.len())..]
                    .find('\'')
                    .map_or(bytes.len(), |n| i + 3 + n + 1);
                out[i..end.min(bytes.len())].fill(b' ');
                i = end;
            }
            b'\'' if bytes.get(i + 2) == Some(&b'\'') => {
                out[i..i + 3].fill(b' ');
                i += 3;
            }
            _ => i += 1,
        }
    }
    (String::from_utf8_lossy(&out).into_owned(), literals)
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The identifiers of a text.
fn words_of(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !is_word_char(c))
        .filter(|w| w.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
}

/// The identifier that starts `text` (after spaces).
fn leading_identifier(text: &str) -> &str {
    let text = text.trim_start();
    let end = text.find(|c: char| !is_word_char(c)).unwrap_or(text.len());
    &text[..end]
}

/// The byte offset of the `}` that closes the `{` at `open`.
fn closing_brace(masked: &str, open: usize) -> usize {
    let mut depth = 0i32;
    for (i, b) in masked.bytes().enumerate().skip(open) {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    masked.len()
}

/// The type an `impl` header is for: `impl<T> Trait<T> for a::Type<T> where ...` gives `Type`.
fn impl_self_type(header: &str) -> Option<String> {
    // Drop generic arguments, then the where clause.
    let mut flat = String::new();
    let mut depth = 0;
    for c in header.chars() {
        match c {
            '<' => depth += 1,
            '>' if depth > 0 => depth -= 1,
            _ if depth == 0 => flat.push(c),
            _ => {}
        }
    }
    let flat = flat.split(" where").next().unwrap_or(&flat);
    let target = flat.rsplit_once(" for ").map_or(flat, |(_, t)| t);
    let target = target
        .trim()
        .trim_start_matches('&')
        .trim_start_matches("dyn ")
        .trim();
    let last = target.rsplit("::").next()?.trim();
    let name = leading_identifier(last);
    (!name.is_empty()).then(|| name.to_owned())
}

/// Adds one Rust file to the index.
fn index_rust(index: &mut Index, code: &str) {
    let (masked, literals) = mask(code);
    index.sql.extend(literals);
    for word in words_of(code) {
        if !index.words.contains(word) {
            index.words.insert(word.to_owned());
        }
    }
    let bytes = masked.as_bytes();
    let mut at = 0;
    while at < bytes.len() {
        let c = bytes[at] as char;
        if !(c.is_ascii_alphabetic() || c == '_') {
            at += 1;
            continue;
        }
        let end = masked[at..]
            .find(|c: char| !is_word_char(c))
            .map_or(masked.len(), |n| at + n);
        let keyword = &masked[at..end];
        let rest = &masked[end..];
        match keyword {
            "fn" | "const" | "static" | "mod" | "type" => {
                let name = leading_identifier(rest);
                if !name.is_empty() && !index.items.contains(name) {
                    index.items.insert(name.to_owned());
                }
            }
            "macro_rules" => {
                let name = leading_identifier(rest.trim_start_matches('!'));
                if !name.is_empty() {
                    index.items.insert(name.to_owned());
                }
            }
            "struct" | "enum" | "trait" | "union" => {
                let name = leading_identifier(rest).to_owned();
                if !name.is_empty() {
                    index.items.insert(name.clone());
                    index.types.insert(name.clone());
                    if let Some(open) = rest.find(['{', ';', '('])
                        && rest.as_bytes()[open] == b'{'
                    {
                        let open = end + open;
                        let close = closing_brace(&masked, open);
                        let body = &masked[open + 1..close];
                        let members = index.members.entry(name).or_default();
                        members.extend(members_of(keyword, body));
                    }
                }
            }
            "impl" if rest.starts_with(|c: char| c.is_whitespace() || c == '<') => {
                if let Some(open) = rest.find(['{', ';'])
                    && rest.as_bytes()[open] == b'{'
                    && let Some(name) = impl_self_type(&rest[..open].replace('\n', " "))
                {
                    let open = end + open;
                    let close = closing_brace(&masked, open);
                    let body = &masked[open + 1..close];
                    let members = index.members.entry(name).or_default();
                    members.extend(members_of("impl", body));
                }
            }
            _ => {}
        }
        at = end;
    }
}

/// The members a body defines at its top level.
fn members_of(keyword: &str, body: &str) -> Vec<String> {
    let mut members = Vec::new();
    let mut depth = 0i32;
    let mut line_start = true;
    let mut i = 0;
    let bytes = body.as_bytes();
    while i < bytes.len() {
        let c = bytes[i] as char;
        match c {
            '{' | '(' | '[' => depth += 1,
            '}' | ')' | ']' => depth -= 1,
            _ => {}
        }
        if depth == 0
            && (line_start || c == ',' || c == '{' || c == ';')
            && body.is_char_boundary(i + 1)
        {
            let rest = &body[i + usize::from(!line_start)..];
            let trimmed = rest.trim_start();
            let trimmed = trimmed
                .trim_start_matches("pub(crate) ")
                .trim_start_matches("pub ")
                .trim_start_matches("async ")
                .trim_start_matches("unsafe ")
                .trim_start_matches("const fn ")
                .trim_start();
            match keyword {
                "enum" | "struct" | "union" => {
                    let name = leading_identifier(trimmed);
                    if !name.is_empty() && !trimmed.starts_with('#') {
                        members.push(name.to_owned());
                    }
                }
                _ => {
                    for prefix in ["fn ", "const ", "type "] {
                        if let Some(after) = trimmed.strip_prefix(prefix) {
                            let name = leading_identifier(after);
                            if !name.is_empty() {
                                members.push(name.to_owned());
                            }
                        }
                    }
                }
            }
        }
        line_start = c == '\n';
        i += 1;
    }
    members
}

/// The registry folders of the pinned dependencies' sources.
fn dependency_sources() -> Vec<PathBuf> {
    let lock = read("Cargo.lock");
    let mut wanted: Vec<String> = Vec::new();
    let mut name = String::new();
    for line in lock.lines() {
        if let Some(value) = line.strip_prefix("name = ") {
            name = value.trim_matches('"').to_owned();
        }
        if let Some(value) = line.strip_prefix("version = ")
            && DEPENDENCIES.contains(&name.as_str())
        {
            wanted.push(format!("{name}-{}", value.trim_matches('"')));
        }
    }
    let home = env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    let Some(registry) = home.map(|home| home.join("registry/src")) else {
        return Vec::new();
    };
    let Ok(indexes) = fs::read_dir(registry) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for index in indexes.filter_map(Result::ok) {
        for crate_dir in &wanted {
            let dir = index.path().join(crate_dir);
            if dir.is_dir() && !found.iter().any(|d: &PathBuf| d.ends_with(crate_dir)) {
                found.push(dir);
            }
        }
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether a repository file is documentation (not code the docs may cite).
fn is_documentation(file: &str) -> bool {
    file.ends_with(".md") || file.starts_with("tests/docs/") || file.starts_with("docs/")
}

/// The index of this repository's code and the dependencies' sources.
pub fn index() -> &'static Index {
    static INDEX: OnceLock<Index> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut index = Index::default();
        for file in repository_files() {
            if is_documentation(&file) {
                continue;
            }
            let Ok(text) = fs::read_to_string(root().join(&file)) else {
                continue; // Not text (a picture).
            };
            if file.ends_with(".rs") {
                index_rust(&mut index, &text);
            } else {
                for word in words_of(&text) {
                    if !index.words.contains(word) {
                        index.words.insert(word.to_owned());
                    }
                }
            }
            if file.ends_with(".sql") {
                index.sql.extend(text.split(';').map(str::to_owned));
                let upper = text.to_uppercase();
                for (at, _) in upper.match_indices("FUNCTION ") {
                    let name = leading_identifier(&text[at + "FUNCTION ".len()..]);
                    if !name.is_empty() {
                        index.sql_functions.insert(name.to_owned());
                    }
                }
            }
        }
        for dir in dependency_sources() {
            let mut files = Vec::new();
            rust_files(&dir.join("src"), &mut files);
            for file in files {
                if let Ok(text) = fs::read_to_string(&file) {
                    index_rust(&mut index, &text);
                }
            }
        }
        index
    })
}

/// Paths such as `Type::member` or `module::item` in a text: (offset, segments).
fn paths_in(text: &str) -> Vec<(usize, Vec<String>)> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i] as char;
        let starts = (c.is_ascii_alphabetic() || c == '_')
            && !i.checked_sub(1).is_some_and(|p| {
                let b = bytes[p] as char;
                is_word_char(b) || b == ':' || b == '$' || b == '.'
            });
        if !starts {
            i += 1;
            continue;
        }
        let mut segments = Vec::new();
        let mut j = i;
        loop {
            let end = text[j..]
                .find(|c: char| !is_word_char(c))
                .map_or(text.len(), |n| j + n);
            segments.push(text[j..end].to_owned());
            if text[end..].starts_with("::")
                && text[end + 2..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            {
                j = end + 2;
            } else {
                j = end;
                break;
            }
        }
        if segments.len() > 1 {
            found.push((i, segments));
        }
        i = j.max(i + 1);
    }
    found
}

/// Why a path does not name anything in the code, if it does not.
fn check_path(segments: &[String]) -> Option<String> {
    let index = index();
    let first = segments[0].as_str();
    let last = segments[segments.len() - 1].as_str();
    if ["std", "core", "alloc", "crate", "self", "super"].contains(&first)
        || SQL_TYPES.contains(&last)
    {
        return None;
    }
    let is_type = |s: &str| s.starts_with(|c: char| c.is_ascii_uppercase());
    // `Type::member`: a member of that type.
    if segments.len() >= 2 && is_type(&segments[segments.len() - 2]) {
        let ty = segments[segments.len() - 2].as_str();
        if STD_TYPES.contains(&ty) {
            return None;
        }
        if !index.types.contains(ty) {
            return Some(format!("there is no type `{ty}` in the code"));
        }
        if !index.members.get(ty).is_some_and(|m| m.contains(last)) {
            return Some(format!("`{ty}` has no member `{last}`"));
        }
        return None;
    }
    // `module::Type` and `module::item`: an item of that name exists.
    if is_type(last) && !index.types.contains(last) && !index.items.contains(last) {
        return Some(format!("there is no type `{last}` in the code"));
    }
    if index.items.contains(last) || index.words.contains(last) {
        None
    } else {
        Some(format!("nothing in the code is called `{last}`"))
    }
}

/// `name(` calls in a text: (offset, name).
fn calls_in(text: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (at, _) in text.match_indices('(') {
        let before = &text[..at];
        let start = before
            .rfind(|c: char| !is_word_char(c))
            .map_or(0, |i| i + 1);
        let name = &before[start..];
        let preceded_by_dot = before[..start].ends_with(['.', ':']);
        if name.len() > 1
            && name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            && !preceded_by_dot
        {
            found.push((start, name.to_owned()));
        }
    }
    found
}

/// A snake_case word with an underscore (a name from code, not English).
fn is_snake_name(text: &str) -> bool {
    text.contains('_')
        && text.starts_with(|c: char| c.is_ascii_lowercase())
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !text.ends_with('_')
}

fn word_exists(word: &str) -> bool {
    let index = index();
    index.words.contains(word) || FOREIGN_WORDS.contains(&word)
}

#[test]
fn every_name_the_prose_gives_for_code_exists() {
    let mut problems = Vec::new();
    for doc in all_docs() {
        for block in doc.parsed.blocks.iter().filter(|b| !b.exempt) {
            let at = doc.at(block.start);
            // Paths, in backticks or not (`AppSession::renew`).
            for (_, segments) in paths_in(&block.text) {
                if let Some(problem) = check_path(&segments) {
                    problems.push(format!("{at}: `{}`: {problem}", segments.join("::")));
                }
            }
            for (_, _, span) in code_spans(&block.text) {
                // `name()`: a function of the code (or the dependencies).
                if let Some(name) = span.strip_suffix("()")
                    && !name.contains(['.', ':', ' '])
                    && !index().items.contains(name)
                    && !index().sql_functions.contains(name)
                    && !FOREIGN_WORDS.contains(&name)
                {
                    problems.push(format!("{at}: `{span}`: no function `{name}` in the code"));
                }
                // `snake_case`: a name the code uses.
                if is_snake_name(&span) && !word_exists(&span) {
                    problems.push(format!("{at}: `{span}`: the code has no such name"));
                }
            }
        }
    }
    report("names of code in the prose", problems);
}

/// SQL keywords that start a statement in a Mermaid message.
const SQL_STARTS: [&str; 4] = ["SELECT ", "INSERT INTO ", "UPDATE ", "DELETE FROM "];

/// The tables the migrations create.
fn tables() -> BTreeSet<String> {
    index()
        .sql
        .iter()
        .flat_map(|sql| {
            sql.match_indices("CREATE TABLE ").map(|(at, _)| {
                let rest = sql[at + "CREATE TABLE ".len()..].trim_start_matches("IF NOT EXISTS ");
                leading_identifier(rest).to_owned()
            })
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// Problems with the names in one Mermaid message.
fn check_message(message: &str) -> Vec<String> {
    let index = index();
    let mut problems = Vec::new();
    for (_, segments) in paths_in(message) {
        if let Some(problem) = check_path(&segments) {
            problems.push(format!("`{}`: {problem}", segments.join("::")));
        }
    }
    for word in words_of(message) {
        if is_snake_name(word) && !word_exists(word) {
            problems.push(format!("`{word}`: the code has no such name"));
        }
    }
    let sql_start = SQL_STARTS
        .iter()
        .filter_map(|keyword| message.find(keyword).map(|at| (at, *keyword)))
        .min();
    // In SQL, every function called must be one the code's SQL calls, and
    // every table one the migrations create.
    if let Some((at, keyword)) = sql_start {
        let statement = &message[at..];
        let table = match keyword {
            "SELECT " => statement
                .find(" FROM ")
                .map(|i| leading_identifier(&statement[i + 6..])),
            _ => Some(leading_identifier(&statement[keyword.len()..])),
        };
        if let Some(table) = table
            && table.chars().all(|c| c.is_ascii_lowercase() || c == '_')
            && !table.is_empty()
            && !tables().contains(table)
        {
            problems.push(format!("`{table}`: no migration creates such a table"));
        }
        // The code's statements on that table (all of them, without a table).
        let on_table: Vec<String> = index
            .sql
            .iter()
            .map(|sql| sql.to_lowercase())
            .filter(|sql| table.is_none_or(|t| paths_has_word(sql, t)))
            .collect();
        for (_, name) in calls_in(statement) {
            if !on_table.iter().any(|sql| sql.contains(&format!("{name}("))) {
                let place = table.map_or(String::new(), |t| format!(" on `{t}`"));
                problems.push(format!("`{name}(`: the code's SQL{place} never calls it"));
            }
        }
    } else {
        // Outside SQL, `name(...)` is a function of the code.
        for (_, name) in calls_in(message) {
            if !index.items.contains(&name)
                && !index.sql_functions.contains(&name)
                && !FOREIGN_WORDS.contains(&name.as_str())
            {
                problems.push(format!("`{name}(`: no function of that name in the code"));
            }
        }
    }
    problems
}

/// The message text of a Mermaid line: what follows the arrow's `:` or a note's `:`.
fn mermaid_message(line: &str) -> Option<&str> {
    let trimmed = line.trim();
    let is_message = trimmed.contains("->") || trimmed.starts_with("Note ");
    if !is_message {
        return None;
    }
    trimmed.split_once(':').map(|(_, message)| message.trim())
}

#[test]
fn mermaid_messages_name_only_what_the_code_has() {
    let mut problems = Vec::new();
    let mut messages = 0;
    for doc in all_docs() {
        for block in doc
            .parsed
            .code_blocks
            .iter()
            .filter(|b| b.lang == "mermaid" && !b.exempt)
        {
            if block.content.trim_start().starts_with("erDiagram") {
                continue;
            }
            let first_line = doc.text[..block.start].matches('\n').count() + 1;
            for (i, line) in block.content.lines().enumerate() {
                let Some(message) = mermaid_message(line) else {
                    continue;
                };
                messages += 1;
                for problem in check_message(message) {
                    problems.push(format!("{}: {problem}", at_line(&doc, first_line + i)));
                }
            }
        }
    }
    assert!(messages > 0, "the book has no Mermaid sequence diagram");
    report("names in Mermaid messages", problems);
}

fn at_line(doc: &Doc, index: usize) -> String {
    doc.at_line(index)
}

#[test]
fn the_name_index_finds_what_it_should() {
    // The checks above are only as good as the index: a few known facts.
    let index = index();
    let members = |ty: &str| index.members.get(ty).cloned().unwrap_or_default();
    assert!(members("AppSession").contains("sign_in"));
    assert!(members("AppSession").contains("renew_credentials"));
    assert!(!members("AppSession").contains("renew"));
    assert!(
        members("PgSessionStore").contains("load"),
        "trait impls count"
    );
    assert!(members("ExpiryPolicy").contains("touch_interval"));
    assert!(index.sql_functions.contains("touch_session"));
    assert!(check_path(&["AppSession".into(), "renew".into()]).is_some());
    assert!(check_message("SELECT count(*) FROM login_failures").len() == 1);
    assert!(check_message("sign_in: renew(), store user_id").is_empty());
    if !dependency_sources().is_empty() {
        assert!(members("Session").contains("renew"));
        assert!(members("TtlExtensionPolicy").contains("OnStateChanges"));
    }
}
