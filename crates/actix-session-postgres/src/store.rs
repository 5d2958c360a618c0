//! [`PgSessionStore`]: actix-session's `SessionStore` over PostgreSQL with sqlx.
//!
//! actix-session does the cookie work: it reads the session key out of the
//! encrypted cookie, hands it to a store to `load` the data, lets the handler
//! change that data, and afterwards asks the store to `save` (a new session),
//! `update` (a changed one) or `delete` it (logout). This module is the store:
//! where the data really lives.
//!
//! Five decisions shape every query below.
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
//! 3. **A request writes only what it changed.** actix-session hands `update`
//!    the whole session as the handler left it. Writing that back would undo
//!    whatever another request of the same session (a second tab, a double
//!    click, another app process) wrote meanwhile: the last writer would win
//!    and the other's changes would vanish. So `load` keeps a copy of what it
//!    read (see [`SNAPSHOT_KEY`]), and `update` sends PostgreSQL only the
//!    difference: the values this request set, the names it removed, and for
//!    names declared as counters ([`PgSessionStore::with_counters`]) the
//!    amount it added. PostgreSQL applies that patch to the row as it is at
//!    that moment, under the row's lock, so concurrent requests' changes
//!    combine: two requests that change different values both keep theirs,
//!    and fifty concurrent visits add fifty.
//! 4. **A deleted session stays deleted.** `update` only changes a row that still
//!    exists and has not expired; it never re-inserts. A request that loaded a
//!    session just before the user logged out in another tab therefore cannot
//!    bring its data back to life when it finishes, and neither can a sign-in
//!    that renews the key of a session that was logged out meanwhile (see
//!    [`PgSessionStore::save`]).
//! 5. **One statement per step, shared under load.** A request that only reads
//!    its session costs one round trip (`load`), one that changes it costs two
//!    (`load`, `update`), and a first visit costs one (`save`). When several
//!    requests of a worker need the same step at once, they share one
//!    statement (see [`crate::batch`]): every query below takes an array of
//!    keys, and a request alone is an array of one.
//!
//! What concurrency does *not* give: a handler still sees the session as it
//! was when its request began, so two concurrent requests each reading
//! `visits = 4` both render "5" (the row ends at 6). Values that are not
//! counters follow the last writer, name by name.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use actix_session::storage::{LoadError, SaveError, SessionKey, SessionStore, UpdateError};
use serde_json::{Map, Value};
use sqlx::PgConnection;
use tokio::time::Instant;

use crate::{
    batch::{Batch, Batcher, InFlight, Mode, Reply},
    error::{StoreError, is_unique_violation},
    key,
    observe::{SharedObserver, Step, StepOutcome},
    pool::SessionPool,
};

/// The data actix-session keeps for one session: names mapped to JSON text.
pub type SessionState = HashMap<String, String>;

/// The name under which `load` leaves, in the state it hands actix-session,
/// a copy of what it read, so that `update` can tell what the request changed.
///
/// The entry is never stored: `update` and `save` take it out. An app that
/// lists a session's entries (an inspector, a debug page) should skip it:
/// see [`is_reserved_key`]. Its value is a JSON object holding the row's
/// key digest and its state as loaded.
pub const SNAPSHOT_KEY: &str = "$loaded";

/// True for a name the store reserves in a session's state ([`SNAPSHOT_KEY`]):
/// an app must not use it, and need not show it.
pub fn is_reserved_key(name: &str) -> bool {
    name == SNAPSHOT_KEY
}

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
    deadline: Duration,
    statements_in_flight: usize,
    counters: Arc<[String]>,
    loads: Arc<Batcher<Loads>>,
    saves: Arc<Batcher<Saves>>,
    updates: Arc<Batcher<Updates>>,
    /// Sessions whose `delete` found no live row, lately: a renewal of one
    /// of them must not save its data under a new key.
    gone: Arc<GoneSessions>,
}

impl std::fmt::Debug for PgSessionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSessionStore")
            .field("pool", &self.pool)
            .field("policy", &self.policy)
            .field("deadline", &self.deadline)
            .field("statements_in_flight", &self.statements_in_flight)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

/// How long a store step may take by default, waiting and retries included:
/// see [`PgSessionStore::with_deadline`].
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(5);

/// How many shared statements a store runs at once by default: see
/// [`PgSessionStore::with_statements_in_flight`].
pub const DEFAULT_STATEMENTS_IN_FLIGHT: usize = 2;

impl PgSessionStore {
    /// A store that keeps sessions in `pool`'s database and ends them by `policy`.
    ///
    /// The database needs the store's schema first: see [`migrator`](crate::migrator).
    /// Steps report to the pool's observer ([`SessionPool::observed_by`]).
    pub fn new(pool: SessionPool, policy: ExpiryPolicy) -> Self {
        let (loads, saves, updates) =
            batchers(policy, DEFAULT_DEADLINE, DEFAULT_STATEMENTS_IN_FLIGHT);
        Self {
            pool,
            policy,
            deadline: DEFAULT_DEADLINE,
            statements_in_flight: DEFAULT_STATEMENTS_IN_FLIGHT,
            counters: Arc::new([]),
            loads,
            saves,
            updates,
            gone: Arc::new(GoneSessions::default()),
        }
    }

    /// The batchers again, for the current deadline and statement slots.
    fn with_batchers(mut self) -> Self {
        (self.loads, self.saves, self.updates) =
            batchers(self.policy, self.deadline, self.statements_in_flight);
        self
    }

    /// This store, running at most `statements` shared statements at once
    /// (default [`DEFAULT_STATEMENTS_IN_FLIGHT`]), whatever the size of its
    /// pool.
    ///
    /// A request that finds a slot free runs its statement at once; while
    /// all are busy, requests queue and the next statement carries all of
    /// them (see [`crate::batch`]). PostgreSQL's cost is mostly per
    /// statement, so fewer, larger statements serve more requests: with a
    /// slot per connection instead, a larger pool would make the store
    /// slower. More slots help when PostgreSQL has cores to spare or is far
    /// away (each statement then waits mostly on the network).
    pub fn with_statements_in_flight(mut self, statements: usize) -> Self {
        self.statements_in_flight = statements.max(1);
        self.with_batchers()
    }

    /// This store, with `names` merged by addition when concurrent requests
    /// change them.
    ///
    /// A counter's value is a whole number. When a request changes it from
    /// the value it loaded, `update` adds the difference to the value stored
    /// at that moment instead of overwriting it: two requests that each count
    /// one visit add two, however they overlap. Other values follow the last
    /// writer, name by name.
    ///
    /// ```no_run
    /// # fn example(pool: actix_session_postgres::SessionPool) {
    /// use actix_session_postgres::{ExpiryPolicy, PgSessionStore};
    /// let store = PgSessionStore::new(pool, ExpiryPolicy::default()).with_counters(["visits"]);
    /// # }
    /// ```
    pub fn with_counters<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.counters = names.into_iter().map(Into::into).collect();
        self
    }

    /// This store, giving each step at most `deadline`: waiting in the
    /// queue, for a connection, for the statement, and for retries after a
    /// lost connection, together (default: [`DEFAULT_DEADLINE`]). Past it
    /// the step fails with [`StoreError::Deadline`], which an app answers
    /// with a `503`.
    pub fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self.with_batchers()
    }

    /// The expiry policy this store applies.
    pub fn policy(&self) -> ExpiryPolicy {
        self.policy
    }

    /// The most time one step takes before it fails.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    fn observer(&self) -> &SharedObserver {
        self.pool.observer()
    }

    /// Runs `attempt` and, while it fails transiently (a connection lost or
    /// refused, a server going away or a standby answering) and time is
    /// left, again on a fresh connection, after a short pause that doubles
    /// each time (20 ms, 40 ms, ... at most 500 ms).
    ///
    /// The budget is the step's deadline: during a failover the pause gives
    /// the new primary time to take over, and a request whose deadline
    /// passes gets a `503` instead of waiting on. A failure whose outcome is
    /// unknown (the connection was lost after the statement was sent) is
    /// retried only when `unknown_is_safe`: running the step twice does no
    /// harm (a read, a delete, a write of the same values).
    async fn with_retries<T, F>(
        &self,
        step: Step,
        deadline: Instant,
        unknown_is_safe: bool,
        mut attempt: impl FnMut(bool) -> F,
    ) -> Result<T, StoreError>
    where
        F: Future<Output = Result<T, StoreError>>,
    {
        let started = Instant::now();
        let mut pause = Duration::from_millis(20);
        let mut retry = false;
        let result = loop {
            let result = attempt(retry).await;
            match result {
                Err(error)
                    if error.is_transient()
                        && (unknown_is_safe || !error.outcome_unknown())
                        && Instant::now() + pause < deadline =>
                {
                    log::debug!("session {} failed, trying again: {error}", step.as_str());
                    self.observer().retry(step, error.kind());
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(500));
                    retry = true;
                }
                result => break result,
            }
        };
        let outcome = match &result {
            Ok(_) => StepOutcome::Ok,
            Err(error) => StepOutcome::Failed(error.kind()),
        };
        self.observer().step(step, started.elapsed(), outcome);
        result
    }

    /// Deletes the row of `digest` after its state proved unreadable.
    async fn discard_unreadable(&self, digest: [u8; 32], deadline: Instant) {
        log::warn!(
            "session {}: its stored data is not a JSON object; deleted, a fresh session starts",
            key::digest_prefix(&digest)
        );
        self.observer().unreadable_state();
        if let Err(error) = self.delete_digest(digest, deadline).await {
            log::warn!("deleting an unreadable session failed: {error}");
        }
    }

    /// Deletes the row of `digest`; true if it was live.
    async fn delete_digest(&self, digest: [u8; 32], deadline: Instant) -> Result<bool, StoreError> {
        // Deleting a row that is already gone is fine: the goal is that it is
        // gone. `RETURNING` tells whether it was live, for `save` (renewal).
        const DELETE: &str = "
            DELETE FROM sessions WHERE key_hash = $1 RETURNING expires_at > now()";
        self.with_retries(Step::Delete, deadline, true, |_| {
            self.pool.run_until(deadline, self.deadline, async |conn| {
                let live = sqlx::query_scalar::<_, bool>(DELETE)
                    .bind(digest.as_slice())
                    .fetch_optional(conn)
                    .await?;
                Ok(live.unwrap_or(false))
            })
        })
        .await
    }
}

impl SessionStore for PgSessionStore {
    /// Finds a live session by its key, extending its expiry if it is due.
    ///
    /// Returns `None` for an unknown, deleted or expired key: actix-session then
    /// starts a fresh, empty session, exactly as if no cookie had been sent.
    /// A row whose data is not a JSON object (written by hand, or by something
    /// else) is deleted and treated the same way.
    ///
    /// The state returned carries [`SNAPSHOT_KEY`]: a copy of what was read,
    /// for `update`.
    async fn load(&self, session_key: &SessionKey) -> Result<Option<SessionState>, LoadError> {
        let digest = key::digest(session_key.as_ref());
        let deadline = Instant::now() + self.deadline;
        let found = self
            .with_retries(Step::Load, deadline, true, |_| {
                self.loads.submit(&self.pool, digest, deadline)
            })
            .await
            .map_err(|error| {
                LoadError::Other(anyhow::Error::new(error).context("loading a session"))
            })?;
        let Some(row) = found else {
            return Ok(None);
        };
        if row.touched {
            self.observer().touched();
        } else {
            self.observer().touch_skipped();
        }
        match decode_state(&row.state) {
            Some(mut state) => {
                state.insert(SNAPSHOT_KEY.to_owned(), snapshot(&digest, &row.state));
                Ok(Some(state))
            }
            None => {
                self.discard_unreadable(digest, deadline).await;
                Ok(None)
            }
        }
    }

    /// Stores the data of a brand-new session under a brand-new random key.
    ///
    /// The store, not the browser, chooses the key: a client can never pick
    /// its own session key (no session fixation through this door).
    ///
    /// When actix-session renews a session's key, it calls `delete` with the
    /// old key and then `save` with the data. If that `delete` found the old
    /// session already gone (logged out or revoked while this request ran,
    /// or expired), the data is not saved: the new key names no session and
    /// the browser's next request is anonymous. Otherwise a sign-in that
    /// raced a logout would bring the signed-out session's data back.
    async fn save(
        &self,
        session_state: SessionState,
        _ttl: &actix_web::cookie::time::Duration,
    ) -> Result<SessionKey, SaveError> {
        let renewed_from = renewed_from(&session_state);
        let state = encode_state(&session_state)
            .map_err(|error| SaveError::Serialization(StoreError::from(error).into()))?;
        let new_key = key::generate()
            .map_err(|error| SaveError::Other(StoreError::Randomness(error.to_string()).into()))?;
        let digest = key::digest(&new_key);
        let deadline = Instant::now() + self.deadline;

        let stale = renewed_from.is_some_and(|old| self.gone.take(&old));
        if stale {
            log::info!(
                "session {}: renewed after it was deleted; its data is not saved",
                key::digest_prefix(&digest)
            );
        } else {
            // A retry after a lost connection may find its row already there:
            // the first attempt committed (see `Saves::run`).
            self.with_retries(Step::Save, deadline, true, |retry| {
                let job = NewSession {
                    digest,
                    state: state.clone(),
                    retry,
                };
                self.saves.submit(&self.pool, job, deadline)
            })
            .await
            .map_err(|error| {
                SaveError::Other(anyhow::Error::new(error).context("saving a new session"))
            })?;
            if renewed_from.is_some() {
                self.observer().session_renewed();
            } else {
                self.observer().session_created();
            }
        }
        SessionKey::try_from(new_key).map_err(|error| SaveError::Other(error.into()))
    }

    /// Writes what this request changed in an existing session.
    ///
    /// Only the difference from what `load` read goes to PostgreSQL (see the
    /// module documentation, decision 3), and nothing at all when nothing
    /// changed. If the row is gone (logged out, revoked or expired while this
    /// request ran), nothing is written: the data stays deleted. The old key
    /// is handed back, names no session, and the browser's next request is
    /// anonymous.
    ///
    /// The expiry is left alone: actix-session calls `update` only after `load`
    /// in the same request, and `load` has already extended it if it was due.
    async fn update(
        &self,
        session_key: SessionKey,
        session_state: SessionState,
        _ttl: &actix_web::cookie::time::Duration,
    ) -> Result<SessionKey, UpdateError> {
        let patch = Patch::between(&session_state, &self.counters)
            .map_err(|error| UpdateError::Serialization(StoreError::from(error).into()))?;
        let Some(patch) = patch else {
            return Ok(session_key); // nothing changed: nothing to write
        };
        // A patch that adds to a counter must not be applied twice: after a
        // lost connection its outcome is unknown, and the request fails
        // instead. Setting and removing values can safely run again.
        let unknown_is_safe = !patch.adds;
        let digest = key::digest(session_key.as_ref());
        let deadline = Instant::now() + self.deadline;
        self.with_retries(Step::Update, deadline, unknown_is_safe, |_| {
            let job = Change {
                digest,
                patch: patch.json.clone(),
            };
            self.updates.submit(&self.pool, job, deadline)
        })
        .await
        .map_err(|error| {
            UpdateError::Other(anyhow::Error::new(error).context("updating a session"))
        })?;
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
        let deadline = Instant::now() + self.deadline;
        self.with_retries(Step::Touch, deadline, true, |_| {
            self.pool.run_until(deadline, self.deadline, async |conn| {
                sqlx::query(TOUCH)
                    .bind(digest.as_slice())
                    .bind(inactivity)
                    .execute(conn)
                    .await
            })
        })
        .await
        .map_err(|error| anyhow::Error::new(error).context("extending a session"))?;
        Ok(())
    }

    /// Deletes a session: logout, or the first half of renewing its key.
    async fn delete(&self, session_key: &SessionKey) -> Result<(), anyhow::Error> {
        let digest = key::digest(session_key.as_ref());
        let deadline = Instant::now() + self.deadline;
        let was_live = self
            .delete_digest(digest, deadline)
            .await
            .map_err(|error| anyhow::Error::new(error).context("deleting a session"))?;
        self.observer().session_deleted();
        if !was_live {
            self.gone.insert(digest);
        }
        Ok(())
    }
}

/// A store's three batchers: loads, saves, updates.
type Batchers = (
    Arc<Batcher<Loads>>,
    Arc<Batcher<Saves>>,
    Arc<Batcher<Updates>>,
);

/// The three batchers of a store, sharing `statements` slots.
fn batchers(policy: ExpiryPolicy, deadline: Duration, statements: usize) -> Batchers {
    let in_flight = InFlight::new(statements);
    (
        Arc::new(Batcher::new(Loads { policy }, deadline, in_flight.clone())),
        Arc::new(Batcher::new(Saves { policy }, deadline, in_flight.clone())),
        Arc::new(Batcher::new(Updates, deadline, in_flight)),
    )
}

/// A live session's row as `load` finds it.
struct LoadedRow {
    /// Its state, as JSON text.
    state: String,
    /// Whether this load extended its expiry.
    touched: bool,
}

/// `load`'s statement: live sessions by key digest, extending expiries that are due.
struct Loads {
    policy: ExpiryPolicy,
}

impl Batch for Loads {
    type Job = [u8; 32];
    /// The session's row, or `None` if there is no live session.
    type Answer = Option<LoadedRow>;
    const STEP: Step = Step::Load;

    async fn run(
        &self,
        connection: &mut PgConnection,
        digests: &[[u8; 32]],
        _mode: Mode,
    ) -> Result<Vec<Reply<Option<LoadedRow>>>, sqlx::Error> {
        // One statement, one round trip, does both jobs for every key:
        // - it selects the rows, but only while they are live (`expires_at > now()`);
        // - for a row whose expiry has fallen more than the touch interval
        //   behind `now() + inactivity` (see `ExpiryPolicy::touch_interval`;
        //   never true once the expiry sits at the absolute limit) it calls
        //   `touch_session` (a function of the store's schema), which pushes
        //   the expiry forward, never past the absolute limit (finding the row
        //   by `key_hash`, like every statement here, and skipping it if
        //   another transaction holds it: a read never waits for a lock, and
        //   the next read touches it instead). For every other row the CASE
        //   calls nothing, so an ordinary read is a plain, cheap SELECT. (A
        //   data-modifying CTE would do the same in one statement, but
        //   PostgreSQL then runs every read through its UPDATE machinery,
        //   which costs even when no row is updated.)
        const LOAD: &str = "
            SELECT key_hash,
                   state::text,
                   due,
                   CASE WHEN due THEN touch_session(key_hash, $2::interval) END
            FROM (
                SELECT key_hash, state,
                       expires_at < least(now() + $2::interval - $3::interval,
                                          absolute_expires_at) AS due
                FROM sessions
                WHERE key_hash = ANY($1) AND expires_at > now()
            ) AS live";
        let rows: Vec<(Vec<u8>, String, bool, Option<()>)> = sqlx::query_as(LOAD)
            .bind(sorted_distinct(digests))
            .bind(self.policy.inactivity)
            .bind(self.policy.touch_interval())
            .fetch_all(connection)
            .await?;

        let mut found: HashMap<Vec<u8>, (String, bool)> = rows
            .into_iter()
            .map(|(digest, json, due, _)| (digest, (json, due)))
            .collect();
        // Two requests of one session in one batch each get its state; the
        // first of them is told of the touch.
        Ok(digests
            .iter()
            .map(|digest| {
                let row = found
                    .get_mut(digest.as_slice())
                    .map(|(json, due)| LoadedRow {
                        state: json.clone(),
                        touched: std::mem::take(due),
                    });
                Reply::Done(row)
            })
            .collect())
    }
}

/// A new session for `save`.
struct NewSession {
    digest: [u8; 32],
    /// Its state as a JSON object.
    state: String,
    /// This is a retry after a lost connection: its row may exist already.
    retry: bool,
}

/// `save`'s statement: new sessions, each under a key the store chose.
struct Saves {
    policy: ExpiryPolicy,
}

impl Batch for Saves {
    type Job = NewSession;
    type Answer = ();
    const STEP: Step = Step::Save;

    async fn run(
        &self,
        connection: &mut PgConnection,
        sessions: &[NewSession],
        _mode: Mode,
    ) -> Result<Vec<Reply<()>>, sqlx::Error> {
        // A plain INSERT, never an upsert: 256 random bits make a collision
        // with an existing key practically impossible, and the UNIQUE
        // constraint refuses one, so the statement can never overwrite a
        // session. (An app may rely on this: new sessions arrive only by
        // INSERT, where its triggers can check them.) Both expiries are
        // computed from the database's clock. `unnest` turns the two arrays
        // into rows: one statement, one commit, for every new session of the
        // batch.
        const SAVE: &str = "
            INSERT INTO sessions (key_hash, state, expires_at, absolute_expires_at)
            SELECT key_hash, state::jsonb,
                   now() + least($3::interval, $4::interval), now() + $4::interval
            FROM unnest($1::bytea[], $2::text[]) AS new_sessions (key_hash, state)";
        let (digests, states): (Vec<&[u8]>, Vec<&str>) = sessions
            .iter()
            .map(|session| (session.digest.as_slice(), session.state.as_str()))
            .unzip();
        let result = sqlx::query(SAVE)
            .bind(digests)
            .bind(states)
            .bind(self.policy.inactivity)
            .bind(self.policy.absolute)
            .execute(connection)
            .await;
        match result {
            Ok(_) => Ok(sessions.iter().map(|_| Reply::Done(())).collect()),
            // The retry of a save whose connection was lost, alone, finding
            // its own key: the first attempt committed. (A batch of several
            // that fails this way runs each job alone, which lands here.)
            Err(error)
                if sessions.len() == 1 && sessions[0].retry && is_unique_violation(&error) =>
            {
                Ok(vec![Reply::Done(())])
            }
            Err(error) => Err(error),
        }
    }
}

/// A change to an existing session, for `update`.
struct Change {
    digest: [u8; 32],
    /// The patch, as JSON (see [`Patch`]).
    patch: String,
}

/// `update`'s statement: what requests changed, applied to live sessions.
struct Updates;

impl Batch for Updates {
    type Job = Change;
    type Answer = ();
    const STEP: Step = Step::Update;

    fn writes(change: &Change) -> Option<&[u8; 32]> {
        Some(&change.digest)
    }

    async fn run(
        &self,
        connection: &mut PgConnection,
        changes: &[Change],
        mode: Mode,
    ) -> Result<Vec<Reply<()>>, sqlx::Error> {
        // UPDATE, never INSERT ... ON CONFLICT: an upsert would resurrect a
        // session deleted while this request was running. `expires_at >
        // now()` keeps an expired-but-not-yet-pruned row from coming back to
        // life the same way.
        //
        // `session_patch` (a function of the store's schema) applies each
        // request's patch to the row as it stands when the UPDATE locks it,
        // not as the request loaded it: concurrent requests' changes combine
        // (module documentation, decision 3). PostgreSQL re-reads a row that
        // another transaction changed while this statement waited for it, so
        // no change is lost between two patches.
        //
        // Rows are locked first, in key order, by `target`. In a shared batch
        // it skips rows another transaction holds (`SKIP LOCKED`): one row
        // held for long (a stuck transaction, an operator) must not make every
        // other session of the batch wait. The final SELECT tells skipped
        // rows (live, not written: their jobs run again alone, waiting for
        // their row at most until their deadline) from gone ones (not live:
        // nothing to write, and nothing is written).
        //
        // It sets no indexed column (`expires_at` is indexed for pruning), so
        // PostgreSQL can make it a HOT update: the new row version goes on
        // the same page and no index gets a new entry. (Columns an app
        // derives from `state` and indexes keep this only while their value
        // does not change.)
        const SHARED: &str = "
            WITH target AS (
                SELECT key_hash FROM sessions
                WHERE key_hash = ANY($1) AND expires_at > now()
                ORDER BY key_hash
                FOR NO KEY UPDATE SKIP LOCKED
            ), written AS (
                UPDATE sessions
                SET state = session_patch(sessions.state, changes.patch::jsonb),
                    last_seen_at = now()
                FROM target, unnest($1::bytea[], $2::text[]) AS changes (key_hash, patch)
                WHERE sessions.key_hash = target.key_hash
                  AND sessions.key_hash = changes.key_hash
                RETURNING sessions.key_hash
            )
            SELECT live.key_hash, live.key_hash IN (SELECT key_hash FROM written)
            FROM sessions AS live
            WHERE live.key_hash = ANY($1) AND live.expires_at > now()";
        // Alone, the same without skipping: wait for the row (at most until
        // the request's deadline; the pool's `lock_timeout` ends the wait on
        // the server's side too).
        const ALONE: &str = "
            WITH written AS (
                UPDATE sessions
                SET state = session_patch(sessions.state, changes.patch::jsonb),
                    last_seen_at = now()
                FROM unnest($1::bytea[], $2::text[]) AS changes (key_hash, patch)
                WHERE sessions.key_hash = changes.key_hash AND sessions.expires_at > now()
                RETURNING sessions.key_hash
            )
            SELECT key_hash, true FROM written";
        // Sorted by digest: two batches that share rows ask for them in the
        // same order. (The batcher puts at most one change of a session in a
        // batch: an UPDATE changes a row at most once.)
        let mut sorted: Vec<&Change> = changes.iter().collect();
        sorted.sort_by_key(|change| change.digest);
        let (digests, patches): (Vec<&[u8]>, Vec<&str>) = sorted
            .into_iter()
            .map(|change| (change.digest.as_slice(), change.patch.as_str()))
            .unzip();
        let statement = match mode {
            Mode::Shared => SHARED,
            Mode::Alone => ALONE,
        };
        let rows: Vec<(Vec<u8>, bool)> = sqlx::query_as(statement)
            .bind(digests)
            .bind(patches)
            .fetch_all(connection)
            .await?;
        let live: HashMap<Vec<u8>, bool> = rows.into_iter().collect();
        Ok(changes
            .iter()
            .map(|change| match live.get(change.digest.as_slice()) {
                Some(false) => Reply::Locked,
                // Written, or gone (nothing to write: it stays gone).
                Some(true) | None => Reply::Done(()),
            })
            .collect())
    }
}

/// What one request changed in a session, as `session_patch` applies it.
///
/// As JSON: `{"set": {...}, "remove": [...], "add": {...}}` (the values this
/// request set, the names it removed, and what it added to counters), or
/// `{"replace": {...}}` when the request had no snapshot to compare with (it
/// cleared the session): then its state replaces the stored one.
struct Patch {
    json: String,
    /// Whether the patch adds to a counter (and must not be applied twice).
    adds: bool,
}

impl Patch {
    /// The patch from the state `load` read (in [`SNAPSHOT_KEY`]) to `state`;
    /// `None` when nothing changed.
    fn between(
        state: &SessionState,
        counters: &[String],
    ) -> Result<Option<Self>, serde_json::Error> {
        let loaded = match state.get(SNAPSHOT_KEY) {
            Some(text) => serde_json::from_str::<Snapshot>(text).ok(),
            None => None,
        };
        let Some(Snapshot { state: before, .. }) = loaded else {
            let json =
                serde_json::to_string(&serde_json::json!({ "replace": parse_state(state) }))?;
            return Ok(Some(Self { json, adds: false }));
        };
        let mut set = Map::new();
        let mut add = Map::new();
        for (name, text) in state.iter().filter(|(name, _)| !is_reserved_key(name)) {
            let value = parse_value(text);
            let old = before.get(name);
            if old == Some(&value) {
                continue;
            }
            let counter = counters.iter().any(|counter| counter == name);
            match (counter, value.as_i64(), old.map(Value::as_i64)) {
                (true, Some(new), None) => {
                    add.insert(name.clone(), new.into());
                }
                (true, Some(new), Some(Some(old))) => {
                    add.insert(name.clone(), new.saturating_sub(old).into());
                }
                _ => {
                    set.insert(name.clone(), value);
                }
            }
        }
        let remove: Vec<&String> = before
            .keys()
            .filter(|name| !state.contains_key(*name))
            .collect();
        if set.is_empty() && add.is_empty() && remove.is_empty() {
            return Ok(None);
        }
        let adds = !add.is_empty();
        let json = serde_json::to_string(&serde_json::json!({
            "set": set,
            "remove": remove,
            "add": add,
        }))?;
        Ok(Some(Self { json, adds }))
    }
}

/// What `load` left in [`SNAPSHOT_KEY`].
#[derive(serde::Deserialize)]
struct Snapshot {
    /// The loaded row's key digest, in hex (for `save`, when the key is renewed).
    digest: String,
    /// The row's state as loaded.
    state: Map<String, Value>,
}

/// The value of [`SNAPSHOT_KEY`]: `{"digest": "...", "state": <the row's JSON>}`,
/// built without parsing the row's JSON again.
fn snapshot(digest: &[u8; 32], state_json: &str) -> String {
    format!(
        r#"{{"digest":"{}","state":{state_json}}}"#,
        hex::encode(digest)
    )
}

/// The key digest of the session `state` was loaded from, if it was loaded.
fn renewed_from(state: &SessionState) -> Option<[u8; 32]> {
    let snapshot: Snapshot = serde_json::from_str(state.get(SNAPSHOT_KEY)?).ok()?;
    let mut digest = [0u8; 32];
    hex::decode_to_slice(snapshot.digest, &mut digest).ok()?;
    Some(digest)
}

/// Sessions whose `delete` found no live row, for the few seconds in which a
/// `save` renewing them may follow (in the same request, on this process).
///
/// Bounded in time and size: an entry is used once, within a minute, and at
/// most [`GoneSessions::CAPACITY`] are kept (the oldest go first).
#[derive(Default)]
struct GoneSessions(Mutex<VecDeque<(std::time::Instant, [u8; 32])>>);

impl GoneSessions {
    const CAPACITY: usize = 4096;
    const KEEP: Duration = Duration::from_secs(60);

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(std::time::Instant, [u8; 32])>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn insert(&self, digest: [u8; 32]) {
        let now = std::time::Instant::now();
        let mut gone = self.lock();
        while gone
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > Self::KEEP)
            || gone.len() >= Self::CAPACITY
        {
            gone.pop_front();
        }
        gone.push_back((now, digest));
    }

    /// True (and forgets it) if `digest` was recorded as gone.
    fn take(&self, digest: &[u8; 32]) -> bool {
        let mut gone = self.lock();
        match gone.iter().position(|(_, entry)| entry == digest) {
            Some(index) => {
                gone.remove(index);
                true
            }
            None => false,
        }
    }
}

/// The distinct digests of a batch, in ascending order (PostgreSQL's order for `bytea`).
fn sorted_distinct(digests: &[[u8; 32]]) -> Vec<&[u8]> {
    let mut sorted: Vec<&[u8]> = digests.iter().map(|digest| digest.as_slice()).collect();
    sorted.sort_unstable();
    sorted.dedup();
    sorted
}

/// One of actix-session's JSON texts as a JSON value (anything that is not
/// valid JSON, which actix-session never hands over, is kept as a string).
fn parse_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// actix-session's map of JSON texts as one JSON object, without the
/// store's reserved entry.
fn parse_state(state: &SessionState) -> Map<String, Value> {
    state
        .iter()
        .filter(|(name, _)| !is_reserved_key(name))
        .map(|(name, text)| (name.clone(), parse_value(text)))
        .collect()
}

/// Turns actix-session's map of JSON *texts* into one JSON object for the `state` column.
///
/// actix-session serializes each value on its own (`"visits" -> "3"`). Storing the
/// parsed values (`{"visits": 3}`) makes the column readable in `psql` and lets SQL
/// look inside it (`state->>'user_id'`).
fn encode_state(state: &SessionState) -> Result<String, serde_json::Error> {
    serde_json::to_string(&parse_state(state))
}

/// The reverse of [`encode_state`]: one JSON object back into a map of JSON
/// texts; `None` if the stored data is not a JSON object. A reserved name
/// found in the row (written by something else) is dropped.
fn decode_state(json: &str) -> Option<SessionState> {
    let object: Map<String, Value> = serde_json::from_str(json).ok()?;
    Some(
        object
            .into_iter()
            .filter(|(name, _)| !is_reserved_key(name))
            .map(|(name, value)| (name, value.to_string()))
            .collect(),
    )
}

impl From<serde_json::Error> for StoreError {
    fn from(error: serde_json::Error) -> Self {
        Self::Encoding(Arc::new(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(pairs: &[(&str, &str)]) -> SessionState {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    fn loaded(pairs: &[(&str, &str)]) -> SessionState {
        let json = encode_state(&state(pairs)).expect("encodes");
        let mut loaded = decode_state(&json).expect("an object");
        loaded.insert(SNAPSHOT_KEY.into(), snapshot(&[7; 32], &json));
        loaded
    }

    fn patch(state: &SessionState, counters: &[&str]) -> Option<Value> {
        let counters: Vec<String> = counters.iter().map(|c| c.to_string()).collect();
        Patch::between(state, &counters)
            .expect("a patch")
            .map(|patch| serde_json::from_str(&patch.json).expect("JSON"))
    }

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
    fn data_that_is_not_an_object_does_not_decode() {
        for odd in ["[1, 2]", "\"text\"", "3", "null", "{", ""] {
            assert_eq!(decode_state(odd), None, "{odd}");
        }
    }

    #[test]
    fn the_snapshot_is_never_stored() {
        let loaded = loaded(&[("visits", "3")]);
        assert!(loaded.contains_key(SNAPSHOT_KEY));
        let json = encode_state(&loaded).expect("encodes");
        assert_eq!(json, r#"{"visits":3}"#);
        assert_eq!(renewed_from(&loaded), Some([7; 32]));
    }

    #[test]
    fn a_patch_holds_only_what_the_request_changed() {
        let mut state = loaded(&[("visits", "3"), ("flash", "\"hi\""), ("cart_id", "\"c1\"")]);
        assert_eq!(patch(&state, &["visits"]), None, "nothing changed");

        state.insert("visits".into(), "4".into());
        state.remove("flash");
        state.insert("csrf_token".into(), "\"t\"".into());
        assert_eq!(
            patch(&state, &["visits"]),
            Some(serde_json::json!({
                "set": {"csrf_token": "t"},
                "remove": ["flash"],
                "add": {"visits": 1},
            }))
        );
        // Not declared a counter: the value is set.
        assert_eq!(
            patch(&state, &[]).expect("a patch")["set"]["visits"],
            serde_json::json!(4)
        );
    }

    #[test]
    fn a_new_counter_adds_its_whole_value() {
        let mut state = loaded(&[("user_id", "1")]);
        state.insert("visits".into(), "1".into());
        assert_eq!(
            patch(&state, &["visits"]).expect("a patch")["add"],
            serde_json::json!({"visits": 1})
        );
    }

    #[test]
    fn a_cleared_session_replaces_the_stored_one() {
        let state = state(&[("visits", "1")]);
        assert_eq!(
            patch(&state, &["visits"]),
            Some(serde_json::json!({"replace": {"visits": 1}}))
        );
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

    #[test]
    fn a_gone_session_is_remembered_once() {
        let gone = GoneSessions::default();
        gone.insert([1; 32]);
        gone.insert([1; 32]);
        assert!(gone.take(&[1; 32]));
        assert!(gone.take(&[1; 32]));
        assert!(!gone.take(&[1; 32]));
        assert!(!gone.take(&[2; 32]));
    }
}
