//! Pruning: deleting expired sessions in the background.
//!
//! An expired row is already invisible (every query of the store checks
//! `expires_at > now()`), so pruning is housekeeping, not security: it keeps the
//! table small. Three rules make it safe to run in every app process at once:
//!
//! - **One pruner at a time.** Each batch runs in a short transaction that first
//!   takes a PostgreSQL advisory lock with `pg_try_advisory_xact_lock`. If another
//!   process holds it, this one skips the round instead of waiting; the lock is
//!   released by the commit, or by PostgreSQL if the connection dies.
//! - **Bounded batches.** Each transaction deletes at most [`BATCH_SIZE`] rows, so
//!   no statement holds locks on thousands of rows while requests wait.
//! - **Errors do not stop it.** A failed round returns its error; the batches
//!   it committed stay deleted, and the next round simply carries on.
//!
//! The store does not schedule pruning itself; run [`prune_expired`] every few
//! minutes from a task of your app, in as many processes as you like:
//!
//! ```no_run
//! use std::time::Duration;
//! use actix_session_postgres::prune::{PruneOutcome, prune_expired};
//!
//! fn spawn_pruner(pool: sqlx::PgPool) {
//!     tokio::spawn(async move {
//!         let mut every = tokio::time::interval(Duration::from_secs(300));
//!         loop {
//!             every.tick().await;
//!             match prune_expired(&pool).await {
//!                 Ok(PruneOutcome::Pruned(n)) if n > 0 => log::info!("pruned {n} sessions"),
//!                 Ok(_) => {}
//!                 Err(error) => log::warn!("pruning failed, will retry: {error}"),
//!             }
//!         }
//!     });
//! }
//! ```

use std::time::Instant;

use sqlx::PgPool;

use crate::observe::{NoObserver, StoreObserver};

/// The most rows one pruning transaction deletes.
pub const BATCH_SIZE: i64 = 1000;

/// The PostgreSQL advisory lock that elects the single pruner (an arbitrary
/// constant: "SESSPRUN" in ASCII). Another tool that deletes sessions in bulk
/// can take it too, to keep out of the pruner's way.
pub const LOCK_KEY: i64 = 0x5345_5353_5052_554e;

/// What one pruning round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PruneOutcome {
    /// This process held the lock and deleted this many expired rows.
    Pruned(u64),
    /// Another process was pruning; this one left it alone.
    Skipped,
}

/// Deletes every expired session, batch by batch, unless another process is already pruning.
///
/// Each batch is one transaction: take the advisory lock (or return), delete
/// at most [`BATCH_SIZE`] expired rows, commit. Batches repeat until one
/// deletes fewer than a full batch.
pub async fn prune_expired(pool: &PgPool) -> Result<PruneOutcome, sqlx::Error> {
    prune_expired_observed(pool, &NoObserver).await
}

/// [`prune_expired`], reporting each round that deleted anything to
/// `observer` ([`StoreObserver::pruned`]: rows deleted and time taken).
pub async fn prune_expired_observed(
    pool: &PgPool,
    observer: &dyn StoreObserver,
) -> Result<PruneOutcome, sqlx::Error> {
    let started = Instant::now();
    let outcome = prune_batches(pool).await;
    if let Ok(PruneOutcome::Pruned(rows)) = outcome {
        observer.pruned(rows, started.elapsed());
    }
    outcome
}

async fn prune_batches(pool: &PgPool) -> Result<PruneOutcome, sqlx::Error> {
    let mut total = 0;
    loop {
        let mut tx = pool.begin().await?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(LOCK_KEY)
            .fetch_one(&mut *tx)
            .await?;
        if !locked {
            // Someone else holds the lock. If we already deleted batches they
            // will finish the job; either way, nothing is left for us to do.
            return Ok(if total == 0 {
                PruneOutcome::Skipped
            } else {
                PruneOutcome::Pruned(total)
            });
        }
        // `FOR UPDATE SKIP LOCKED` steps around rows a request is updating right
        // now; they will be picked up in a later round if they are still expired.
        // Rows are named by `key_hash`, as everywhere in the store (its unique
        // index makes that as quick as `id`).
        let deleted = sqlx::query(
            "DELETE FROM sessions
             WHERE key_hash IN (
                 SELECT key_hash FROM sessions
                 WHERE expires_at <= now()
                 LIMIT $1
                 FOR UPDATE SKIP LOCKED
             )",
        )
        .bind(BATCH_SIZE)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        total += deleted;
        if deleted < BATCH_SIZE as u64 {
            return Ok(PruneOutcome::Pruned(total));
        }
    }
}
