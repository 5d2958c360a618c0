//! Figures from the benchmark, quoted elsewhere, are the benchmark's.
//!
//! A block of prose (or a table) that mentions the benchmark quotes its
//! figures: every number in it with a thousands separator (29,477), and every
//! decimal followed by a unit (4.69x, 4.2 ms, 0.20 statements), must be one of
//! `docs/benchmark.md`'s numbers, as written or rounded (4.7 for 4.69; 5,900
//! for 5,865 when it ends in zeros).

use crate::markdown::Kind;
use crate::{Doc, all_docs, read, report};

/// Pages with measurements of their own, which quote nothing.
const OWN_MEASUREMENTS: [&str; 4] = [
    "docs/benchmark.md",
    "docs/scaling.md",
    "docs/high-availability.md",
    "docs/operations.md",
];

/// Units after a decimal that make it a measured figure.
const UNITS: [&str; 9] = [
    "x",
    "×",
    "ms",
    "MiB",
    "times",
    "statements",
    "s",
    "req/s",
    "%",
];

/// A number in a text: where it starts, its digits without separators, how
/// many decimals it has, whether it has a thousands separator, and whether a
/// unit follows it.
#[derive(Debug, Clone)]
struct Number {
    value: String,
    decimals: usize,
    grouped: bool,
    unit: bool,
    /// The text between this number and the next one.
    gap_to_next: String,
}

fn numbers_in(text: &str) -> Vec<Number> {
    let chars: Vec<char> = text.chars().collect();
    let mut numbers: Vec<Number> = Vec::new();
    let mut i = 0;
    let mut last_end = 0;
    while i < chars.len() {
        let c = chars[i];
        let glued = i > 0 && (chars[i - 1].is_alphanumeric() || "-._$#".contains(chars[i - 1]));
        if !c.is_ascii_digit() || glued {
            i += 1;
            continue;
        }
        let start = i;
        let mut value = String::new();
        let mut grouped = false;
        let mut decimals = 0;
        while i < chars.len() {
            let c = chars[i];
            let next_digits = chars[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .count();
            if c.is_ascii_digit() {
                value.push(c);
                if decimals > 0 || value.contains('.') {
                    decimals += 1;
                }
                i += 1;
            } else if c == ',' && next_digits == 3 && !value.contains('.') {
                grouped = true;
                i += 1;
            } else if c == '.' && next_digits > 0 && !value.contains('.') {
                value.push('.');
                i += 1;
            } else {
                break;
            }
        }
        let rest: String = chars[i..].iter().collect();
        // Versions (0.11.0), dates (2026-11-29), and words (2x4) are not figures.
        if rest.starts_with(['.', '-']) && rest[1..].starts_with(|c: char| c.is_ascii_digit()) {
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || ".-".contains(chars[i])) {
                i += 1;
            }
            continue;
        }
        let after = rest.trim_start();
        let unit = UNITS.iter().any(|unit| {
            after.starts_with(unit)
                && !after[unit.len()..].starts_with(|c: char| c.is_ascii_alphanumeric())
        });
        if let Some(previous) = numbers.last_mut() {
            previous.gap_to_next = chars[last_end..start].iter().collect();
        }
        numbers.push(Number {
            value,
            decimals,
            grouped,
            unit,
            gap_to_next: String::new(),
        });
        last_end = i;
    }
    // "4.7, 3.0 and 3.5 times": the unit of the last applies to the list.
    for index in (0..numbers.len().saturating_sub(1)).rev() {
        let gap = numbers[index].gap_to_next.trim();
        let listed = matches!(gap, "," | "and" | ", and" | "/" | "or" | "to" | "-");
        if listed && numbers[index + 1].unit {
            numbers[index].unit = true;
        }
    }
    numbers
}

/// Every number of the benchmark page.
fn benchmark_numbers() -> Vec<f64> {
    numbers_in(&read("docs/benchmark.md"))
        .into_iter()
        .filter_map(|n| n.value.parse().ok())
        .collect()
}

/// Whether `cited` (as written) is one of `known`, exactly or rounded.
fn matches_one(cited: &Number, known: &[f64]) -> bool {
    let Ok(value) = cited.value.parse::<f64>() else {
        return true;
    };
    let decimals = cited.decimals;
    let trailing_zeros = if decimals == 0 {
        cited.value.len() - cited.value.trim_end_matches('0').len()
    } else {
        0
    };
    known.iter().any(|&k| {
        let rounded = format!("{k:.decimals$}");
        if rounded.parse::<f64>().ok() == Some(value) {
            return true;
        }
        trailing_zeros >= 2 && {
            let unit = 10f64.powi(trailing_zeros as i32);
            (k / unit).round() * unit == value
        }
    })
}

/// The units of a doc that quote the benchmark: (where, text).
fn citing_units(doc: &Doc) -> Vec<(usize, String)> {
    let mut units = Vec::new();
    let mut previous_prose = String::new();
    let mut table_text: Option<(usize, usize, String, bool)> = None;
    for block in &doc.parsed.blocks {
        if block.kind == Kind::Row {
            let table = block.table.unwrap_or(usize::MAX);
            match &mut table_text {
                Some((index, _, text, _)) if *index == table => {
                    text.push('\n');
                    text.push_str(&block.text);
                }
                _ => {
                    if let Some((_, start, text, cites)) = table_text.take()
                        && (cites || text.to_lowercase().contains("benchmark"))
                    {
                        units.push((start, text));
                    }
                    let cites = previous_prose.to_lowercase().contains("benchmark");
                    table_text = Some((table, block.start, block.text.clone(), cites));
                }
            }
            continue;
        }
        if let Some((_, start, text, cites)) = table_text.take()
            && (cites || text.to_lowercase().contains("benchmark"))
        {
            units.push((start, text));
        }
        if block.kind == Kind::Heading {
            previous_prose.clear();
            continue;
        }
        previous_prose = block.text.clone();
        if block.text.to_lowercase().contains("benchmark") {
            units.push((block.start, block.text.clone()));
        }
    }
    if let Some((_, start, text, cites)) = table_text
        && (cites || text.to_lowercase().contains("benchmark"))
    {
        units.push((start, text));
    }
    units
}

#[test]
fn figures_quoted_from_the_benchmark_are_the_benchmarks() {
    let known = benchmark_numbers();
    assert!(known.len() > 100, "docs/benchmark.md has its figures");
    let mut problems = Vec::new();
    for doc in all_docs() {
        if OWN_MEASUREMENTS.contains(&doc.path.as_str()) {
            continue;
        }
        for (start, text) in citing_units(&doc) {
            for line in text.lines() {
                let in_table = line.starts_with('|');
                for number in numbers_in(line) {
                    let whole_cell = in_table
                        && line
                            .split('|')
                            .any(|cell| cell.trim().trim_end_matches('x') == number.value);
                    let figure =
                        number.grouped || (number.decimals > 0 && (number.unit || whole_cell));
                    if figure && !matches_one(&number, &known) {
                        problems.push(format!(
                            "{}: {} is not a figure of docs/benchmark.md (as written or rounded)",
                            doc.at(start),
                            number.value
                        ));
                    }
                }
            }
        }
    }
    report("figures quoted from the benchmark", problems);
}

#[test]
fn the_figure_reader_reads_figures() {
    let numbers =
        numbers_in("29,477 req/s, 4.7, 3.0 and 3.5 times; actix-session 0.11.0 on 2026-11-29");
    let read: Vec<(&str, bool)> = numbers.iter().map(|n| (n.value.as_str(), n.unit)).collect();
    assert_eq!(
        read,
        [("29477", true), ("4.7", true), ("3.0", true), ("3.5", true)]
    );
    let known = [4.69, 2.97, 5865.0];
    let cite = |text: &str| numbers_in(text).remove(0);
    assert!(matches_one(&cite("4.7x"), &known));
    assert!(matches_one(&cite("3.0x"), &known));
    assert!(matches_one(&cite("5,900"), &known));
    assert!(!matches_one(&cite("4.8x"), &known));
}
