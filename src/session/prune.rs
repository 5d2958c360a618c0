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
//! - **Errors do not stop it.** A failed round is logged and the next one runs on
//!   schedule; when the database comes back, pruning resumes by itself.

use sqlx::PgPool;

/// The most rows one pruning transaction deletes.
pub const BATCH_SIZE: i64 = 1000;

/// The advisory lock key that elects the single pruner (an arbitrary constant: "SESSPRUN").
const PRUNE_LOCK: i64 = 0x5345_5353_5052_554e;

/// What one pruning round did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PruneOutcome {
    /// This process held the lock and deleted this many expired rows.
    Pruned(u64),
    /// Another process was pruning; this one left it alone.
    Skipped,
}

/// Deletes every expired session, batch by batch, unless another process is already pruning.
pub async fn prune_expired(pool: &PgPool) -> Result<PruneOutcome, sqlx::Error> {
    let mut total = 0;
    loop {
        let mut tx = pool.begin().await?;
        let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
            .bind(PRUNE_LOCK)
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
