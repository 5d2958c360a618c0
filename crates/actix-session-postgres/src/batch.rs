//! Batching: the store work of many concurrent requests in one statement.
//!
//! This page is internal machinery, documented for readers of the crate; it
//! has no public items. A store works without knowing it is here.
//!
//! Under load, most of a session request's cost is PostgreSQL's cost per
//! statement (parse the message, plan, lock, commit, flush the WAL, answer),
//! not per row. So requests of one worker that need the same kind of step at
//! the same moment share one statement: twenty `load`s become one `SELECT ...
//! WHERE key_hash = ANY($1)`, twenty `update`s one `UPDATE ... FROM unnest(...)`
//! and one commit.
//!
//! How a batch forms, without any timer:
//!
//! 1. A request puts its job in its worker's queue, then asks for a statement
//!    slot (a store runs at most a few statements at once, see
//!    [`PgSessionStore::with_statements_in_flight`](crate::PgSessionStore::with_statements_in_flight))
//!    and a connection.
//! 2. Whoever gets a connection takes **its own job first**, then the oldest
//!    other jobs waiting (up to 64 in all, and at most one write per
//!    session), and runs them as one statement in a task of its own (so a
//!    request that goes away cannot abandon the others). If its own job was
//!    already taken by someone else's batch, it gives the connection back.
//! 3. Each request waits for its answer, which arrives once its batch's
//!    statement has returned (committed, for a write): durability is the same
//!    as one statement per request.
//!
//! Because the taker's own job is always in the batch it starts, no request
//! depends on another to run its job: liveness needs no argument about the
//! order in which the pool hands out connections or the runtime polls tasks.
//!
//! When a connection is idle, the first step finds one at once and the batch
//! is that one job: a request alone costs exactly its one statement, at once.
//! Only when every connection is busy do jobs wait, and then they wait together.
//!
//! Bounds, so that trouble costs a fast `503` rather than memory or time:
//!
//! - **One deadline per request** covers the queue, the connection, the
//!   statement and any retry. When it passes the request gets
//!   [`StoreError::Deadline`]; a batch that is still running (a socket that
//!   hangs) is abandoned by its requests, and its task gives up and closes the
//!   connection after the same time.
//! - **A bounded queue.** A worker queues at most 1,024 jobs of one
//!   kind; past that a request fails at once with [`StoreError::Overloaded`].
//! - **No shared waiting on a locked row.** Batched writes skip rows another
//!   transaction holds (`SKIP LOCKED`, see `store.rs`); only the jobs of those
//!   rows run again alone, waiting for their row at most until their deadline.
//!
//! How failures are shared out:
//!
//! - A batch that fails because its connection failed (lost, refused, the
//!   server going away) fails every job with that error at once: it is not
//!   another request's error, and re-running sixty-four jobs one by one during
//!   an outage would only make the outage worse. (The store then retries what
//!   is safe to retry, as a new batch: see `store.rs`.)
//! - A batch of several that fails on a statement error (a constraint, a
//!   deadlock) runs each job again alone, so each request sees only its own
//!   error.
//! - A batch that answers a different number of jobs than it was given is a
//!   bug: it is logged as one, and its jobs fail.

use std::{
    collections::{BTreeMap, HashSet},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
    time::Duration,
};

use sqlx::PgConnection;
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore, oneshot},
    time::Instant,
};

use crate::{
    error::StoreError,
    observe::Step,
    pool::{PooledConnection, SessionPool},
};

/// The most jobs one statement carries. Larger batches save little more and
/// make each statement's locks and parameters larger.
pub(crate) const MAX_BATCH: usize = 64;

/// The most jobs of one kind a worker's queue holds: enough for a thousand
/// requests in flight per worker, far past what a worker's connections can
/// serve within a deadline.
pub(crate) const MAX_QUEUED: usize = 1024;

/// How a batch treats rows that another transaction has locked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Skip them and answer [`Reply::Locked`] for their jobs: a shared
    /// statement never waits for one session's row.
    Shared,
    /// Wait for them (at most until the request's deadline): a job running alone.
    Alone,
}

/// One job's answer from a batch.
pub(crate) enum Reply<A> {
    /// The job ran; this is its answer.
    Done(A),
    /// Its row was locked and skipped: run the job again, alone.
    Locked,
}

/// One kind of store step that can run for many jobs in one statement.
pub(crate) trait Batch: Send + Sync + 'static {
    /// What one request needs done (a key digest, and the data to write).
    type Job: Send + 'static;
    /// What one request gets back.
    type Answer: Send + 'static;
    /// The step, for metrics.
    const STEP: Step;

    /// The session a job writes, when two writes of one session must not
    /// share a statement (one `UPDATE` changes a row at most once).
    fn writes(job: &Self::Job) -> Option<&[u8; 32]> {
        let _ = job;
        None
    }

    /// Runs `jobs` as one statement; one reply per job, in the order of the jobs.
    fn run(
        &self,
        connection: &mut PgConnection,
        jobs: &[Self::Job],
        mode: Mode,
    ) -> impl Future<Output = Result<Vec<Reply<Self::Answer>>, sqlx::Error>> + Send;
}

/// What a request learns about its job.
enum Outcome<B: Batch> {
    /// Its batch ran; this is its answer.
    Done(B::Answer),
    /// Its batch failed, and this is the error for every job in it.
    Failed(StoreError),
    /// Its batch of several failed on a statement error, or skipped its
    /// locked row: here is the job back, to run alone.
    RunAlone(B::Job),
}

/// The queue of one kind of step, for one pool.
pub(crate) struct Batcher<B: Batch> {
    batch: B,
    /// How long a batch's statement may run before its task gives up.
    statement_budget: Duration,
    /// Shared batches in flight at once, for every step of one store (see
    /// [`InFlight`]).
    in_flight: InFlight,
    queue: Mutex<Queue<B>>,
}

/// How many shared statements one store (one worker's) runs at once, all
/// steps together, whatever the size of its pool.
///
/// Every statement costs PostgreSQL the same fixed work (a round of
/// messages, a snapshot, a commit and its WAL flush for a write) whatever
/// its number of rows. A request that finds a statement slot free runs at
/// once; while every slot is busy, requests queue and the next statement
/// carries all of them. With a slot per connection, a larger pool would
/// mean smaller batches and more statements for the same work, so more
/// connections would make the store slower; capping the slots keeps batches
/// large at any pool size. A job that runs again alone (after its row was
/// found locked, or its batch failed) takes no slot: it must not hold up the
/// others.
#[derive(Clone)]
pub(crate) struct InFlight(Arc<Semaphore>);

impl InFlight {
    pub(crate) fn new(statements: usize) -> Self {
        Self(Arc::new(Semaphore::new(statements.max(1))))
    }

    async fn slot(&self) -> OwnedSemaphorePermit {
        Arc::clone(&self.0)
            .acquire_owned()
            .await
            // The semaphore is never closed.
            .expect("an open semaphore")
    }
}

struct Queue<B: Batch> {
    next_ticket: u64,
    /// Jobs by ticket: tickets only grow, so the first entry is the oldest.
    waiting: BTreeMap<u64, QueuedJob<B>>,
}

struct QueuedJob<B: Batch> {
    job: B::Job,
    reply: oneshot::Sender<Outcome<B>>,
}

impl<B: Batch> Batcher<B> {
    pub(crate) fn new(batch: B, statement_budget: Duration, in_flight: InFlight) -> Self {
        Self {
            batch,
            statement_budget,
            in_flight,
            queue: Mutex::new(Queue {
                next_ticket: 0,
                waiting: BTreeMap::new(),
            }),
        }
    }

    /// Queues `job`, runs a batch with it when a connection comes free (unless
    /// another request's batch took it first), and returns the job's answer.
    ///
    /// An error is this job's own, or its batch's connection's: no connection
    /// could be had, the connection failed, the job's own statement failed,
    /// or `deadline` passed.
    pub(crate) async fn submit(
        self: &Arc<Self>,
        pool: &SessionPool,
        job: B::Job,
        deadline: Instant,
    ) -> Result<B::Answer, StoreError> {
        let (reply, mut answer) = oneshot::channel();
        let ticket = self.lock().push(job, reply)?;
        // Whatever happens below (an answer, an error, the deadline, or this
        // request going away), a job still queued is taken back out: nobody
        // would read its answer.
        let _withdraw = WithdrawOnDrop {
            batcher: self,
            ticket,
        };

        let waited = tokio::time::timeout_at(deadline, async {
            tokio::select! {
                // An answer that has already arrived comes first: there is no
                // need for a connection then.
                biased;
                outcome = &mut answer => outcome,
                (slot, connection) = async {
                    let slot = self.in_flight.slot().await;
                    (slot, pool.acquire().await)
                } => {
                    match connection {
                        Ok(connection) => {
                            let batch = self.lock().take_batch(ticket);
                            match batch {
                                Some(batch) => self.spawn_batch(pool, batch, connection, slot),
                                // Our job is in someone else's batch already:
                                // the slot and the connection go back, the
                                // answer comes.
                                None => drop((slot, connection)),
                            }
                        }
                        // Still queued: nobody took it, so it never runs.
                        Err(error) if self.lock().withdraw(ticket) => {
                            return Ok(Outcome::Failed(error));
                        }
                        // Someone took it before our wait ended: its answer comes.
                        Err(_) => {}
                    }
                    (&mut answer).await
                }
            }
        })
        .await;

        match waited {
            Err(_elapsed) => Err(StoreError::Deadline(self.statement_budget)),
            // The batch task answers every job it takes; only a task that
            // panicked (or a runtime shutting down) drops one unanswered.
            Ok(Err(_dropped)) => Err(StoreError::BatchLost),
            Ok(Ok(Outcome::Done(answer))) => Ok(answer),
            Ok(Ok(Outcome::Failed(error))) => Err(error),
            Ok(Ok(Outcome::RunAlone(job))) => self.run_alone(pool, job, deadline).await,
        }
    }

    /// Runs one job in a statement of its own, waiting for its row if it is
    /// locked, within `deadline`.
    async fn run_alone(
        &self,
        pool: &SessionPool,
        job: B::Job,
        deadline: Instant,
    ) -> Result<B::Answer, StoreError> {
        pool.observer().batch(B::STEP, 1);
        let jobs = [job];
        let replies = pool
            .run_until(deadline, self.statement_budget, async |connection| {
                self.batch.run(connection, &jobs, Mode::Alone).await
            })
            .await?;
        match replies.into_iter().next() {
            Some(Reply::Done(answer)) => Ok(answer),
            _ => Err(bug(format!(
                "a {} job run alone got no answer",
                B::STEP.as_str()
            ))),
        }
    }

    /// Runs `batch` on `connection` in a task of its own and answers each of
    /// its jobs.
    fn spawn_batch(
        self: &Arc<Self>,
        pool: &SessionPool,
        batch: Vec<QueuedJob<B>>,
        connection: PooledConnection,
        slot: OwnedSemaphorePermit,
    ) {
        let batcher = Arc::clone(self);
        let pool = pool.clone();
        tokio::spawn(async move {
            // The slot is given back when the statement is done, whatever its end.
            let _slot = slot;
            let mut connection = connection;
            let (jobs, replies): (Vec<_>, Vec<_>) = batch
                .into_iter()
                .map(|queued| (queued.job, queued.reply))
                .unzip();
            pool.observer().batch(B::STEP, jobs.len());
            let ran = tokio::time::timeout(
                batcher.statement_budget,
                batcher.batch.run(&mut connection, &jobs, Mode::Shared),
            )
            .await;
            match ran {
                Ok(Ok(answers)) if answers.len() == jobs.len() => {
                    // The connection goes back first, for the requests woken below.
                    drop(connection);
                    for ((reply, job), answer) in replies.into_iter().zip(jobs).zip(answers) {
                        // A request that went away does not read its answer.
                        let _ = reply.send(match answer {
                            Reply::Done(answer) => Outcome::Done(answer),
                            Reply::Locked => Outcome::RunAlone(job),
                        });
                    }
                }
                Ok(Ok(answers)) => {
                    drop(connection);
                    let error = bug(format!(
                        "a {} batch of {} jobs gave {} answers",
                        B::STEP.as_str(),
                        jobs.len(),
                        answers.len()
                    ));
                    fail_all(replies, &error);
                }
                Ok(Err(error)) => {
                    pool.failed(connection, &error);
                    let statement_error = matches!(error, sqlx::Error::Database(_));
                    if statement_error && jobs.len() > 1 {
                        log::debug!(
                            "a {} batch of {} failed, each job runs alone: {error}",
                            B::STEP.as_str(),
                            jobs.len()
                        );
                        for (reply, job) in replies.into_iter().zip(jobs) {
                            let _ = reply.send(Outcome::RunAlone(job));
                        }
                    } else {
                        fail_all(replies, &StoreError::statement(error));
                    }
                }
                Err(_elapsed) => {
                    // A statement that does not return (a socket that hangs,
                    // no reset ever comes): close the connection, it cannot be
                    // trusted, and tell every job. Its requests' own deadlines
                    // have passed by now too.
                    connection.discard();
                    pool.connection_broken();
                    fail_all(replies, &StoreError::Deadline(batcher.statement_budget));
                }
            }
        });
    }

    fn lock(&self) -> MutexGuard<'_, Queue<B>> {
        // Every change to the queue is a single map operation: it stays
        // consistent even if a thread panicked while holding the lock.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Logs a broken invariant of this module once, where it happens, and makes
/// the error that the requests concerned get.
fn bug(message: String) -> StoreError {
    log::error!("session store bug: {message}");
    StoreError::Bug(message)
}

fn fail_all<B: Batch>(replies: Vec<oneshot::Sender<Outcome<B>>>, error: &StoreError) {
    for reply in replies {
        let _ = reply.send(Outcome::Failed(error.clone()));
    }
}

impl<B: Batch> Queue<B> {
    /// Queues a job under a new ticket, unless the queue is full.
    fn push(&mut self, job: B::Job, reply: oneshot::Sender<Outcome<B>>) -> Result<u64, StoreError> {
        if self.waiting.len() >= MAX_QUEUED {
            return Err(StoreError::Overloaded(MAX_QUEUED));
        }
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.waiting.insert(ticket, QueuedJob { job, reply });
        Ok(ticket)
    }

    /// The batch of the request holding `own`: its job first, then the
    /// oldest others, up to [`MAX_BATCH`], at most one write per session.
    /// `None` if `own` is no longer queued (another batch took it).
    fn take_batch(&mut self, own: u64) -> Option<Vec<QueuedJob<B>>> {
        let first = self.waiting.remove(&own)?;
        let mut sessions: HashSet<[u8; 32]> = B::writes(&first.job).into_iter().copied().collect();
        let mut batch = vec![first];
        // Writes of a session already in the batch stay queued for the next
        // one; looking at a bounded number of jobs keeps this step short.
        let mut later = Vec::new();
        let mut looked_at = 0;
        while batch.len() < MAX_BATCH && looked_at < 4 * MAX_BATCH {
            let Some((ticket, queued)) = self.waiting.pop_first() else {
                break;
            };
            looked_at += 1;
            match B::writes(&queued.job) {
                Some(session) if !sessions.insert(*session) => later.push((ticket, queued)),
                _ => batch.push(queued),
            }
        }
        self.waiting.extend(later);
        Some(batch)
    }

    /// Removes the job with `ticket`; false if it was no longer waiting.
    fn withdraw(&mut self, ticket: u64) -> bool {
        self.waiting.remove(&ticket).is_some()
    }
}

/// Takes a job back out of the queue when the request that queued it is done
/// waiting, for whatever reason (nothing to do if a batch took it).
struct WithdrawOnDrop<'a, B: Batch> {
    batcher: &'a Batcher<B>,
    ticket: u64,
}

impl<B: Batch> Drop for WithdrawOnDrop<'_, B> {
    fn drop(&mut self) {
        self.batcher.lock().withdraw(self.ticket);
    }
}

#[cfg(test)]
mod tests {
    //! The batcher's own guarantees, with batches of a test's making run on
    //! real PostgreSQL connections (the store's statements are tested
    //! through the store, in `tests/store/`).

    use super::*;

    /// A batch that records each statement's jobs, and answers each job
    /// with itself; what its statement does is the test's choice.
    #[derive(Default)]
    struct Probe {
        statement: &'static str,
        batches: Mutex<Vec<Vec<u32>>>,
        short_by: usize,
        panics: bool,
    }

    impl Batch for Arc<Probe> {
        type Job = u32;
        type Answer = u32;
        const STEP: Step = Step::Load;

        fn writes(job: &u32) -> Option<&[u8; 32]> {
            // Jobs 1000 and up stand for writes of one session.
            const SESSION: [u8; 32] = [9; 32];
            (*job >= 1000).then_some(&SESSION)
        }

        async fn run(
            &self,
            connection: &mut PgConnection,
            jobs: &[u32],
            _mode: Mode,
        ) -> Result<Vec<Reply<u32>>, sqlx::Error> {
            self.batches
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(jobs.to_vec());
            assert!(!self.panics, "a batch that panics");
            sqlx::raw_sql(self.statement).execute(connection).await?;
            let answers = jobs.len().saturating_sub(self.short_by);
            Ok(jobs[..answers]
                .iter()
                .map(|job| Reply::Done(*job))
                .collect())
        }
    }

    fn probe(statement: &'static str) -> Arc<Probe> {
        Arc::new(Probe {
            statement,
            ..Probe::default()
        })
    }

    async fn one_connection() -> SessionPool {
        let server = dev_postgres::test_server()
            .await
            .expect("the private test PostgreSQL starts");
        let options = server.url("postgres").parse().expect("a URL");
        SessionPool::new(options, 1, Duration::from_secs(10))
    }

    fn soon(after: Duration) -> Instant {
        Instant::now() + after
    }

    /// Queues `count` jobs from `first` on, each from a task of its own, and
    /// waits until all are queued.
    async fn queue_jobs(
        batcher: &Arc<Batcher<Arc<Probe>>>,
        pool: &SessionPool,
        jobs: impl Iterator<Item = u32>,
    ) -> Vec<tokio::task::JoinHandle<Result<u32, StoreError>>> {
        let tasks: Vec<_> = jobs
            .map(|job| {
                let (batcher, pool) = (Arc::clone(batcher), pool.clone());
                tokio::spawn(async move {
                    batcher
                        .submit(&pool, job, soon(Duration::from_secs(20)))
                        .await
                })
            })
            .collect();
        let expected = tasks.len();
        while batcher.lock().waiting.len() < expected {
            tokio::task::yield_now().await;
        }
        tasks
    }

    #[test]
    fn the_taker_runs_its_own_job_first_even_when_it_queued_last() {
        let batcher = Batcher::new(probe("SELECT 1"), Duration::from_secs(1), InFlight::new(2));
        let mut queue = batcher.lock();
        let tickets: Vec<u64> = (0..100)
            .map(|job| {
                let (reply, _answer) = oneshot::channel();
                queue.push(job, reply).expect("room")
            })
            .collect();
        let last = *tickets.last().expect("a ticket");
        let batch = queue.take_batch(last).expect("still queued");
        let jobs: Vec<u32> = batch.iter().map(|queued| queued.job).collect();
        assert_eq!(jobs.len(), MAX_BATCH);
        assert_eq!(jobs[0], 99, "its own job first");
        assert_eq!(jobs[1..], (0..63).collect::<Vec<u32>>(), "then the oldest");
        assert!(queue.take_batch(last).is_none(), "taken once");
    }

    #[test]
    fn a_batch_carries_at_most_one_write_per_session() {
        let batcher = Batcher::new(probe("SELECT 1"), Duration::from_secs(1), InFlight::new(2));
        let mut queue = batcher.lock();
        let mut first = None;
        for job in [1000, 1, 1001, 2, 1002] {
            let (reply, _answer) = oneshot::channel();
            let ticket = queue.push(job, reply).expect("room");
            first.get_or_insert(ticket);
        }
        let batch = queue.take_batch(first.expect("a ticket")).expect("queued");
        let jobs: Vec<u32> = batch.iter().map(|queued| queued.job).collect();
        assert_eq!(jobs, [1000, 1, 2]);
        let left: Vec<u32> = queue.waiting.values().map(|queued| queued.job).collect();
        assert_eq!(
            left,
            [1001, 1002],
            "the session's other writes wait, in order"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_hundred_jobs_on_one_connection_all_get_their_answer() {
        let pool = one_connection().await;
        let probe = probe("SELECT 1");
        let batcher = Arc::new(Batcher::new(
            Arc::clone(&probe),
            Duration::from_secs(10),
            InFlight::new(2),
        ));
        let held = pool.acquire().await.expect("the only connection");
        let tasks = queue_jobs(&batcher, &pool, 0..200).await;
        drop(held);
        for (job, task) in tasks.into_iter().enumerate() {
            let answer = task.await.expect("no panic").expect("answered");
            assert_eq!(answer as usize, job, "each job its own answer");
        }
        let batches = probe.batches.lock().expect("batches").clone();
        assert!(batches.len() <= 8, "200 jobs, {} statements", batches.len());
        assert!(batches.iter().all(|batch| batch.len() <= MAX_BATCH));
    }

    #[tokio::test]
    async fn a_job_whose_request_went_away_while_queued_never_runs() {
        let pool = one_connection().await;
        let probe = probe("SELECT 1");
        let batcher = Arc::new(Batcher::new(
            Arc::clone(&probe),
            Duration::from_secs(10),
            InFlight::new(2),
        ));
        let held = pool.acquire().await.expect("the only connection");
        let tasks = queue_jobs(&batcher, &pool, 0..6).await;
        for task in &tasks[..3] {
            task.abort();
        }
        while batcher.lock().waiting.len() > 3 {
            tokio::task::yield_now().await;
        }
        drop(held);
        for task in tasks.into_iter().skip(3) {
            task.await.expect("no panic").expect("answered");
        }
        let ran: Vec<u32> = probe.batches.lock().expect("batches").concat();
        assert_eq!(ran, [3, 4, 5], "the withdrawn jobs were not run");
    }

    #[tokio::test]
    async fn a_batch_that_panics_answers_its_jobs_with_an_error() {
        let pool = one_connection().await;
        let probe = Arc::new(Probe {
            statement: "SELECT 1",
            panics: true,
            ..Probe::default()
        });
        let batcher = Arc::new(Batcher::new(
            probe,
            Duration::from_secs(10),
            InFlight::new(2),
        ));
        let held = pool.acquire().await.expect("the only connection");
        let tasks = queue_jobs(&batcher, &pool, 0..3).await;
        drop(held);
        for task in tasks {
            let error = task.await.expect("the request itself does not panic");
            assert!(matches!(error, Err(StoreError::BatchLost)), "{error:?}");
        }
        assert!(StoreError::BatchLost.is_unavailable(), "a 503");
    }

    #[tokio::test]
    async fn a_statement_that_hangs_costs_its_requests_the_deadline_not_more() {
        let pool = one_connection().await;
        let batcher = Arc::new(Batcher::new(
            probe("SELECT pg_sleep(30)"),
            Duration::from_millis(300),
            InFlight::new(2),
        ));
        let started = Instant::now();
        let error = batcher
            .submit(&pool, 1, soon(Duration::from_millis(300)))
            .await
            .expect_err("the deadline fires");
        assert!(matches!(error, StoreError::Deadline(_)), "{error:?}");
        assert!(error.is_unavailable(), "a 503");
        assert!(started.elapsed() < Duration::from_secs(5));
        // The batch's task gives up too, and closes its connection: the pool
        // serves the next request on a new one.
        let quick = Arc::new(Batcher::new(
            probe("SELECT 1"),
            Duration::from_secs(10),
            InFlight::new(2),
        ));
        let answer = quick
            .submit(&pool, 7, soon(Duration::from_secs(10)))
            .await
            .expect("a fresh connection");
        assert_eq!(answer, 7);
    }

    #[tokio::test]
    async fn a_batch_with_the_wrong_number_of_answers_is_a_bug_not_a_silent_503() {
        let pool = one_connection().await;
        let probe = Arc::new(Probe {
            statement: "SELECT 1",
            short_by: 1,
            ..Probe::default()
        });
        let batcher = Arc::new(Batcher::new(
            probe,
            Duration::from_secs(10),
            InFlight::new(2),
        ));
        let error = batcher
            .submit(&pool, 1, soon(Duration::from_secs(10)))
            .await
            .expect_err("no answer");
        assert!(matches!(error, StoreError::Bug(_)), "{error:?}");
        assert!(!error.is_unavailable(), "a 500: a bug to fix");
    }

    #[tokio::test]
    async fn a_full_queue_refuses_at_once() {
        let pool = one_connection().await;
        let batcher = Arc::new(Batcher::new(
            probe("SELECT 1"),
            Duration::from_secs(10),
            InFlight::new(2),
        ));
        let held = pool.acquire().await.expect("the only connection");
        let tasks = queue_jobs(&batcher, &pool, 0..MAX_QUEUED as u32).await;
        let started = Instant::now();
        let error = batcher
            .submit(&pool, 1, soon(Duration::from_secs(10)))
            .await
            .expect_err("no room");
        assert!(matches!(error, StoreError::Overloaded(_)), "{error:?}");
        assert!(error.is_unavailable(), "a 503");
        assert!(started.elapsed() < Duration::from_secs(1), "at once");
        drop(held);
        for task in tasks {
            task.await
                .expect("no panic")
                .expect("every queued job is answered");
        }
    }
}
