//! The cart: pages, every change, every kind of bad input, and no lost updates.

use std::collections::BTreeMap;

use futures_util::future::join_all;
use reqwest::StatusCode;

use crate::support::{
    TestApp, assert_redirect_to, attribute_values, cart_lines, spawn_app, spawn_app_from,
};

fn total_cents(html: &str) -> i64 {
    attribute_values(html, "data-total-cents")[0]
        .parse()
        .expect("cents")
}

fn nav_count(html: &str) -> i64 {
    attribute_values(html, "data-cart-count")[0]
        .parse()
        .expect("count")
}

/// Product id -> price in cents, from the product list.
fn prices(html: &str) -> BTreeMap<i64, i64> {
    html.split("class=\"product\"")
        .skip(1)
        .map(|item| {
            let id = attribute_values(item, "data-product-id")[0]
                .parse()
                .expect("id");
            let cents = attribute_values(item, "data-price-cents")[0]
                .parse()
                .expect("cents");
            (id, cents)
        })
        .collect()
}

impl TestApp {
    async fn cart_form(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let token = self.csrf_from("/cart").await;
        let mut form = fields.to_vec();
        form.push(("csrf_token", &token));
        self.post(path, &form).await
    }

    async fn add_to_cart(&self, product: i64, quantity: i64) -> reqwest::Response {
        let (p, q) = (product.to_string(), quantity.to_string());
        self.cart_form("/cart/add", &[("product_id", &p), ("quantity", &q)])
            .await
    }
}

#[tokio::test]
async fn the_cart_page_lists_products_from_the_database_and_an_empty_cart() {
    let app = spawn_app().await;
    let page = app.get_html("/cart").await;
    let prices = prices(&page);
    assert_eq!(prices.len(), 12, "a dozen products");
    assert_eq!(prices[&1], 1450);
    assert!(cart_lines(&page).is_empty());
    assert_eq!(total_cents(&page), 0);
    assert_eq!(nav_count(&page), 0);
    assert!(page.contains("Your cart is empty."));
}

#[tokio::test]
async fn add_update_remove_and_clear() {
    let app = spawn_app().await;
    let page = app.get_html("/cart").await;
    let prices = prices(&page);

    assert_redirect_to(&app.add_to_cart(1, 2).await, "/cart");
    assert_redirect_to(&app.add_to_cart(3, 1).await, "/cart");
    assert_redirect_to(&app.add_to_cart(1, 1).await, "/cart");
    // `quantity` defaults to 1.
    assert_redirect_to(
        &app.cart_form("/cart/add", &[("product_id", "5")]).await,
        "/cart",
    );
    let page = app.get_html("/cart").await;
    assert_eq!(cart_lines(&page), BTreeMap::from([(1, 3), (3, 1), (5, 1)]));
    assert_eq!(total_cents(&page), 3 * prices[&1] + prices[&3] + prices[&5]);
    assert_eq!(nav_count(&page), 5);
    assert_eq!(
        nav_count(&app.get_html("/").await),
        5,
        "the count on every page"
    );

    let update = app
        .cart_form("/cart/update", &[("product_id", "3"), ("quantity", "7")])
        .await;
    assert_redirect_to(&update, "/cart");
    let zero = app
        .cart_form("/cart/update", &[("product_id", "5"), ("quantity", "0")])
        .await;
    assert_redirect_to(&zero, "/cart");
    let page = app.get_html("/cart").await;
    assert_eq!(cart_lines(&page), BTreeMap::from([(1, 3), (3, 7)]));

    assert_redirect_to(
        &app.cart_form("/cart/remove", &[("product_id", "1")]).await,
        "/cart",
    );
    assert_eq!(
        cart_lines(&app.get_html("/cart").await),
        BTreeMap::from([(3, 7)])
    );

    assert_redirect_to(&app.cart_form("/cart/clear", &[]).await, "/cart");
    let page = app.get_html("/cart").await;
    assert!(cart_lines(&page).is_empty());
    assert_eq!(total_cents(&page), 0);
}

#[tokio::test]
async fn the_price_always_comes_from_the_database() {
    let app = spawn_app().await;
    let response = app
        .cart_form(
            "/cart/add",
            &[
                ("product_id", "9"),
                ("quantity", "1"),
                ("price_cents", "1"),
                ("price", "0.01"),
            ],
        )
        .await;
    assert_redirect_to(&response, "/cart");
    assert_eq!(total_cents(&app.get_html("/cart").await), 8900);
}

#[tokio::test]
async fn every_kind_of_bad_input_is_422_and_leaves_the_cart_unchanged() {
    let app = spawn_app().await;
    app.add_to_cart(2, 4).await;
    let before = app.get_html("/cart").await;

    // (route, form fields, expected message)
    type Case = (
        &'static str,
        Vec<(&'static str, &'static str)>,
        &'static str,
    );
    let cases: Vec<Case> = vec![
        (
            "/cart/add",
            vec![("product_id", "1"), ("quantity", "-1")],
            "1 to 99",
        ),
        (
            "/cart/add",
            vec![("product_id", "1"), ("quantity", "0")],
            "1 to 99",
        ),
        (
            "/cart/add",
            vec![("product_id", "1"), ("quantity", "100")],
            "1 to 99",
        ),
        (
            "/cart/add",
            vec![("product_id", "1"), ("quantity", "abc")],
            "1 to 99",
        ),
        (
            "/cart/add",
            vec![("product_id", "1"), ("quantity", "1.5")],
            "1 to 99",
        ),
        (
            "/cart/add",
            vec![("product_id", "1"), ("quantity", "99999999999999999999")],
            "1 to 99",
        ),
        (
            "/cart/add",
            vec![("product_id", "1"), ("quantity", "")],
            "1 to 99",
        ),
        (
            "/cart/add",
            vec![("product_id", "1"), ("quantity", " 1")],
            "1 to 99",
        ),
        ("/cart/add", vec![("quantity", "1")], "does not exist"),
        (
            "/cart/add",
            vec![("product_id", ""), ("quantity", "1")],
            "does not exist",
        ),
        (
            "/cart/add",
            vec![("product_id", "abc"), ("quantity", "1")],
            "does not exist",
        ),
        (
            "/cart/add",
            vec![("product_id", "999999"), ("quantity", "1")],
            "does not exist",
        ),
        (
            "/cart/add",
            vec![("product_id", "-2"), ("quantity", "1")],
            "does not exist",
        ),
        (
            "/cart/add",
            vec![("product_id", "99999999999999999999999"), ("quantity", "1")],
            "does not exist",
        ),
        (
            "/cart/add",
            vec![("product_id", "2"), ("quantity", "96")],
            "at most 99",
        ),
        (
            "/cart/update",
            vec![("product_id", "2"), ("quantity", "100")],
            "0 to 99",
        ),
        (
            "/cart/update",
            vec![("product_id", "2"), ("quantity", "-3")],
            "0 to 99",
        ),
        ("/cart/update", vec![("product_id", "2")], "0 to 99"),
        (
            "/cart/update",
            vec![("product_id", "7"), ("quantity", "3")],
            "not in your cart",
        ),
        (
            "/cart/update",
            vec![("product_id", "0"), ("quantity", "3")],
            "does not exist",
        ),
        ("/cart/remove", vec![("product_id", "x1")], "does not exist"),
        ("/cart/remove", vec![], "does not exist"),
    ];
    for (path, fields, message) in cases {
        let response = app.cart_form(path, &fields).await;
        assert_eq!(
            response.status(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path} {fields:?}"
        );
        let page = response.text().await.expect("body");
        assert!(page.contains("class=\"error"), "{path} {fields:?}");
        assert!(
            page.contains(message),
            "{path} {fields:?}: expected {message:?}"
        );
        assert_eq!(
            cart_lines(&page),
            cart_lines(&before),
            "unchanged: {fields:?}"
        );
    }
    assert_eq!(
        cart_lines(&app.get_html("/cart").await),
        BTreeMap::from([(2, 4)])
    );
}

#[tokio::test]
async fn a_cart_holds_at_most_fifty_lines() {
    let app = spawn_app().await;
    sqlx::query(
        "INSERT INTO products (name, description, price_cents, swatch)
         SELECT 'Extra ' || i, 'More stock', 100, 'swatch-sand' FROM generate_series(1, 40) i",
    )
    .execute(&app.pool)
    .await
    .expect("more products");
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM products ORDER BY id LIMIT 51")
        .fetch_all(&app.pool)
        .await
        .expect("ids");
    for id in &ids[..50] {
        assert_redirect_to(&app.add_to_cart(*id, 1).await, "/cart");
    }
    let response = app.add_to_cart(ids[50], 1).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(response.text().await.expect("body").contains("at most 50"));
    // More of a product already in the cart is still fine.
    assert_redirect_to(&app.add_to_cart(ids[0], 1).await, "/cart");
    assert_eq!(cart_lines(&app.get_html("/cart").await).len(), 50);
}

#[tokio::test]
async fn twenty_simultaneous_adds_lose_nothing() {
    let app = spawn_app().await;
    let token = app.csrf_from("/cart").await;
    let form = [
        ("csrf_token", token.as_str()),
        ("product_id", "4"),
        ("quantity", "1"),
    ];
    let adds = (0..20).map(|_| app.post("/cart/add", &form));
    for response in join_all(adds).await {
        assert_redirect_to(&response, "/cart");
    }
    assert_eq!(
        cart_lines(&app.get_html("/cart").await),
        BTreeMap::from([(4, 20)])
    );
}

#[tokio::test]
async fn twenty_simultaneous_adds_over_two_instances_lose_nothing() {
    let first = spawn_app().await;
    let second = spawn_app_from(first.settings.clone()).await;
    // A browser that has only seen the cart page: no session yet, its token
    // (and cart id) in the pre-session cookie, which both processes read.
    let token = first.csrf_from("/cart").await;
    assert!(first.session_cookie().is_none(), "no session yet");
    let browser = first.browser.at(&second.address);
    let form = [
        ("csrf_token", token.as_str()),
        ("product_id", "6"),
        ("quantity", "1"),
    ];
    let adds = (0..20).map(|i| {
        let (app, client) = if i % 2 == 0 {
            (&first, &first.browser)
        } else {
            (&second, &browser)
        };
        app.post_with(client, "/cart/add", &form)
    });
    for response in join_all(adds).await {
        assert_redirect_to(&response, "/cart");
    }
    assert_eq!(
        cart_lines(&first.get_html("/cart").await),
        BTreeMap::from([(6, 20)])
    );
}

#[tokio::test]
async fn the_cart_survives_a_restart_and_signing_in_and_is_cleared_by_logout() {
    let app = spawn_app().await;
    app.register("mia", "correct horse battery").await;
    app.logout().await;

    app.add_to_cart(8, 2).await;
    let cookie = app.session_cookie().expect("a cookie");
    let settings = app.settings.clone();
    app.stop().await;

    let app = spawn_app_from(settings).await;
    let browser = app.browser_with_cookie(&cookie);
    let page = app
        .get_with(&browser, "/cart")
        .await
        .text()
        .await
        .expect("body");
    assert_eq!(
        cart_lines(&page),
        BTreeMap::from([(8, 2)]),
        "after a restart"
    );

    // Sign in with that browser: the cart comes along.
    let token = crate::support::csrf_token(&page);
    let response = app
        .post_with(
            &browser,
            "/login",
            &[
                ("csrf_token", &token),
                ("username", "mia"),
                ("password", "correct horse battery"),
            ],
        )
        .await;
    assert_redirect_to(&response, "/account");
    let page = app
        .get_with(&browser, "/cart")
        .await
        .text()
        .await
        .expect("body");
    assert_eq!(
        cart_lines(&page),
        BTreeMap::from([(8, 2)]),
        "after signing in"
    );

    let token = crate::support::csrf_token(&page);
    assert_redirect_to(
        &app.post_with(&browser, "/logout", &[("csrf_token", &token)])
            .await,
        "/",
    );
    let page = app
        .get_with(&browser, "/cart")
        .await
        .text()
        .await
        .expect("body");
    assert!(cart_lines(&page).is_empty(), "logout empties the cart");
    let lines: i64 = sqlx::query_scalar("SELECT count(*) FROM cart_lines")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(lines, 0, "and deletes its lines");
}

#[tokio::test]
async fn carts_of_ended_sessions_are_pruned() {
    let app = spawn_app().await;
    app.add_to_cart(1, 1).await;
    let other = app.new_browser();
    let page = other.get("/cart").await.text().await.expect("body");
    let token = crate::support::csrf_token(&page);
    other
        .post("/cart/add", &[("csrf_token", &token), ("product_id", "2")])
        .await;
    // The first browser's session expires.
    sqlx::query(
        "UPDATE sessions SET expires_at = now() - interval '1 second'
                 WHERE cart_id = (SELECT cart_id FROM cart_lines WHERE product_id = 1)",
    )
    .execute(&app.pool)
    .await
    .expect("expire");

    session_demo::housekeeping::run_once(&app.pool, &actix_session_postgres::observe::NoObserver)
        .await; // marks the orphan
    sqlx::query("UPDATE carts SET orphaned_at = orphaned_at - interval '2 minutes'")
        .execute(&app.pool)
        .await
        .expect("time passes");
    session_demo::housekeeping::run_once(&app.pool, &actix_session_postgres::observe::NoObserver)
        .await; // deletes it
    let left: Vec<i64> = sqlx::query_scalar("SELECT product_id FROM cart_lines")
        .fetch_all(&app.pool)
        .await
        .expect("lines");
    assert_eq!(left, vec![2], "only the live session's cart is left");
}

#[tokio::test]
async fn a_form_body_over_16_kib_is_413() {
    let app = spawn_app().await;
    app.register("nora", "correct horse battery").await; // signed in: /account/* too
    let token = app.csrf_from("/cart").await;
    let big = "x".repeat(17 * 1024);
    for path in [
        "/cart/add",
        "/login",
        "/register",
        "/logout",
        "/account/password",
    ] {
        let response = app
            .post(
                path,
                &[
                    ("csrf_token", token.as_str()),
                    ("product_id", "1"),
                    ("padding", &big),
                ],
            )
            .await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE, "{path}");
    }
    assert!(cart_lines(&app.get_html("/cart").await).is_empty());
}
