//! [`PgSessionStore`]: actix-session's `SessionStore` over PostgreSQL with sqlx.
//!
//! actix-session does the cookie work: it reads the session key out of the
//! encrypted cookie, hands it to a store to `load` the data, lets the handler
//! change that data, and afterwards asks the store to `save` (a new session),
//! `update` (a changed one) or `delete` it (logout). This module is the store:
//! where the data really lives.
//!
//! Four decisions shape every query below.
//!
//! 1. **Only a digest of the key is stored.** The `sessions` table holds the
//!    SHA-256 digest of each key (`key_hash`), never the key, so a leaked copy
//!    of the database cannot be replayed as cookies. Every query looks a
//!    session up by `key_hash = digest(key)`.
//! 2. **Expiry is decided by PostgreSQL's clock.** Each row carries
//!    `expires_at` (rolling: now + the inactivity timeout, moved forward on
//!    activity) and `absolute_expires_at` (fixed at creation). Every query
//!    compares them with the database's own `now()`, never the app's clock, so
//!    any number of app processes agree on what has expired, and a row past its
//!    expiry is never returned, even before the pruning task deletes it.
//! 3. **One statement per step, shared under load.** A request that only reads
//!    its session costs one round trip (`load`), one that changes it costs two
//!    (`load`, `update`), and a first visit costs one (`save`). When several
//!    requests of a worker need the same step at once, they share one
//!    statement (see [`crate::batch`]): every query below takes an array of
//!    keys, and a request alone is an array of one.
//! 4. **A deleted session stays deleted.** `update` only changes a row that still
//!    exists and has not expired; it never re-inserts. A request that loaded a
//!    session just before the user logged out in another tab therefore cannot
//!    bring its data back to life when it finishes.

use std::{collections::HashMap, sync::Arc, time::Duration};

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use anyhow::Context;
use serde_json::{Map, Value};
use sqlx::PgConnection;

use crate::{
    batch::{Batch, Batcher},
    key,
    pool::SessionPool,
};

/// The data actix-session keeps for one session: names mapped to JSON text.
pub type SessionState = HashMap<String, String>;

/// When sessions end: after a time without activity, and at the latest a
/// fixed time after they began.
///
/// Both limits are enforced by PostgreSQL's clock, in every query. The `ttl`
/// that actix-session passes to the store's methods is ignored: this policy
/// decides.
///
/// ```
/// use std::time::Duration;
/// use actix_session_postgres::ExpiryPolicy;
///
/// // Signed out after 30 idle minutes, and after 12 hours in any case.
/// let policy = ExpiryPolicy {
///     inactivity: Duration::from_secs(30 * 60),
///     absolute: Duration::from_secs(12 * 3600),
/// };
/// assert_eq!(policy.touch_interval(), Duration::from_secs(60));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryPolicy {
    /// A session ends after this long without activity (a read or a write).
    pub inactivity: Duration,
    /// A session ends this long after it began, however active it is.
    pub absolute: Duration,
}

impl Default for ExpiryPolicy {
    /// One hour of inactivity, one day at most.
    fn default() -> Self {
        Self {
            inactivity: Duration::from_secs(3600),
            absolute: Duration::from_secs(86_400),
        }
    }
}

impl ExpiryPolicy {
    /// How far a session's expiry may fall behind "now + inactivity" before
    /// it is pushed forward.
    ///
    /// Reading a session is activity too, so a session that is only read must
    /// still not expire. But pushing `expires_at` forward on every request would
    /// turn every read into a write, and make every write change an indexed
    /// column (see [`PgSessionStore::update`]). So `load` extends the expiry
    /// only when it has fallen more than a tenth of the timeout (at most a
    /// minute) behind: the session can lose at most that much of its lifetime,
    /// and a busy session costs one extension a minute instead of one per request.
    pub fn touch_interval(&self) -> Duration {
        (self.inactivity / 10).min(Duration::from_secs(60))
    }
}

/// A session store backed by the `sessions` table in PostgreSQL.
///
/// Cloning it is cheap: the pool inside is a handle to shared connections
/// (a [`SessionPool`], without a ping per query), and clones share their
/// batches too. Give each actix worker a store of its own, on its own pool
/// ([`WorkerPools`](crate::WorkerPools)): a worker's concurrent requests then
/// share statements on connections of that worker's thread.
#[derive(Clone)]
pub struct PgSessionStore {
    pool: SessionPool,
    policy: ExpiryPolicy,
    loads: Arc<Batcher<Loads>>,
    saves: Arc<Batcher<Saves>>,
    updates: Arc<Batcher<Updates>>,
}

impl std::fmt::Debug for PgSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSessionStore")
            .field("pool", &self.pool)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl PgSessionStore {
    /// A store that keeps sessions in `pool`'s database and ends them by `policy`.
    ///
    /// The database needs the store's schema first: see [`migrator`](crate::migrator).
    pub fn new(pool: SessionPool, policy: ExpiryPolicy) -> Self {
        Self {
            pool,
            policy,
            loads: Arc::new(Batcher::new(Loads { policy })),
            saves: Arc::new(Batcher::new(Saves { policy })),
            updates: Arc::new(Batcher::new(Updates)),
        }
    }

    /// The expiry policy this store applies.
    pub fn policy(&self) -> ExpiryPolicy {
        self.policy
    }
}

impl SessionStore for PgSessionStore {
    /// Finds a live session by its key, extending its expiry if it is due.
    ///
    /// Returns `None` for an unknown, deleted or expired key: actix-session then
    /// starts a fresh, empty session, exactly as if no cookie had been sent.
    async fn load(&self, session_key: &SessionKey) -> Result<Option<SessionState>, LoadError> {
        let digest = key::digest(session_key.as_ref());
        let json = self
            .loads
            .submit(&self.pool, digest)
            .await
            .context("loading a session")
            .map_err(LoadError::Other)?;

        json.map(|json| decode_state(&json))
            .transpose()
            .map_err(LoadError::Deserialization)
    }

    /// Stores the data of a brand-new session under a brand-new random key.
    ///
    /// The store, not the browser, chooses the key: a client can never pick
    /// its own session key (no session fixation through this door).
    async fn save(
        &self,
        session_state: SessionState,
        _ttl: &actix_web::cookie::time::Duration,
    ) -> Result<SessionKey, SaveError> {
        let state = encode_state(&session_state).map_err(SaveError::Serialization)?;
        let new_key = key::generate()
            .map_err(|e| SaveError::Other(anyhow::anyhow!("no randomness for a key: {e}")))?;

        self.saves
            .submit(&self.pool, (key::digest(&new_key), state))
            .await
            .context("saving a new session")
            .map_err(SaveError::Other)?;

        SessionKey::try_from(new_key).map_err(|e| SaveError::Other(e.into()))
    }

    /// Replaces the data of an existing session.
    ///
    /// If the row is gone (logged out, revoked or expired while this request
    /// ran), nothing is written: the data stays deleted. The old key is handed
    /// back, names no session, and the browser's next request is anonymous.
    ///
    /// The expiry is left alone: actix-session calls `update` only after `load`
    /// in the same request, and `load` has already extended it if it was due.
    async fn update(
        &self,
        session_key: SessionKey,
        session_state: SessionState,
        _ttl: &actix_web::cookie::time::Duration,
    ) -> Result<SessionKey, UpdateError> {
        let state = encode_state(&session_state).map_err(UpdateError::Serialization)?;

        let digest = key::digest(session_key.as_ref());
        self.updates
            .submit(&self.pool, (digest, state))
            .await
            .context("updating a session")
            .map_err(UpdateError::Other)?;

        Ok(session_key)
    }

    /// Extends a live session's expiry without touching its data.
    ///
    /// actix-session calls this only with `TtlExtensionPolicy::OnEveryRequest`,
    /// costing a second statement on every request; with the default
    /// `OnStateChanges`, `load` extends the expiry instead (throttled). The
    /// method works on its own all the same, as the trait requires.
    async fn update_ttl(
        &self,
        session_key: &SessionKey,
        _ttl: &actix_web::cookie::time::Duration,
    ) -> Result<(), anyhow::Error> {
        const TOUCH: &str = "
            UPDATE sessions
            SET last_seen_at = now(),
                expires_at = least(now() + $2::interval, absolute_expires_at)
            WHERE key_hash = $1 AND expires_at > now()";
        let digest = key::digest(session_key.as_ref());
        let inactivity = self.policy.inactivity;
        self.pool
            .run(async |conn| {
                sqlx::query(TOUCH)
                    .bind(digest.as_slice())
                    .bind(inactivity)
                    .execute(conn)
                    .await
            })
            .await
            .context("extending a session")?;
        Ok(())
    }

    /// Deletes a session: logout, or the first half of renewing its key.
    async fn delete(&self, session_key: &SessionKey) -> Result<(), anyhow::Error> {
        // Deleting a row that is already gone is fine: the goal is that it is gone.
        let digest = key::digest(session_key.as_ref());
        self.pool
            .run(async |conn| {
                sqlx::query("DELETE FROM sessions WHERE key_hash = $1")
                    .bind(digest.as_slice())
                    .execute(conn)
                    .await
            })
            .await
            .context("deleting a session")?;
        Ok(())
    }
}

/// `load`'s statement: live sessions by key digest, extending expiries that are due.
struct Loads {
    policy: ExpiryPolicy,
}

impl Batch for Loads {
    type Job = [u8; 32];
    /// The session's state as JSON text, or `None` if there is no live session.
    type Answer = Option<String>;

    async fn run(
        &self,
        connection: &mut PgConnection,
        digests: &[[u8; 32]],
    ) -> Result<Vec<Option<String>>, sqlx::Error> {
        // One statement, one round trip, does both jobs for every key:
        // - it selects the rows, but only while they are live (`expires_at > now()`);
        // - for a row whose expiry has fallen more than the touch interval
        //   behind `now() + inactivity` (see `ExpiryPolicy::touch_interval`;
        //   never true once the expiry sits at the absolute limit) it calls
        //   `touch_session` (a function of the store's schema), which pushes
        //   the expiry forward, never past the absolute limit (finding the row
        //   by `key_hash`, like every statement here). For every other
        //   row the CASE calls nothing, so an ordinary read is a plain, cheap
        //   SELECT. (A data-modifying CTE would do the same in one statement,
        //   but PostgreSQL then runs every read through its UPDATE machinery,
        //   which costs even when no row is updated.)
        // The keys go in sorted, and the index is walked in that order, so
        // two batches that touch the same rows lock them in the same order
        // and cannot deadlock each other.
        const LOAD: &str = "
            SELECT key_hash,
                   state::text,
                   CASE WHEN expires_at < least(now() + $2::interval - $3::interval,
                                                absolute_expires_at)
                        THEN touch_session(key_hash, $2::interval)
                   END
            FROM sessions
            WHERE key_hash = ANY($1) AND expires_at > now()";
        let rows: Vec<(Vec<u8>, String, Option<()>)> = sqlx::query_as(LOAD)
            .bind(sorted_distinct(digests))
            .bind(self.policy.inactivity)
            .bind(self.policy.touch_interval())
            .fetch_all(connection)
            .await?;

        let found: HashMap<Vec<u8>, String> = rows
            .into_iter()
            .map(|(digest, json, _touched)| (digest, json))
            .collect();
        // Two requests of one session in one batch each get its state.
        Ok(digests
            .iter()
            .map(|digest| found.get(digest.as_slice()).cloned())
            .collect())
    }
}

/// `save`'s statement: new sessions, each under a key the store chose.
struct Saves {
    policy: ExpiryPolicy,
}

impl Batch for Saves {
    /// The new key's digest and the state as a JSON object.
    type Job = ([u8; 32], String);
    type Answer = ();

    async fn run(
        &self,
        connection: &mut PgConnection,
        sessions: &[([u8; 32], String)],
    ) -> Result<Vec<()>, sqlx::Error> {
        // A plain INSERT: 256 random bits make a collision with an existing key
        // practically impossible, and the UNIQUE constraint would refuse one.
        // Both expiries are computed from the database's clock. `unnest`
        // turns the two arrays into rows: one statement, one commit, for
        // every new session of the batch.
        const SAVE: &str = "
            INSERT INTO sessions (key_hash, state, expires_at, absolute_expires_at)
            SELECT key_hash, state::jsonb,
                   now() + least($3::interval, $4::interval), now() + $4::interval
            FROM unnest($1::bytea[], $2::text[]) AS new_sessions (key_hash, state)";
        let (digests, states): (Vec<&[u8]>, Vec<&str>) = sessions
            .iter()
            .map(|(digest, state)| (digest.as_slice(), state.as_str()))
            .unzip();
        sqlx::query(SAVE)
            .bind(digests)
            .bind(states)
            .bind(self.policy.inactivity)
            .bind(self.policy.absolute)
            .execute(connection)
            .await?;
        Ok(vec![(); sessions.len()])
    }
}

/// `update`'s statement: new data for live sessions.
struct Updates;

impl Batch for Updates {
    /// The session's key digest and its new state as a JSON object.
    type Job = ([u8; 32], String);
    type Answer = ();

    async fn run(
        &self,
        connection: &mut PgConnection,
        changes: &[([u8; 32], String)],
    ) -> Result<Vec<()>, sqlx::Error> {
        // UPDATE, never INSERT ... ON CONFLICT: an upsert would resurrect a session
        // deleted while this request was running. `expires_at > now()` keeps an
        // expired-but-not-yet-pruned row from coming back to life the same way.
        //
        // It sets no indexed column (`expires_at` is indexed for pruning), so
        // PostgreSQL can make it a HOT update: the new row version goes on
        // the same page and no index gets a new entry. (Columns an app
        // derives from `state` and indexes keep this only while their value
        // does not change.) Setting `expires_at` here too would cost every
        // write an insertion into every index of the table.
        //
        // The batch's changes arrive as two arrays, joined to the table by
        // key digest: sorted (so two batches lock shared rows in the same
        // order), and one change per session (the one queued last wins, as it
        // would have one statement later).
        const UPDATE: &str = "
            UPDATE sessions
            SET state = changes.state::jsonb,
                last_seen_at = now()
            FROM unnest($1::bytea[], $2::text[]) AS changes (key_hash, state)
            WHERE sessions.key_hash = changes.key_hash AND sessions.expires_at > now()";
        let mut latest: Vec<&([u8; 32], String)> = changes.iter().rev().collect();
        latest.sort_by_key(|(digest, _)| *digest); // stable: the latest of a key first
        latest.dedup_by_key(|(digest, _)| *digest);
        let (digests, states): (Vec<&[u8]>, Vec<&str>) = latest
            .into_iter()
            .map(|(digest, state)| (digest.as_slice(), state.as_str()))
            .unzip();
        sqlx::query(UPDATE)
            .bind(digests)
            .bind(states)
            .execute(connection)
            .await?;
        Ok(vec![(); changes.len()])
    }
}

/// The distinct digests of a batch, in ascending order (PostgreSQL's order for `bytea`).
fn sorted_distinct(digests: &[[u8; 32]]) -> Vec<&[u8]> {
    let mut sorted: Vec<&[u8]> = digests.iter().map(|digest| digest.as_slice()).collect();
    sorted.sort_unstable();
    sorted.dedup();
    sorted
}

/// Turns actix-session's map of JSON *texts* into one JSON object for the `state` column.
///
/// actix-session serializes each value on its own (`"visits" -> "3"`). Storing the
/// parsed values (`{"visits": 3}`) makes the column readable in `psql` and lets SQL
/// look inside it (`state->>'user_id'`).
fn encode_state(state: &SessionState) -> Result<String, anyhow::Error> {
    let object: Map<String, Value> = state
        .iter()
        .map(|(name, text)| {
            // actix-session always hands over valid JSON; keep anything else as a string.
            let value = serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone()));
            (name.clone(), value)
        })
        .collect();
    serde_json::to_string(&object).context("encoding session state")
}

/// The reverse of [`encode_state`]: one JSON object back into a map of JSON texts.
fn decode_state(json: &str) -> Result<SessionState, anyhow::Error> {
    let object: Map<String, Value> =
        serde_json::from_str(json).context("decoding session state")?;
    Ok(object
        .into_iter()
        .map(|(name, value)| (name, value.to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_through_one_json_object() {
        let mut state = SessionState::new();
        state.insert("visits".into(), "3".into());
        state.insert("flash".into(), "\"Signed in.\"".into());
        let json = encode_state(&state).expect("encodes");
        let object: Value = serde_json::from_str(&json).expect("an object");
        assert_eq!(object["visits"], 3);
        assert_eq!(object["flash"], "Signed in.");
        assert_eq!(decode_state(&json).expect("decodes"), state);
    }

    #[test]
    fn reads_extend_expiry_at_most_once_a_minute() {
        let hour = ExpiryPolicy {
            inactivity: Duration::from_secs(3600),
            absolute: Duration::from_secs(86_400),
        };
        assert_eq!(hour.touch_interval(), Duration::from_secs(60));
        let short = ExpiryPolicy {
            inactivity: Duration::from_secs(20),
            ..hour
        };
        assert_eq!(short.touch_interval(), Duration::from_secs(2));
    }
}
