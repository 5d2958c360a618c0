//! `/cart`: the product list, the cart, and the four forms that change it.
//!
//! Every change is a POST that answers `303 See Other` back to `/cart`, or, when
//! the input is refused, `422` with the cart page and a message; a refused
//! change never touches the cart.

use actix_web::{HttpResponse, http::StatusCode, web};
use askama::Template;
use serde::Deserialize;
use sqlx::PgPool;

use crate::{
    cart::{self, CartError, ChangeError, Money, Quantity},
    error::AppError,
    forms::CsrfForm,
    routes::{layout::Layout, render, see_other},
    session::AppSession,
};

/// The cart page: `templates/cart.html`.
#[derive(Template)]
#[template(path = "cart.html")]
pub(crate) struct CartPage {
    /// The shared layout.
    pub layout: Layout,
    /// The catalogue.
    pub products: Vec<ProductView>,
    /// The cart's lines.
    pub lines: Vec<LineView>,
    /// The total, formatted.
    pub total: String,
    /// The total in cents (for tests and scripts: `data-total-cents`).
    pub total_cents: i64,
    /// Why the last change was refused.
    pub error: Option<String>,
}

/// A product as the page shows it.
pub(crate) struct ProductView {
    /// Its id.
    pub id: i64,
    /// Its name.
    pub name: String,
    /// One sentence about it.
    pub description: String,
    /// Its price, formatted.
    pub price: String,
    /// Its price in cents.
    pub price_cents: i64,
    /// Its swatch's CSS class.
    pub swatch: String,
}

/// A cart line as the page shows it.
pub(crate) struct LineView {
    /// The product's id.
    pub product_id: i64,
    /// The product's name.
    pub name: String,
    /// How many.
    pub quantity: i64,
    /// The unit price, formatted.
    pub unit_price: String,
    /// Quantity times price, formatted.
    pub line_total: String,
}

/// The fields of the cart forms (all optional text: checked by the domain types).
#[derive(Deserialize)]
pub(crate) struct CartForm {
    product_id: Option<String>,
    quantity: Option<String>,
}

/// Shows the catalogue and the cart.
pub(crate) async fn show(
    session: AppSession,
    pool: web::Data<PgPool>,
) -> Result<HttpResponse, AppError> {
    page(&session, &pool, StatusCode::OK, None).await
}

/// Adds a product (`quantity` defaults to 1). The session now holds the cart
/// id, so a browser without a session gets one here.
pub(crate) async fn add(
    CsrfForm(form): CsrfForm<CartForm>,
    session: AppSession,
    pool: web::Data<PgPool>,
) -> Result<HttpResponse, AppError> {
    let change = async {
        let product_id = cart::parse_product_id(form.product_id.as_deref())?;
        let quantity = Quantity::to_add(form.quantity.as_deref()).map_err(CartError::Quantity)?;
        cart::add(&pool, &session.cart_id_or_create(), product_id, quantity).await
    };
    respond(change.await, &session, &pool).await
}

/// Sets a line's quantity (0 removes it).
pub(crate) async fn update(
    CsrfForm(form): CsrfForm<CartForm>,
    session: AppSession,
    pool: web::Data<PgPool>,
) -> Result<HttpResponse, AppError> {
    let change = async {
        let product_id = cart::parse_product_id(form.product_id.as_deref())?;
        let quantity = Quantity::to_set(form.quantity.as_deref()).map_err(CartError::Quantity)?;
        cart::update(&pool, &existing_cart(&session), product_id, quantity).await
    };
    respond(change.await, &session, &pool).await
}

/// Removes a line.
pub(crate) async fn remove(
    CsrfForm(form): CsrfForm<CartForm>,
    session: AppSession,
    pool: web::Data<PgPool>,
) -> Result<HttpResponse, AppError> {
    let change = async {
        let product_id = cart::parse_product_id(form.product_id.as_deref())?;
        cart::remove(&pool, &existing_cart(&session), product_id).await
    };
    respond(change.await, &session, &pool).await
}

/// Empties the cart.
pub(crate) async fn clear(
    _form: CsrfForm<serde::de::IgnoredAny>,
    session: AppSession,
    pool: web::Data<PgPool>,
) -> Result<HttpResponse, AppError> {
    cart::clear(&pool, &existing_cart(&session)).await?;
    Ok(see_other("/cart"))
}

/// The cart a change that only shrinks it works on: the browser's, which it
/// has since its first form, or none (an empty id, which no line belongs to).
/// Unlike adding, these never store a cart id in the session, so they never
/// create a session either.
fn existing_cart(session: &AppSession) -> String {
    session.cart_id().unwrap_or_default()
}

/// `303` back to the cart after a change, `422` with the message after a refusal.
async fn respond(
    outcome: Result<(), ChangeError>,
    session: &AppSession,
    pool: &PgPool,
) -> Result<HttpResponse, AppError> {
    match outcome {
        Ok(()) => Ok(see_other("/cart")),
        Err(ChangeError::Refused(reason)) => {
            page(
                session,
                pool,
                StatusCode::UNPROCESSABLE_ENTITY,
                Some(reason.to_string()),
            )
            .await
        }
        Err(ChangeError::Database(error)) => Err(error.into()),
    }
}

async fn page(
    session: &AppSession,
    pool: &PgPool,
    status: StatusCode,
    error: Option<String>,
) -> Result<HttpResponse, AppError> {
    // Queries first: if one fails, the session is left untouched.
    let products = cart::products(pool).await?;
    let lines = match session.cart_id() {
        Some(cart_id) => cart::lines(pool, &cart_id).await?,
        None => Vec::new(),
    };
    let total: Money = lines.iter().map(cart::Line::total).sum();
    let count = lines.iter().map(|line| i64::from(line.quantity)).sum();
    let page = CartPage {
        layout: Layout::new(session, "cart", count, true),
        products: products
            .into_iter()
            .map(|p| ProductView {
                price: Money::from_cents(p.price_cents).to_string(),
                id: p.id,
                name: p.name,
                description: p.description,
                price_cents: p.price_cents,
                swatch: p.swatch,
            })
            .collect(),
        lines: lines
            .iter()
            .map(|line| LineView {
                product_id: line.product_id,
                name: line.name.clone(),
                quantity: i64::from(line.quantity),
                unit_price: Money::from_cents(line.price_cents).to_string(),
                line_total: line.total().to_string(),
            })
            .collect(),
        total: total.to_string(),
        total_cents: total.cents(),
        error,
    };
    render(status, &page)
}
