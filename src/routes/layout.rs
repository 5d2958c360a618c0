//! `Layout`: what `templates/base.html` needs on every page.

use sqlx::PgPool;

use crate::{cart, error::AppError, session::AppSession};

/// The data of the shared layout: navigation, cart count, flash message.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// The signed-in user's name, or `None` for a visitor.
    pub user: Option<String>,
    /// Items in the cart, shown in the navigation.
    pub cart_count: i64,
    /// The CSRF token for the layout's own form (logout), empty for visitors.
    pub csrf_token: String,
    /// A one-time message left by the previous request.
    pub flash: Option<String>,
    /// Which navigation item is the current page (`"home"`, `"cart"`, ...).
    pub current: &'static str,
}

impl Layout {
    /// The layout for a page of this session.
    ///
    /// Costs one query when the session has a cart (for the count), none
    /// otherwise. The query runs before anything in the session changes: if it
    /// fails, the page is a 503 and the session is left as it was.
    pub async fn for_page(
        session: &AppSession,
        pool: &PgPool,
        current: &'static str,
    ) -> Result<Self, AppError> {
        let cart_count = Self::cart_count(session, pool).await?;
        Ok(Self::new(session, current, cart_count, false))
    }

    /// The layout for a page with a form: like [`Layout::for_page`], and the
    /// session gets its CSRF token (created on first use) for the form.
    pub async fn for_form(
        session: &AppSession,
        pool: &PgPool,
        current: &'static str,
    ) -> Result<Self, AppError> {
        let cart_count = Self::cart_count(session, pool).await?;
        Ok(Self::new(session, current, cart_count, true))
    }

    async fn cart_count(session: &AppSession, pool: &PgPool) -> Result<i64, AppError> {
        Ok(match session.cart_id() {
            Some(cart_id) => cart::item_count(pool, &cart_id).await?,
            None => 0,
        })
    }

    /// The layout for a page that already knows the cart's item count.
    ///
    /// Call it after the page's queries: it may change the session (the flash
    /// message is taken, a CSRF token may be created).
    pub fn new(session: &AppSession, current: &'static str, cart_count: i64, form: bool) -> Self {
        let user = session.user().map(|user| user.username);
        // A form needs the token; so does the navigation's logout form when signed in.
        let csrf_token = if form || user.is_some() {
            session.csrf_token_or_create()
        } else {
            session.existing_csrf_token().unwrap_or_default()
        };
        Self {
            user,
            cart_count,
            csrf_token,
            flash: session.take_flash(),
            current,
        }
    }

    /// The layout with no session behind it (error pages).
    pub fn anonymous(current: &'static str) -> Self {
        Self {
            current,
            ..Self::default()
        }
    }
}
