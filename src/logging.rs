//! The log: env_logger with a format of our own, text or JSON (`LOG_FORMAT`).
//!
//! Every line written while a request is served carries that request's id
//! (`middleware/request_id.rs`): the same id its response carries in
//! `X-Request-Id`, and nginx's log too.
//!
//! - `text` (the default), for people:
//!   `[2025-01-02T03:04:05.678Z INFO  access request_id=4bf9…] 127.0.0.1 "GET / HTTP/1.1" 200 1.234ms`
//! - `json`, one object per line, for log collectors: `time`, `level`,
//!   `target`, `message`, `request_id` (inside a request), and the record's
//!   own fields; the access log's lines add `method`, `route`, `status`,
//!   `duration_ms` and `client_address`.

use std::io::Write;

use env_logger::fmt::Formatter;
use log::{
    Record,
    kv::{Key, Value, VisitSource},
};
use serde_json::{Map, Value as Json};

use crate::{config::LogFormat, middleware::request_id};

/// Installs the logger for the process: `filter` is `RUST_LOG`'s syntax.
pub fn init(format: LogFormat, filter: &str) {
    let mut builder = env_logger::Builder::new();
    builder.parse_filters(filter);
    match format {
        LogFormat::Text => builder.format(write_text),
        LogFormat::Json => builder.format(write_json),
    };
    builder.init();
}

/// `[time LEVEL target request_id=ID] message`: env_logger's own shape, plus the id.
fn write_text(buf: &mut Formatter, record: &Record) -> std::io::Result<()> {
    let time = buf.timestamp_millis();
    request_id::with_current(|id| {
        let id = id.map(|id| format!(" request_id={id}")).unwrap_or_default();
        writeln!(
            buf,
            "[{time} {:<5} {}{id}] {}",
            record.level(),
            record.target(),
            record.args()
        )
    })
}

/// One JSON object per line.
fn write_json(buf: &mut Formatter, record: &Record) -> std::io::Result<()> {
    let line = json_line(&buf.timestamp_millis().to_string(), record);
    serde_json::to_writer(&mut *buf, &line)?;
    writeln!(buf)
}

/// The JSON object for `record`, written at `time`.
fn json_line(time: &str, record: &Record) -> Json {
    let mut line = Map::new();
    line.insert("time".into(), time.into());
    line.insert("level".into(), record.level().as_str().into());
    line.insert("target".into(), record.target().into());
    line.insert("message".into(), record.args().to_string().into());
    request_id::with_current(|id| {
        if let Some(id) = id {
            line.insert("request_id".into(), id.into());
        }
    });
    let mut fields = Fields(&mut line);
    // Visiting a record's own fields cannot fail: `Fields` never refuses one.
    let _ = record.key_values().visit(&mut fields);
    Json::Object(line)
}

/// Copies a record's key-values into the JSON object, numbers as numbers.
struct Fields<'a>(&'a mut Map<String, Json>);

impl<'kvs> VisitSource<'kvs> for Fields<'_> {
    fn visit_pair(&mut self, key: Key<'kvs>, value: Value<'kvs>) -> Result<(), log::kv::Error> {
        let value = if let Some(n) = value.to_u64() {
            Json::from(n)
        } else if let Some(n) = value.to_i64() {
            Json::from(n)
        } else if let Some(n) = value.to_f64() {
            Json::from(n)
        } else {
            Json::from(value.to_string())
        };
        self.0.insert(key.as_str().to_owned(), value);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_becomes_one_json_object_with_its_fields() {
        let kvs: &[(&str, Value)] = &[
            ("status", Value::from(503u16)),
            ("duration_ms", Value::from(1.5f64)),
            ("route", Value::from("/cart")),
        ];
        let line = json_line(
            "2025-01-02T03:04:05.678Z",
            &Record::builder()
                .args(format_args!("a \"quoted\"\nline"))
                .level(log::Level::Warn)
                .target("access")
                .key_values(&kvs)
                .build(),
        );
        let text = serde_json::to_string(&line).expect("serialises");
        assert!(!text.contains('\n'), "one line: {text}");
        let parsed: Json = serde_json::from_str(&text).expect("parses");
        assert_eq!(parsed["level"], "WARN");
        assert_eq!(parsed["target"], "access");
        assert_eq!(parsed["message"], "a \"quoted\"\nline");
        assert_eq!(parsed["status"], 503);
        assert_eq!(parsed["duration_ms"], 1.5);
        assert_eq!(parsed["route"], "/cart");
        assert_eq!(parsed.get("request_id"), None, "outside a request");
    }
}
