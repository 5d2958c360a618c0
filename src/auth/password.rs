//! Password hashing with Argon2id: off the async workers, a few at a time, in
//! memory that is reserved once.
//!
//! Hashing is deliberately expensive (that is what makes stolen hashes costly to
//! crack): tens of milliseconds of CPU and 19 MiB of memory per computation.
//! Three decisions keep that cost from becoming a way to take the app down.
//!
//! 1. **Off the async workers.** Each computation runs on Tokio's blocking
//!    thread pool (`spawn_blocking`), so it never stalls the other requests an
//!    async worker serves.
//! 2. **At most one computation per core at once, in the whole process.** The
//!    blocking pool would run up to 512 at once, and 19 MiB each is gigabytes.
//!    Instead a computation first takes one of [`slot_count`] slots; the rest
//!    wait in line (first come, first served). A request that waits longer than
//!    [`MAX_WAIT`] gives up with [`HashingError::Busy`], a `503` with
//!    `Retry-After`: under a flood the app sheds load instead of queueing
//!    without end, and pages that do not hash keep answering.
//! 3. **Each slot owns its memory, allocated once at start and reused.** Argon2's
//!    own `hash_password_into` allocates its 19 MiB per call and frees it
//!    afterwards, and glibc's `malloc` does not give such blocks back: after the
//!    first one is freed it raises its mmap threshold, serves the next ones from
//!    the arena of whichever blocking thread ran the hash, and keeps those
//!    arenas. Measured with three floods of 256 requests, 64 at a time: with the
//!    slots alone (the same bound, Argon2 allocating per hash) the process went
//!    from 72 MiB to 1 GiB and stayed there; with memory owned by the slots,
//!    from 53 to 55 MiB. There is no allocation per hash at all: the process
//!    holds exactly `slots x 19 MiB` for hashing, from start to end, whatever
//!    the allocator. (Tuning the allocator instead, say with glibc's `mallopt`,
//!    would tie the fix to one allocator, and every hash would still fault in
//!    19 MiB of fresh pages.) `hash_password_into_with_memory` is the Argon2
//!    call that takes its memory from the caller.

use std::{
    fmt,
    sync::{
        Arc, LazyLock, Mutex, OnceLock, PoisonError,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use argon2::{
    Algorithm, Argon2, Block, Params, Version,
    password_hash::{
        generate_salt,
        phc::{Output, ParamsString, PasswordHash, Salt},
    },
};
use tokio::sync::Semaphore;

use crate::error::AppError;

/// Argon2id with OWASP's recommended minimum: 19 MiB of memory, 2 passes, 1 lane.
fn params() -> Params {
    // These constants are valid parameters, so `Params::new` cannot fail here;
    // the fallback is Argon2's own default, which is the same values.
    Params::new(19 * 1024, 2, 1, None).unwrap_or_default()
}

/// The longest a request waits for a hashing slot before it is told to come back.
///
/// A computation takes some tens of milliseconds, so a second in line means
/// dozens of others are ahead: the machine is saturated.
pub const MAX_WAIT: Duration = Duration::from_secs(1);

/// What a request told "busy" is told to wait (the `Retry-After` header, in seconds).
pub const RETRY_AFTER_SECONDS: u64 = 1;

/// How many Argon2 computations may run at once: one per core.
pub fn slot_count() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Why a password could not be hashed or checked.
#[derive(Debug, thiserror::Error)]
pub enum HashingError {
    /// Every slot stayed taken for [`MAX_WAIT`]: try again shortly.
    #[error("every password hashing slot is busy")]
    Busy,
    /// The computation itself failed (a malformed stored hash, a lost task).
    #[error("password hashing failed: {0:#}")]
    Failed(anyhow::Error),
}

/// Busy is a `503` with `Retry-After`; a failure is a bug (`500`).
impl From<HashingError> for AppError {
    fn from(error: HashingError) -> Self {
        match error {
            HashingError::Busy => AppError::Busy {
                retry_after: RETRY_AFTER_SECONDS,
            },
            HashingError::Failed(cause) => AppError::Internal(cause),
        }
    }
}

/// How the hashing slots are doing, for the metrics (`metrics.rs`).
#[derive(Debug, Clone, Copy)]
pub struct HashingQueue {
    /// Requests waiting for a slot now.
    pub waiting: usize,
    /// Requests told [`HashingError::Busy`] since the start.
    pub refused: u64,
}

static WAITING: AtomicUsize = AtomicUsize::new(0);
static REFUSED: AtomicU64 = AtomicU64::new(0);

/// The hashing slots' queue as it is now.
pub fn queue() -> HashingQueue {
    HashingQueue {
        waiting: WAITING.load(Ordering::Relaxed),
        refused: REFUSED.load(Ordering::Relaxed),
    }
}

/// Counts a request as waiting for a slot until dropped.
struct Waiting;

impl Waiting {
    fn start() -> Self {
        WAITING.fetch_add(1, Ordering::Relaxed);
        Self
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        WAITING.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The memory of one Argon2 computation, reused from one to the next.
struct Memory(Vec<Block>);

impl Memory {
    /// Memory for our parameters, touched now so that it is resident from the start.
    fn new() -> Self {
        Self(vec![Block::new(); params().block_count()])
    }

    /// The first `count` blocks (grown once if a stored hash ever asks for more).
    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.0.len() < count {
            self.0.resize(count, Block::new());
        }
        &mut self.0[..count]
    }
}

/// The hashing slots: a fair semaphore counts the free ones, and each free one
/// has its memory waiting in `memories`.
#[derive(Clone)]
struct Slots {
    free: Arc<Semaphore>,
    memories: Arc<Mutex<Vec<Memory>>>,
    max_wait: Duration,
}

impl Slots {
    fn new(count: usize, max_wait: Duration) -> Self {
        Self {
            free: Arc::new(Semaphore::new(count)),
            memories: Arc::new(Mutex::new((0..count).map(|_| Memory::new()).collect())),
            max_wait,
        }
    }

    /// Runs `job` with a slot's memory on the blocking pool, once a slot is free.
    async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Memory) -> anyhow::Result<T> + Send + 'static,
    ) -> Result<T, HashingError> {
        let waiting = Waiting::start();
        let permit = tokio::time::timeout(self.max_wait, self.free.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok);
        drop(waiting);
        let Some(permit) = permit else {
            REFUSED.fetch_add(1, Ordering::Relaxed);
            return Err(HashingError::Busy);
        };
        let memories = self.memories.clone();
        // The permit and the memory go into the blocking task and come back when
        // it ends, even when the request that asked has gone away meanwhile.
        let task = tokio::task::spawn_blocking(move || {
            let take = || {
                memories
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .pop()
            };
            // A free permit always has its memory waiting; the fallback is never used.
            let mut memory = take().unwrap_or_else(Memory::new);
            let result = job(&mut memory);
            memories
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(memory);
            drop(permit);
            result
        });
        match task.await {
            Ok(result) => result.map_err(HashingError::Failed),
            Err(error) => Err(HashingError::Failed(error.into())),
        }
    }
}

/// The process's slots, made (and their memory reserved) by [`warm_up`] at start.
static SLOTS: LazyLock<Slots> = LazyLock::new(|| Slots::new(slot_count(), MAX_WAIT));

/// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) for `password`,
/// with a fresh random salt.
fn hash_in(memory: &mut Memory, password: &[u8]) -> anyhow::Result<String> {
    let params = params();
    let salt = generate_salt();
    let mut output = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(
            password,
            &salt,
            &mut output,
            memory.blocks(params.block_count()),
        )
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params)?,
        salt: Some(Salt::new(&salt)?),
        hash: Some(Output::new(&output)?),
    };
    Ok(phc.to_string())
}

/// True when `password` matches the PHC string `phc`.
///
/// The algorithm, version and parameters come from the stored hash, so old
/// hashes keep working after the parameters are raised.
fn verify_in(memory: &mut Memory, password: &[u8], phc: &str) -> anyhow::Result<bool> {
    let malformed =
        |e: &dyn fmt::Display| anyhow::anyhow!("a stored password hash is malformed: {e}");
    let stored = PasswordHash::new(phc).map_err(|e| malformed(&e))?;
    let algorithm = Algorithm::try_from(stored.algorithm.as_str()).map_err(|e| malformed(&e))?;
    let version = stored
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|e| malformed(&e))?
        .unwrap_or_default();
    let params = Params::try_from(&stored).map_err(|e| malformed(&e))?;
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return Err(malformed(&"no salt or no hash"));
    };
    let mut output = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params.clone())
        .hash_password_into_with_memory(
            password,
            salt.as_ref(),
            &mut output,
            memory.blocks(params.block_count()),
        )
        .map_err(|e| anyhow::anyhow!("verifying a password: {e}"))?;
    // `Output`'s equality compares in constant time.
    Ok(Output::new(&output)? == *expected)
}

/// A hash to verify against when the username does not exist, so that an
/// unknown user takes exactly as long to refuse as a wrong password: the
/// response time must not reveal which usernames exist.
static DUMMY_HASH: OnceLock<String> = OnceLock::new();

/// Hashes a password into a PHC string with a fresh random salt, in a slot.
pub async fn hash(password: String) -> Result<String, HashingError> {
    SLOTS
        .run(move |memory| hash_in(memory, password.as_bytes()))
        .await
}

/// Checks a password against a stored PHC hash, in a slot.
///
/// With `None` (no such user) it checks against a dummy hash and returns
/// false, taking the same time as a real check.
pub async fn verify(password: String, stored_hash: Option<String>) -> Result<bool, HashingError> {
    SLOTS
        .run(move |memory| {
            let exists = stored_hash.is_some();
            let phc = match stored_hash {
                Some(phc) => phc,
                None => dummy_hash(memory)?.clone(),
            };
            Ok(verify_in(memory, password.as_bytes(), &phc)? && exists)
        })
        .await
}

/// The dummy hash, computed on first use.
fn dummy_hash(memory: &mut Memory) -> anyhow::Result<&'static String> {
    if let Some(phc) = DUMMY_HASH.get() {
        return Ok(phc);
    }
    let phc = hash_in(memory, b"dummy password that never matches")?;
    Ok(DUMMY_HASH.get_or_init(|| phc))
}

/// Reserves the slots' memory and computes the dummy hash, ahead of the first
/// login (called at start).
pub async fn warm_up() {
    if let Err(error) = verify(String::new(), None).await {
        log::warn!("warming up password hashing: {error}");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc;

    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_its_password_only() {
        let stored = hash("correct horse".into()).await.expect("hashes");
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            verify("correct horse".into(), Some(stored.clone()))
                .await
                .expect("ok")
        );
        assert!(
            !verify("wrong horse".into(), Some(stored))
                .await
                .expect("ok")
        );
        assert!(
            !verify("dummy password that never matches".into(), None)
                .await
                .expect("ok")
        );
    }

    #[tokio::test]
    async fn hashes_made_elsewhere_verify() {
        use argon2::password_hash::PasswordHasher;
        // A hash made by the argon2 crate's own API, with other parameters.
        let other = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 3, 1, None).expect("params"),
        )
        .hash_password(b"elsewhere")
        .expect("hashes")
        .to_string();
        let mut memory = Memory::new();
        assert!(verify_in(&mut memory, b"elsewhere", &other).expect("ok"));
        assert!(!verify_in(&mut memory, b"elsewhere!", &other).expect("ok"));
        assert!(verify_in(&mut memory, b"x", "not a hash").is_err());
    }

    #[tokio::test]
    async fn past_the_wait_a_request_is_told_busy_and_later_ones_get_through() {
        let slots = Slots::new(1, Duration::from_millis(50));
        let (release, held) = mpsc::channel::<()>();
        let holder = tokio::spawn({
            let slots = slots.clone();
            async move {
                slots
                    .run(move |_| {
                        held.recv().ok();
                        Ok(())
                    })
                    .await
            }
        });
        // Give the holder its slot, then ask for another.
        while slots.free.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        let started = std::time::Instant::now();
        let refused = slots.run(|_| Ok(())).await;
        assert!(matches!(refused, Err(HashingError::Busy)), "{refused:?}");
        assert!(started.elapsed() >= Duration::from_millis(50));

        release.send(()).expect("the holder waits");
        holder.await.expect("joined").expect("the holder ran");
        slots.run(|_| Ok(())).await.expect("a free slot again");
        assert_eq!(
            slots.memories.lock().expect("lock").len(),
            1,
            "memory returned"
        );
    }
}
