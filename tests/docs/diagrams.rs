//! Mermaid diagrams: the tables diagram against the migrations, and diagrams
//! GitHub can draw.

use std::collections::BTreeSet;

use crate::{all_docs, book, read, report, repository_files};

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
    let statements = migration_statements();
    let mut problems = Vec::new();
    let mut diagrams = 0;
    for doc in book() {
        for block in doc
            .parsed
            .code_blocks
            .iter()
            .filter(|b| b.lang == "mermaid")
        {
            if block.content.lines().next().map(str::trim) != Some("erDiagram") {
                continue;
            }
            diagrams += 1;
            // The block's first content line is the line after the fence.
            let first_line = doc.text[..block.start].matches('\n').count() + 1;
            let mut entity: Option<(String, String, BTreeSet<String>)> = None;
            for (i, line) in block.content.lines().enumerate() {
                let at = doc.at_line(first_line + i);
                let trimmed = line.trim();
                if let Some(name) = trimmed.strip_suffix('{').map(str::trim) {
                    entity = Some((at, name.to_owned(), BTreeSet::new()));
                    continue;
                }
                if trimmed == "}" {
                    let Some((at, table, drawn)) = entity.take() else {
                        continue;
                    };
                    let Some(columns) = columns_of(&table, &statements) else {
                        problems.push(format!(
                            "{at}: the diagram draws `{table}`, but no migration creates that table"
                        ));
                        continue;
                    };
                    for column in drawn.difference(&columns) {
                        problems.push(format!(
                            "{at}: the diagram gives `{table}` a column `{column}` the migrations do not create"
                        ));
                    }
                    for column in columns.difference(&drawn) {
                        problems.push(format!(
                            "{at}: the migrations give `{table}` a column `{column}` the diagram leaves out"
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
        }
    }
    assert!(
        diagrams > 0,
        "the book has no Mermaid erDiagram of the tables"
    );
    report("the tables diagram against the migrations", problems);
}

#[test]
fn mermaid_diagrams_have_no_bare_semicolons() {
    // Mermaid ends a statement at `;`, so "Set-Cookie: session=; Max-Age=0" breaks
    // the whole diagram (GitHub then shows an error instead). Write `#59;`.
    let mut problems = Vec::new();
    for doc in all_docs() {
        for block in doc
            .parsed
            .code_blocks
            .iter()
            .filter(|b| b.lang == "mermaid")
        {
            let first_line = doc.text[..block.start].matches('\n').count() + 1;
            for (i, line) in block.content.lines().enumerate() {
                // Quoted labels ("rolling; indexed") may hold one.
                let unquoted: String = line.split('"').step_by(2).collect();
                if unquoted.replace("#59;", "").contains(';') {
                    problems.push(format!(
                        "{}: a `;` in a Mermaid diagram ends the statement (write `#59;`): {}",
                        doc.at_line(first_line + i),
                        line.trim()
                    ));
                }
            }
        }
    }
    report("Mermaid diagrams", problems);
}
