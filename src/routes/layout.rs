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
    /// Costs one query when the session has a cart (for the count), none otherwise.
    pub async fn for_session(
        session: &AppSession,
        pool: &PgPool,
        current: &'static str,
    ) -> Result<Self, AppError> {
        let cart_count = match session.cart_id() {
            Some(cart_id) => cart::item_count(pool, &cart_id).await?,
            None => 0,
        };
        Ok(Self::with_cart_count(session, current, cart_count))
    }

    /// The layout for a page that already knows the cart's item count.
    pub fn with_cart_count(session: &AppSession, current: &'static str, cart_count: i64) -> Self {
        let user = session.user().map(|user| user.username);
        let csrf_token = if user.is_some() {
            // Signed in: the navigation shows a logout form, which needs the token.
            session.csrf_token()
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
