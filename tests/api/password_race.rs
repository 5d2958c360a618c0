//! A login racing a password change does not outlive it: once the change has
//! answered, no session signed in with the old password is left.

use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::future::join_all;
use reqwest::StatusCode;
use session_demo::auth::throttle::AddressLimit;

use crate::support::{Browser, assert_redirect_to, spawn_app_with};

/// Password changes, each raced by logins with the password it replaces.
const TRIES: usize = 20;
/// Browsers logging in back to back with the old password during each change.
const RACERS: usize = 3;

#[tokio::test]
async fn a_login_racing_a_password_change_does_not_outlive_it() {
    let app = spawn_app_with(|s| {
        s.address_limit = AddressLimit {
            burst: 100_000,
            refill_every: std::time::Duration::from_millis(1),
        }
    })
    .await;
    let mut old = "the first passphrase".to_owned();
    assert_redirect_to(&app.register("rachel", &old).await, "/account");

    let (mut raced_logins, mut failed_rounds, mut busy_changes) = (0, Vec::new(), 0);
    let mut round = 0;
    while round < TRIES {
        let new = format!("passphrase number {round}");
        let token = app.csrf_from("/account/password").await;
        let changed = AtomicBool::new(false);
        // Logins with the old password, back to back, until the change answers:
        // they start at every point of the change, not at one chosen moment.
        let racers = (0..RACERS).map(|_| async {
            let mut signed_in: Vec<Browser> = Vec::new();
            while !changed.load(Ordering::SeqCst) {
                let browser = app.new_browser();
                let response = browser.login("rachel", &old).await;
                match response.status() {
                    StatusCode::SEE_OTHER => signed_in.push(browser),
                    // Refused, or every hashing slot busy (a loaded machine):
                    // either way not signed in.
                    StatusCode::UNAUTHORIZED | StatusCode::SERVICE_UNAVAILABLE => {}
                    other => panic!("login: {other}"),
                }
            }
            signed_in
        });
        let change = async {
            let response = app
                .post(
                    "/account/password",
                    &[
                        ("csrf_token", &token),
                        ("current_password", &old),
                        ("new_password", &new),
                        ("new_password_confirm", &new),
                    ],
                )
                .await;
            changed.store(true, Ordering::SeqCst);
            response
        };
        let (response, signed_in) = futures_util::join!(change, join_all(racers));
        if response.status() == StatusCode::SERVICE_UNAVAILABLE {
            // Every hashing slot stayed busy: the password did not change, so
            // the racers' sessions are rightly valid. Run the round again.
            busy_changes += 1;
            assert!(busy_changes <= TRIES, "the password form stays busy");
            continue;
        }
        assert_redirect_to(&response, "/account");

        // Every browser that signed in with the old password is signed out now.
        let mut survived = 0;
        for browser in signed_in.iter().flatten() {
            raced_logins += 1;
            let response = browser.get("/account").await;
            if response.status() != StatusCode::SEE_OTHER {
                survived += 1;
            }
        }
        // And the owner's account lists its own session only.
        let sessions: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE u.username = 'rachel' AND s.expires_at > now()",
        )
        .fetch_one(&app.pool)
        .await
        .expect("count");
        if survived > 0 || sessions != 1 {
            failed_rounds.push((round, survived, sessions));
        }
        // Logins that lost the race failed; do not let them lock the name.
        sqlx::query("DELETE FROM login_failures")
            .execute(&app.pool)
            .await
            .expect("forget failures");
        old = new;
        round += 1;
    }
    // The race was run: logins with the old password did succeed during changes.
    assert!(raced_logins > 0);
    assert!(
        failed_rounds.is_empty(),
        "{} of {TRIES} password changes left sessions signed in with the old password \
         (round, signed-in browsers, owner's sessions listed): {failed_rounds:?}",
        failed_rounds.len()
    );
}
