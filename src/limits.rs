//! Limits per client address: how many sign-in and sign-up attempts, and how
//! many new sessions, one client may start.
//!
//! Who "one client" is: the TCP peer, or behind a trusted reverse proxy the
//! client it names (`trusted_proxies.rs`). An IPv6 client counts by its /64
//! network: one subscriber usually gets a whole /64, and could otherwise take
//! a fresh allowance from each of its 2^64 addresses.
//!
//! Two kinds of limit, for two costs:
//!
//! - **Sign-in and sign-up attempts** (`POST /login`, `/register`,
//!   `/account/password`) cost an Argon2id hash each, so they are counted in
//!   PostgreSQL (`take_shared`, table `address_limits`, from
//!   `migrations/0008_address_limits_and_device_versions.sql`): every
//!   instance sharing the database draws from one allowance per address, so
//!   three instances behind one proxy allow an address 20 attempts, not 60.
//!   That costs one statement per attempt, next to the attempt's own
//!   queries and its hash. In front of it each process keeps a flood gate in
//!   memory with twice the allowance: past it, a flooding address costs the
//!   database nothing at all.
//! - **New sessions** (a first visit to `/`, a first `POST /cart/add`) are
//!   counted in memory only (`limit_new_sessions`): counting them in
//!   PostgreSQL would add a round trip to every first visit, which the design
//!   promises costs one. So each process allows an address its own
//!   allowance; behind the proxy, nginx's `limit_req` on cookieless requests
//!   (`deploy/session-demo.nginx.conf`) is the limit all instances share. What
//!   this leaves: a client that forges a cookie to get past nginx meets each
//!   instance's allowance in turn (docs/security.md has the figures).
//!
//! Both answer an address over its limit with the `429` page and a
//! `Retry-After` that is rounded up, so waiting exactly that long is enough.

use std::{
    net::{IpAddr, Ipv6Addr},
    num::NonZeroU32,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use actix_web::{
    HttpRequest, ResponseError, Route,
    body::{EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::header::X_FORWARDED_FOR,
    middleware::{Next, from_fn},
    web,
};
use governor::{
    DefaultKeyedRateLimiter, Quota,
    clock::{Clock, DefaultClock},
};
use sqlx::{PgPool, postgres::types::PgInterval};

pub use crate::config::AddressLimit;
use crate::{error::AppError, session::AppSession, trusted_proxies::TrustedProxies};

/// The address one client's requests count under: the client `req` comes
/// from (see the module documentation), an IPv6 client by its /64 network.
pub fn client_key(req: &HttpRequest) -> IpAddr {
    // Without a peer (a Unix socket, a test request) every request is one client.
    let peer = req
        .peer_addr()
        .map_or(IpAddr::from([0, 0, 0, 0]), |addr| addr.ip());
    let client = match req.app_data::<TrustedProxies>() {
        Some(trusted) => trusted.client_address(peer, req.headers().get_all(X_FORWARDED_FOR)),
        None => peer.to_canonical(),
    };
    match client {
        IpAddr::V6(address) => {
            let network = u128::from(address) & (u128::MAX << 64);
            IpAddr::V6(Ipv6Addr::from(network))
        }
        v4 => v4,
    }
}

/// Whole seconds to wait, rounded up (at least 1): a client that waits
/// exactly this long is let in.
fn whole_seconds(wait: std::time::Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// One process's count of requests per address, in memory (governor's GCRA).
#[derive(Clone)]
pub struct MemoryLimit {
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    checks: Arc<AtomicU64>,
}

impl MemoryLimit {
    /// Every this many checks, addresses whose allowance is whole again are
    /// forgotten, so the map holds only recent clients.
    const SWEEP_EVERY: u64 = 4096;

    /// A limit of `limit`; `None` for a zero burst or period.
    pub fn new(limit: AddressLimit) -> Option<Self> {
        let quota =
            Quota::with_period(limit.refill_every)?.allow_burst(NonZeroU32::new(limit.burst)?);
        Some(Self {
            limiter: Arc::new(DefaultKeyedRateLimiter::keyed(quota)),
            checks: Arc::default(),
        })
    }

    /// Counts one request of `client`: `Err(seconds to wait)` when over the limit.
    pub fn check(&self, client: IpAddr) -> Result<(), u64> {
        if self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(Self::SWEEP_EVERY)
        {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter
            .check_key(&client)
            .map_err(|refused| whole_seconds(refused.wait_time_from(DefaultClock::default().now())))
    }
}

/// Takes one attempt from `client`'s allowance in `bucket`, counted in
/// PostgreSQL for every instance: `Ok(Err(seconds to wait))` when over it.
pub async fn take_shared(
    pool: &PgPool,
    bucket: &str,
    limit: AddressLimit,
    client: IpAddr,
) -> Result<Result<(), u64>, sqlx::Error> {
    let interval = PgInterval::try_from(limit.refill_every).unwrap_or(PgInterval {
        months: 0,
        days: 0,
        microseconds: i64::MAX,
    });
    // GCRA in one statement (see the migration): the attempt pushes
    // `refilled_at` one interval later, unless that would put it more than
    // `burst` intervals past now. `ON CONFLICT ... DO UPDATE` locks the row,
    // so simultaneous attempts from every instance queue here, each seeing
    // the last one's count. A refused attempt changes nothing and returns no
    // row.
    let taken = sqlx::query_scalar::<_, i32>(
        "INSERT INTO address_limits AS l (bucket, address, refilled_at)
         VALUES ($1, $2::inet, now() + $3)
         ON CONFLICT (bucket, address) DO UPDATE
             SET refilled_at = greatest(l.refilled_at, now()) + $3
             WHERE greatest(l.refilled_at, now()) + $3 <= now() + $3 * $4
         RETURNING 1",
    )
    .bind(bucket)
    // As text: sqlx maps `inet` only with a feature this one statement does not need.
    .bind(client.to_string())
    .bind(interval)
    .bind(f64::from(limit.burst))
    .fetch_optional(pool)
    .await?;
    if taken.is_some() {
        return Ok(Ok(()));
    }
    // Refused: how long until one more attempt fits, rounded up. Only the
    // refused path pays this second statement, and `refilled_at` only ever
    // grows, so the wait is never shorter than it really is.
    let wait: Option<f64> = sqlx::query_scalar(
        "SELECT ceil(extract(epoch FROM
                    greatest(refilled_at, now()) + $3 - (now() + $3 * $4)))::float8
         FROM address_limits WHERE bucket = $1 AND address = $2::inet",
    )
    .bind(bucket)
    .bind(client.to_string())
    .bind(interval)
    .bind(f64::from(limit.burst))
    .fetch_optional(pool)
    .await?;
    Ok(Err(wait.map_or(1, |seconds| seconds.max(1.0) as u64)))
}

/// Deletes the rows whose allowance is whole again (run by the pruning task).
pub async fn prune_shared(pool: &PgPool) -> Result<u64, sqlx::Error> {
    // The index on `refilled_at` makes this a range scan.
    Ok(
        sqlx::query("DELETE FROM address_limits WHERE refilled_at < now()")
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

/// The per-address limit on one kind of password attempt: a flood gate in
/// memory, then the allowance every instance shares, in PostgreSQL.
#[derive(Clone)]
pub struct AttemptLimit {
    bucket: &'static str,
    limit: AddressLimit,
    gate: MemoryLimit,
}

impl AttemptLimit {
    /// `limit` per address in `bucket`; `None` for a zero burst or period.
    pub fn new(bucket: &'static str, limit: AddressLimit) -> Option<Self> {
        // Twice the allowance, refilled twice as fast: on its own, one
        // instance never reaches it before the shared limit answers.
        let gate = MemoryLimit::new(AddressLimit {
            burst: limit.burst.saturating_mul(2),
            refill_every: limit.refill_every / 2,
        })?;
        Some(Self {
            bucket,
            limit,
            gate,
        })
    }

    /// `route`, behind this limit.
    pub fn on(&self, route: Route) -> Route {
        let limit = self.clone();
        route.wrap(from_fn(move |req, next| {
            limit_attempts(limit.clone(), req, next)
        }))
    }
}

/// Counts a password attempt against its client's allowance before the
/// handler runs: first the flood gate in memory, then the shared count in
/// PostgreSQL. Over either: the `429` page, and the handler never runs (so a
/// flood hashes nothing).
async fn limit_attempts(
    limit: AttemptLimit,
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let client = client_key(req.request());
    let refusal = match limit.gate.check(client) {
        Err(retry_after) => Some(AppError::TooManyRequests { retry_after }),
        Ok(()) => match req.app_data::<web::Data<PgPool>>() {
            Some(pool) => match take_shared(pool, limit.bucket, limit.limit, client).await {
                Ok(Ok(())) => None,
                Ok(Err(retry_after)) => Some(AppError::TooManyRequests { retry_after }),
                Err(error) => Some(error.into()),
            },
            None => Some(AppError::Internal(anyhow::anyhow!(
                "the pages' PgPool is not registered as app data"
            ))),
        },
    };
    match refusal {
        Some(error) => Ok(req
            .into_response(error.error_response())
            .map_into_right_body()),
        None => Ok(next.call(req).await?.map_into_left_body()),
    }
}

/// The limit on new sessions per address, in this process's memory.
#[derive(Clone)]
pub struct NewSessionLimit(MemoryLimit);

impl NewSessionLimit {
    /// `limit` new sessions per address; `None` for a zero burst or period.
    pub fn new(limit: AddressLimit) -> Option<Self> {
        MemoryLimit::new(limit).map(Self)
    }

    /// `route`, a route that may start a session, behind this limit.
    pub fn on(&self, route: Route) -> Route {
        let limit = self.clone();
        route.wrap(from_fn(move |req, next| {
            limit_new_sessions(limit.clone(), req, next)
        }))
    }
}

/// Counts a request that would start a session against its client's
/// allowance of new sessions; over it, the `429` page and nothing is stored.
///
/// Wrapped inside the session middleware, so the session is loaded: a request
/// whose session already holds something changes that session and is not
/// counted. Everything else is: no cookie, a cookie that does not decrypt,
/// or one whose session has ended (a replayed dead cookie starts a new
/// session like no cookie does).
async fn limit_new_sessions(
    limit: NewSessionLimit,
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let session = req.extract::<AppSession>().await?;
    if !session.holds_anything()
        && let Err(retry_after) = limit.0.check(client_key(req.request()))
    {
        let refusal = AppError::TooManyNewSessions { retry_after };
        return Ok(req
            .into_response(refusal.error_response())
            .map_into_right_body());
    }
    Ok(next.call(req).await?.map_into_left_body())
}

/// Every per-address limit of the app, built once at start and shared by all
/// worker threads (so that each process counts an address once).
#[derive(Clone)]
pub struct AddressLimits {
    /// `POST /login` and `POST /account/password` (a current password is a
    /// password guess like a login's).
    pub login: AttemptLimit,
    /// `POST /register`, in a bucket of its own: signing up does not use up
    /// an address's sign-in attempts, nor the other way round.
    pub register: AttemptLimit,
    /// New sessions: `GET /` and `POST /cart/add` of a browser whose session
    /// holds nothing yet.
    pub new_sessions: NewSessionLimit,
}

impl AddressLimits {
    /// The limits for `attempts` (each of sign-in and sign-up) and `new_sessions`;
    /// `None` if a burst or period is zero.
    pub fn new(attempts: AddressLimit, new_sessions: AddressLimit) -> Option<Self> {
        Some(Self {
            login: AttemptLimit::new("login", attempts)?,
            register: AttemptLimit::new("register", attempts)?,
            new_sessions: NewSessionLimit::new(new_sessions)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn an_ipv6_client_counts_by_its_slash_64() {
        let key = |peer: &str| {
            let req = TestRequest::default()
                .peer_addr(peer.parse().expect("a socket address"))
                .to_http_request();
            client_key(&req).to_string()
        };
        assert_eq!(key("[2001:db8:1:2:aaaa::1]:4000"), "2001:db8:1:2::");
        assert_eq!(key("[2001:db8:1:2:bbbb::7]:4000"), "2001:db8:1:2::");
        assert_eq!(key("[::ffff:192.0.2.7]:4000"), "192.0.2.7");
        assert_eq!(key("192.0.2.7:4000"), "192.0.2.7");
    }

    #[test]
    fn a_memory_limit_refuses_past_its_burst_and_says_how_long_to_wait() {
        let limit = MemoryLimit::new(AddressLimit {
            burst: 2,
            refill_every: std::time::Duration::from_secs(30),
        })
        .expect("a limit");
        let (a, b) = (
            "192.0.2.1".parse().expect("ip"),
            "192.0.2.2".parse().expect("ip"),
        );
        assert_eq!(limit.check(a), Ok(()));
        assert_eq!(limit.check(a), Ok(()));
        let wait = limit.check(a).expect_err("over the limit");
        assert!((29..=30).contains(&wait), "{wait}");
        assert_eq!(limit.check(b), Ok(()), "another address");
    }
}
