//! Batching: the store work of many concurrent requests in one statement.
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
//! 1. A request puts its job in the queue, then asks the pool for a connection.
//! 2. Whoever gets a connection takes every job waiting (up to 64), its own
//!    or not, and runs them as one statement in a task of its own (so a
//!    request that goes away cannot abandon the others).
//! 3. Each request waits for its answer, which arrives once its batch's
//!    statement has returned (committed, for a write): durability is the same
//!    as one statement per request.
//!
//! When a connection is idle, the first step finds one at once and the batch
//! is that one job: a request alone costs exactly its one statement, at once.
//! Only when every connection is busy do jobs wait, and then they wait together.
//!
//! If a batch of several jobs fails (a deadlock with another statement, say),
//! nobody learns another request's error: each request runs its own job alone,
//! as if there were no batching, and gets its own answer. A batch of one job
//! hands its error straight back.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use sqlx::PgConnection;
use tokio::sync::oneshot;

use crate::pool::{PooledConnection, SessionPool};

/// The most jobs one statement carries. Larger batches save little more and
/// make each statement's locks and parameters larger.
pub(crate) const MAX_BATCH: usize = 64;

/// One kind of store step that can run for many jobs in one statement.
pub(crate) trait Batch: Send + Sync + 'static {
    /// What one request needs done (a key digest, and the data to write).
    type Job: Send + 'static;
    /// What one request gets back.
    type Answer: Send + 'static;

    /// Runs `jobs` as one statement; the answers come in the order of the jobs.
    fn run(
        &self,
        connection: &mut PgConnection,
        jobs: &[Self::Job],
    ) -> impl Future<Output = Result<Vec<Self::Answer>, sqlx::Error>> + Send;
}

/// What a request learns about its job.
enum Outcome<B: Batch> {
    /// Its batch ran; this is its answer.
    Done(B::Answer),
    /// It was alone in its batch, which failed.
    Failed(sqlx::Error),
    /// Its batch of several failed: here is the job back, to run alone.
    RunAlone(B::Job),
}

/// The queue of one kind of step, for one pool.
pub(crate) struct Batcher<B: Batch> {
    batch: B,
    queue: Mutex<Queue<B>>,
}

struct Queue<B: Batch> {
    next_ticket: u64,
    waiting: Vec<Waiting<B>>,
}

struct Waiting<B: Batch> {
    ticket: u64,
    job: B::Job,
    reply: oneshot::Sender<Outcome<B>>,
}

impl<B: Batch> Batcher<B> {
    pub(crate) fn new(batch: B) -> Self {
        Self {
            batch,
            queue: Mutex::new(Queue {
                next_ticket: 0,
                waiting: Vec::new(),
            }),
        }
    }

    /// Queues `job`, helps run the queue when a connection comes free, and
    /// returns the job's answer once its batch has run.
    ///
    /// An error is this job's own: the pool had no connection for it (its
    /// timeout, or the database is down), or its statement failed.
    pub(crate) async fn submit(
        self: &Arc<Self>,
        pool: &SessionPool,
        job: B::Job,
    ) -> Result<B::Answer, sqlx::Error> {
        let (reply, mut answer) = oneshot::channel();
        let ticket = self.lock().push(job, reply);
        // If this request goes away while its job still waits, take the job
        // back out: nobody would read its answer.
        let withdraw_on_drop = Withdraw {
            batcher: self,
            ticket,
        };

        let outcome = tokio::select! {
            // An answer that has already arrived comes first: there is no
            // need for a connection then.
            biased;
            outcome = &mut answer => {
                withdraw_on_drop.disarm();
                outcome
            }
            connection = pool.acquire() => {
                withdraw_on_drop.disarm();
                match connection {
                    Ok(connection) => self.run_waiting(connection),
                    // Still queued: nobody took it, so it never runs.
                    Err(error) if self.lock().withdraw(ticket) => return Err(error),
                    // Someone took it before our wait ended: its answer comes.
                    Err(_) => {}
                }
                answer.await
            }
        };
        // The batch task answers every job it takes; only a runtime shutting
        // down could drop a job unanswered.
        match outcome.unwrap_or(Outcome::Failed(sqlx::Error::WorkerCrashed)) {
            Outcome::Done(answer) => Ok(answer),
            Outcome::Failed(error) => Err(error),
            Outcome::RunAlone(job) => {
                let jobs = [job];
                let answers = pool
                    .run(async |connection| self.batch.run(connection, &jobs).await)
                    .await?;
                answers.into_iter().next().ok_or_else(|| {
                    sqlx::Error::Protocol("a batch of one job gave no answer".into())
                })
            }
        }
    }

    /// Takes every waiting job (ours included, unless someone was quicker)
    /// and runs them on `connection` in a task of their own.
    fn run_waiting(self: &Arc<Self>, connection: PooledConnection) {
        let waiting = self.lock().take(MAX_BATCH);
        if waiting.is_empty() {
            return; // every job was taken already: the connection goes back
        }
        let batcher = Arc::clone(self);
        tokio::spawn(async move {
            let mut connection = connection;
            let (jobs, replies): (Vec<_>, Vec<_>) = waiting
                .into_iter()
                .map(|waiting| (waiting.job, waiting.reply))
                .unzip();
            let result = batcher.batch.run(&mut connection, &jobs).await;
            match result {
                Ok(answers) => {
                    // The connection goes back first, for the requests woken below.
                    drop(connection);
                    for (reply, answer) in replies.into_iter().zip(answers) {
                        // A request that went away does not read its answer.
                        let _ = reply.send(Outcome::Done(answer));
                    }
                }
                Err(error) => {
                    // The connection may be broken: close it, never reuse it.
                    connection.discard();
                    let mut replies = replies;
                    if replies.len() == 1 {
                        if let Some(reply) = replies.pop() {
                            let _ = reply.send(Outcome::Failed(error));
                        }
                        return;
                    }
                    log::debug!(
                        "a batch of {} failed, each job runs alone: {error}",
                        jobs.len()
                    );
                    for (reply, job) in replies.into_iter().zip(jobs) {
                        let _ = reply.send(Outcome::RunAlone(job));
                    }
                }
            }
        });
    }

    fn lock(&self) -> MutexGuard<'_, Queue<B>> {
        // The queue is only ever pushed to and drained: it stays consistent
        // even if a thread panicked while holding the lock.
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<B: Batch> Queue<B> {
    fn push(&mut self, job: B::Job, reply: oneshot::Sender<Outcome<B>>) -> u64 {
        let ticket = self.next_ticket;
        self.next_ticket += 1;
        self.waiting.push(Waiting { ticket, job, reply });
        ticket
    }

    fn take(&mut self, at_most: usize) -> Vec<Waiting<B>> {
        let count = self.waiting.len().min(at_most);
        self.waiting.drain(..count).collect()
    }

    /// Removes the job with `ticket`; false if it was no longer waiting.
    fn withdraw(&mut self, ticket: u64) -> bool {
        let before = self.waiting.len();
        self.waiting.retain(|waiting| waiting.ticket != ticket);
        self.waiting.len() != before
    }
}

/// Withdraws a job if the request that queued it is dropped while waiting.
struct Withdraw<'a, B: Batch> {
    batcher: &'a Batcher<B>,
    ticket: u64,
}

impl<B: Batch> Withdraw<'_, B> {
    /// The job ran or was withdrawn already: nothing to do on drop.
    fn disarm(self) {
        std::mem::forget(self);
    }
}

impl<B: Batch> Drop for Withdraw<'_, B> {
    fn drop(&mut self) {
        self.batcher.lock().withdraw(self.ticket);
    }
}
