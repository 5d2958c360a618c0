//! The shopping cart: its domain types and its SQL.
//!
//! Read `migrations/0003_cart.sql` first: it explains why cart lines live in
//! their own table, keyed by a cart id that the session holds, instead of in
//! the session itself. In short: actix-session writes a session back whole, so
//! two requests of one browser at the same time would each write their own
//! copy of a cart kept there, and one change would be lost. Here every change
//! is an atomic statement on `cart_lines`, and nothing is lost.

mod money;
mod quantity;

pub use money::Money;
pub use quantity::{InvalidQuantity, Quantity};

use sqlx::PgPool;

/// The most different products one cart may hold.
pub const MAX_LINES: i64 = 50;

/// A product of the catalogue.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Product {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// One sentence about it.
    pub description: String,
    /// Its price, in cents.
    pub price_cents: i64,
    /// The CSS class of its colour swatch.
    pub swatch: String,
}

/// One line of a cart, with its product's current name and price.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Line {
    /// The product's id.
    pub product_id: i64,
    /// The product's name.
    pub name: String,
    /// How many.
    pub quantity: i32,
    /// The unit price, in cents (from the catalogue, never from the client).
    pub price_cents: i64,
}

impl Line {
    /// Quantity times unit price.
    pub fn total(&self) -> Money {
        Money::from_cents(self.price_cents * i64::from(self.quantity))
    }
}

/// Why a cart change was refused; the message is shown on the cart page.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CartError {
    /// `product_id` is missing, not a number, or no such product exists.
    #[error("That product does not exist.")]
    UnknownProduct,
    /// The quantity is not acceptable here.
    #[error("{0}")]
    Quantity(InvalidQuantity),
    /// Adding would make one line hold more than 99.
    #[error("A cart holds at most 99 of one product.")]
    LineFull,
    /// Adding a new product to a cart that already has [`MAX_LINES`] lines.
    #[error("A cart holds at most {MAX_LINES} different products.")]
    TooManyLines,
    /// Updating a product that is not in the cart.
    #[error("That product is not in your cart.")]
    NotInCart,
}

/// A cart change that failed: refused (shown to the visitor) or the database failed.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// The change was refused; the cart is unchanged.
    #[error(transparent)]
    Refused(#[from] CartError),
    /// The database failed.
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

/// Parses a `product_id` field: digits only.
pub fn parse_product_id(text: Option<&str>) -> Result<i64, CartError> {
    text.filter(|t| !t.is_empty() && t.len() <= 18 && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse().ok())
        .ok_or(CartError::UnknownProduct)
}

/// The whole catalogue, in a stable order.
pub async fn products(pool: &PgPool) -> Result<Vec<Product>, sqlx::Error> {
    sqlx::query_as("SELECT id, name, description, price_cents, swatch FROM products ORDER BY id")
        .fetch_all(pool)
        .await
}

/// The lines of a cart, in the order they were added.
pub async fn lines(pool: &PgPool, cart_id: &str) -> Result<Vec<Line>, sqlx::Error> {
    sqlx::query_as(
        "SELECT l.product_id, p.name, l.quantity, p.price_cents
         FROM cart_lines l JOIN products p ON p.id = l.product_id
         WHERE l.cart_id = $1
         ORDER BY l.added_at, l.product_id",
    )
    .bind(cart_id)
    .fetch_all(pool)
    .await
}

/// Total number of items (the sum of quantities) in a cart: the navigation's count.
pub async fn item_count(pool: &PgPool, cart_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT coalesce(sum(quantity), 0)::bigint FROM cart_lines WHERE cart_id = $1",
    )
    .bind(cart_id)
    .fetch_one(pool)
    .await
}

async fn product_exists(pool: &PgPool, product_id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM products WHERE id = $1)")
        .bind(product_id)
        .fetch_one(pool)
        .await
}

/// Adds `quantity` of a product, in one transaction that holds the cart's row lock.
///
/// Twenty simultaneous adds of one product must end with twenty: the increment
/// happens inside PostgreSQL (`quantity = cart_lines.quantity + excluded.quantity`),
/// never as read-modify-write in Rust. The limits (99 per line, 50 lines) need a
/// consistent view of the cart, so the transaction first locks the cart's row:
/// concurrent changes of one cart queue there, and each then sees the others'
/// committed lines.
pub async fn add(
    pool: &PgPool,
    cart_id: &str,
    product_id: i64,
    quantity: Quantity,
) -> Result<(), ChangeError> {
    let mut tx = pool.begin().await?;
    // Creates the cart on its first line, and in every case locks its row
    // until the commit (ON CONFLICT DO UPDATE takes the row lock).
    sqlx::query(
        "INSERT INTO carts (id) VALUES ($1)
         ON CONFLICT (id) DO UPDATE SET orphaned_at = NULL",
    )
    .bind(cart_id)
    .execute(&mut *tx)
    .await?;
    // Under the lock, these numbers cannot change until we commit. The same
    // query checks that the product exists (a refusal rolls everything back).
    let (product_exists, lines, current): (bool, i64, Option<i32>) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM products WHERE id = $2),
                count(*), max(quantity) FILTER (WHERE product_id = $2)
         FROM cart_lines WHERE cart_id = $1",
    )
    .bind(cart_id)
    .bind(product_id)
    .fetch_one(&mut *tx)
    .await?;
    match current {
        _ if !product_exists => return Err(CartError::UnknownProduct.into()),
        None if lines >= MAX_LINES => return Err(CartError::TooManyLines.into()),
        Some(current) if current + quantity.get() > Quantity::MAX => {
            return Err(CartError::LineFull.into());
        }
        _ => {}
    }
    sqlx::query(
        "INSERT INTO cart_lines (cart_id, product_id, quantity) VALUES ($1, $2, $3)
         ON CONFLICT (cart_id, product_id)
         DO UPDATE SET quantity = cart_lines.quantity + excluded.quantity",
    )
    .bind(cart_id)
    .bind(product_id)
    .bind(quantity.get())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Sets a line's quantity; 0 removes the line.
pub async fn update(
    pool: &PgPool,
    cart_id: &str,
    product_id: i64,
    quantity: Quantity,
) -> Result<(), ChangeError> {
    // One statement either way: a plain UPDATE or DELETE of one row is atomic.
    let changed = if quantity.get() == 0 {
        sqlx::query("DELETE FROM cart_lines WHERE cart_id = $1 AND product_id = $2")
            .bind(cart_id)
            .bind(product_id)
            .execute(pool)
            .await?
    } else {
        sqlx::query("UPDATE cart_lines SET quantity = $3 WHERE cart_id = $1 AND product_id = $2")
            .bind(cart_id)
            .bind(product_id)
            .bind(quantity.get())
            .execute(pool)
            .await?
    };
    if changed.rows_affected() == 0 {
        // Only when nothing changed is it worth asking why.
        if !product_exists(pool, product_id).await? {
            return Err(CartError::UnknownProduct.into());
        }
        if quantity.get() != 0 {
            return Err(CartError::NotInCart.into());
        }
    }
    Ok(())
}

/// Removes a product's line (removing a product that is not there is fine).
pub async fn remove(pool: &PgPool, cart_id: &str, product_id: i64) -> Result<(), ChangeError> {
    let deleted = sqlx::query("DELETE FROM cart_lines WHERE cart_id = $1 AND product_id = $2")
        .bind(cart_id)
        .bind(product_id)
        .execute(pool)
        .await?
        .rows_affected();
    // Only when nothing was deleted is it worth asking whether the product exists.
    if deleted == 0 && !product_exists(pool, product_id).await? {
        return Err(CartError::UnknownProduct.into());
    }
    Ok(())
}

/// Removes every line of a cart.
pub async fn clear(pool: &PgPool, cart_id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM cart_lines WHERE cart_id = $1")
        .bind(cart_id)
        .execute(pool)
        .await?;
    Ok(())
}

/// Deletes a cart and its lines (at logout).
pub async fn delete(pool: &PgPool, cart_id: &str) -> Result<(), sqlx::Error> {
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
pub async fn prune_orphans(pool: &PgPool) -> Result<u64, sqlx::Error> {
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
