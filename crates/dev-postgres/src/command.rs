//! Running the PostgreSQL commands and turning their failures into errors
//! that show what went wrong.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::{Command, Output};

use crate::error::{Error, Result, io_error};

/// How many lines of a failed command's output end up in the error.
pub(crate) const TAIL_LINES: usize = 20;

/// Runs a command to completion and turns a non-zero exit into [`Error::Failed`].
pub(crate) async fn run(command: Command) -> Result<Output> {
    let description = describe(&command);
    let output = tokio::process::Command::from(command)
        .output()
        .await
        .map_err(io_error(format!("running {description}")))?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(command_failed(&description, &output))
    }
}

/// The command line, for error messages.
fn describe(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| part.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The error for a failed command: its command line, exit status and the tail of its output.
fn command_failed(description: &str, output: &Output) -> Error {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let text = if stderr.trim().is_empty() {
        String::from_utf8_lossy(&output.stdout)
    } else {
        stderr
    };
    Error::Failed(format!(
        "`{description}` failed ({}):\n{}",
        output.status,
        tail(&text, TAIL_LINES)
    ))
}

/// The last `lines` lines of `text`.
pub(crate) fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// The size of a file, or 0 when it cannot be read.
pub(crate) fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |metadata| metadata.len())
}

/// What a file holds from byte `offset` on, or nothing when it cannot be read.
pub(crate) fn read_from(path: &Path, offset: u64) -> String {
    let mut bytes = Vec::new();
    let read = File::open(path).and_then(|mut file| {
        file.seek(SeekFrom::Start(offset))?;
        file.read_to_end(&mut bytes)
    });
    match read {
        Ok(_) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(_) => String::new(),
    }
}

/// Quotes `text` for `/bin/sh`, which `pg_ctl` uses to start the server.
pub(crate) fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_lines_and_quotes_for_the_shell() {
        assert_eq!(tail("a\nb\nc\n", 2), "b\nc");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }
}
