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

/// Deletes a cart and its lines (at logout).
pub async fn delete(pool: &sqlx::PgPool, cart_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM carts WHERE id = $1")
        .bind(cart_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Deletes the carts of ended sessions, in two passes a round apart.
///
/// A cart has no owner column: a session owns it by holding its id. When a
/// session ends, its cart is orphaned. But a cart is also briefly unowned while
/// its session signs in (actix-session renews the key by deleting the old row,
/// then inserting the new one). So one round only marks unowned carts
/// (`orphaned_at`), and a later round deletes those still unowned and marked
/// more than a minute ago; a cart owned again in between is unmarked.
pub async fn prune_orphans(pool: &sqlx::PgPool) -> Result<u64, sqlx::Error> {
    // Delete: marked in an earlier round, and still owned by no live session.
    let deleted = sqlx::query(
        "DELETE FROM carts
         WHERE orphaned_at < now() - interval '1 minute'
           AND NOT EXISTS (SELECT 1 FROM sessions s
                           WHERE s.cart_id = carts.id AND s.expires_at > now())",
    )
    .execute(pool)
    .await?
    .rows_affected();
    // Unmark: owned again (its session signed in while it was marked).
    sqlx::query(
        "UPDATE carts SET orphaned_at = NULL
         WHERE orphaned_at IS NOT NULL
           AND EXISTS (SELECT 1 FROM sessions s
                       WHERE s.cart_id = carts.id AND s.expires_at > now())",
    )
    .execute(pool)
    .await?;
    // Mark: owned by no live session right now.
    sqlx::query(
        "UPDATE carts SET orphaned_at = now()
         WHERE orphaned_at IS NULL
           AND NOT EXISTS (SELECT 1 FROM sessions s
                           WHERE s.cart_id = carts.id AND s.expires_at > now())",
    )
    .execute(pool)
    .await?;
    Ok(deleted)
}
