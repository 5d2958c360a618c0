//! The background task: every `SESSION_PRUNE_INTERVAL_SECONDS`, delete what has
//! expired. Each step survives database errors (logged; the next round retries).

use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;

use actix_session_postgres::{
    observe::{NoObserver, SharedObserver, StoreObserver},
    prune::{PruneOutcome, prune_expired_observed},
};

use crate::{auth::throttle, cart, limits};

/// Runs one round of every pruning step; the store's pruning reports to
/// `observer` (the metrics).
pub async fn run_once(pool: &PgPool, observer: &dyn StoreObserver) {
    match prune_expired_observed(pool, observer).await {
        Ok(PruneOutcome::Pruned(0) | PruneOutcome::Skipped) => {}
        Ok(PruneOutcome::Pruned(n)) => log::info!("pruned {n} expired sessions"),
        Err(error) => log::warn!("pruning expired sessions failed, will retry: {error}"),
    }
    match cart::prune_orphans(pool).await {
        Ok(0) => {}
        Ok(n) => log::info!("pruned {n} carts of ended sessions"),
        Err(error) => log::warn!("pruning carts failed, will retry: {error}"),
    }
    if let Err(error) = throttle::prune_failures(pool).await {
        log::warn!("pruning old login failures failed, will retry: {error}");
    }
    if let Err(error) = limits::prune_shared(pool).await {
        log::warn!("pruning per-address counts failed, will retry: {error}");
    }
}

/// Runs [`run_once`] every `interval` until `shutdown` changes (or its sender
/// is dropped), reporting the store's pruning to `observer` when there is one.
pub async fn run(
    pool: PgPool,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
    observer: Option<SharedObserver>,
) {
    let observer: SharedObserver = observer.unwrap_or_else(|| std::sync::Arc::new(NoObserver));
    // The first round comes one interval after start, not at once.
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + interval, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => run_once(&pool, &*observer).await,
            _ = shutdown.changed() => break,
        }
    }
    log::info!("housekeeping stopped");
}
