//! The shopping cart: its domain types and its SQL.
//!
//! Read `migrations/0003_cart.sql` first: it explains why cart lines live in
//! their own table, keyed by a cart id that the session holds.

/// Total number of items (the sum of quantities) in a cart: the navigation's count.
pub async fn item_count(pool: &sqlx::PgPool, cart_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT coalesce(sum(quantity), 0)::bigint FROM cart_lines WHERE cart_id = $1",
    )
    .bind(cart_id)
    .fetch_one(pool)
    .await
}
