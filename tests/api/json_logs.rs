//! `LOG_FORMAT=json`: the real binary writes every log line as one JSON
//! object, and the lines of a request carry its id; the access line names the
//! client that `TRUSTED_PROXIES` identifies, not the proxy.

use std::time::Duration;

use serde_json::Value;

use crate::support::{Browser, TEST_SECRET, fresh_database_url, start_binary};

#[tokio::test]
async fn every_line_is_json_and_a_request_s_lines_carry_its_id() {
    let url = fresh_database_url().await;
    let mut binary = start_binary(&[
        ("DATABASE_URL", &url),
        ("SESSION_SECRET", TEST_SECRET),
        ("BIND_ADDR", "127.0.0.1:0"),
        ("RUST_LOG", "info"),
        ("LOG_FORMAT", "json"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ]);
    let browser = Browser::new(&binary.address);
    // As nginx would send it: the visitor's address appended, and its id.
    let response = browser
        .client
        .get(format!("{}/cart/add", binary.address))
        .header("x-forwarded-for", "198.51.100.1, 203.0.113.7")
        .header("x-request-id", "from-nginx-1")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 405);
    let id = browser
        .client
        .get(format!("{}/no/such/page", binary.address))
        .send()
        .await
        .expect("sent")
        .headers()["x-request-id"]
        .to_str()
        .expect("text")
        .to_owned();

    // A 500: its ERROR line carries the same id as the response.
    {
        use sqlx::Connection;
        let mut db = sqlx::PgConnection::connect(&url).await.expect("db");
        sqlx::query("ALTER TABLE products RENAME COLUMN price_cents TO renamed_price")
            .execute(&mut db)
            .await
            .expect("renamed");
    }
    let failed = browser.get("/cart").await;
    assert_eq!(failed.status(), 500);
    let failed_id = failed.headers()["x-request-id"]
        .to_str()
        .expect("text")
        .to_owned();

    assert!(binary.terminate(), "exit 0");
    let lines = binary.collect(Duration::from_millis(200)).to_vec();
    let records: Vec<Value> = lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    for record in &records {
        for field in ["time", "level", "target", "message"] {
            assert!(record[field].is_string(), "{field} in {record}");
        }
    }
    assert!(
        records.iter().any(|r| r["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("listening on"))),
        "{lines:#?}"
    );

    let access = |request_id: &str| {
        records
            .iter()
            .find(|r| r["target"] == "access" && r["request_id"] == request_id)
            .unwrap_or_else(|| panic!("an access line for {request_id}: {lines:#?}"))
            .clone()
    };
    let proxied = access("from-nginx-1");
    assert_eq!(proxied["method"], "GET");
    assert_eq!(proxied["route"], "/cart/add", "the template, not the path");
    assert_eq!(proxied["status"], 405);
    assert_eq!(proxied["client_address"], "203.0.113.7", "not the proxy's");
    assert!(proxied["duration_ms"].as_f64().is_some_and(|ms| ms >= 0.0));

    let unmatched = access(&id);
    assert_eq!(unmatched["status"], 404);
    assert_eq!(unmatched["route"], "", "no route: never the raw path");
    assert_eq!(unmatched["client_address"], "127.0.0.1");

    let error = records
        .iter()
        .find(|r| r["level"] == "ERROR")
        .unwrap_or_else(|| panic!("the 500's ERROR line: {lines:#?}"));
    assert_eq!(error["request_id"], failed_id.as_str(), "{error}");
    assert!(
        error["message"]
            .as_str()
            .is_some_and(|m| m.contains("renamed_price") || m.contains("price_cents")),
        "{error}"
    );
    assert_eq!(access(&failed_id)["route"], "/cart");
}
