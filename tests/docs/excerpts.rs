//! Code blocks marked `<!-- from: path -->` are excerpts of that file.

use std::fs;

use crate::{all_docs, report, root};

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
    for doc in all_docs() {
        let lines: Vec<&str> = doc.lines().collect();
        for (number, line) in lines.iter().enumerate() {
            let Some(source) = line
                .trim()
                .strip_prefix("<!-- from:")
                .and_then(|rest| rest.strip_suffix("-->"))
                .map(str::trim)
            else {
                continue;
            };
            let at = doc.at_line(number);
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
            let text = fs::read_to_string(root().join(source))
                .or_else(|_| fs::read_to_string(root().join(&doc.base).join(source)));
            let Ok(text) = text else {
                problems.push(format!("{at}: `{source}` does not exist"));
                continue;
            };
            excerpts += 1;
            let file = squeeze(&text);
            // Each piece between `...` lines must appear, in order.
            let mut from = 0;
            let mut piece: Vec<(usize, &str)> = Vec::new();
            let block: Vec<(usize, &str)> = (fence + 1..close)
                .map(|i| (i, lines[i]))
                .chain([(close, "...")])
                .collect();
            for (index, code) in block {
                if !is_elision(code) {
                    piece.push((index, code));
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
                            "{}: this line of the excerpt marked at {at} is not in `{source}` \
                             (or not in this order): {}",
                            doc.at_line(culprit.0),
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
