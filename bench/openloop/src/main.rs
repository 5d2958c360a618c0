//! `openloop`: sends GET requests at a fixed rate, whatever the server does,
//! and measures each one's latency from the moment it was due.
//!
//! A closed-loop load generator (wrk, or any N-clients loop) sends the next
//! request only when an answer came back, so when the server stalls it stops
//! asking and the stall shows up in one sample instead of in every request
//! that should have been sent meanwhile ("coordinated omission"). Here a
//! scheduler thread releases requests at their due times (Poisson arrivals at
//! `--rate`, like `pgbench --rate`), `--connections` keep-alive connections
//! take them in turn, and a request that waited for a free connection counts
//! that wait in its latency.
//!
//! Why not oha: its `--latency-correction` does the same correction, but it
//! sends one fixed set of headers, so every request would carry the same
//! session cookie; the benchmark needs each request to carry the next of many
//! sessions (as `scripts/bench/rotate.lua` does for wrk), or `GET /` measures
//! one row's lock instead of the store. And the pruning run needs each
//! request's time, to cut out the seconds when pruning ran.
//!
//! ```text
//! openloop --url http://127.0.0.1:8080/visits --rate 2000 --duration 15
//!          [--connections 64] [--cookies FILE] [--timeout 10] [--log FILE] [--closed]
//! ```
//!
//! `--closed`: a closed loop instead (the rate is ignored): each connection
//! sends its next request as soon as the previous answer came, as wrk does,
//! and latency counts from the send. A second opinion on wrk's latencies,
//! measured with a monotonic clock.
//!
//! `--cookies FILE`: one `name=value` per line; request i carries line i mod n.
//! `--log FILE`: one line per request, `due_unix_us latency_us status`
//! (status 0: no answer), written at the end.
//! SIGINT or SIGTERM ends the run early (requests already due still run).
//!
//! Prints one line to stdout:
//! `OPENLOOP requests= ok= non2xx= errors= rate= achieved= p50_us= p90_us= p99_us= p999_us= max_us= seconds= late_dispatch_p99_us=`
//! (`non2xx`: answers with a status of 400 or more, like wrk; `errors`:
//! requests without an answer: connection failures and timeouts).

use std::{
    net::{SocketAddr, ToSocketAddrs},
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{
    Request,
    client::conn::http1,
    header::{COOKIE, HOST, HeaderValue},
};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpStream, sync::mpsc};

/// The command line, parsed.
struct Options {
    address: SocketAddr,
    host: HeaderValue,
    path: String,
    rate: f64,
    duration: Duration,
    connections: usize,
    cookies: Vec<HeaderValue>,
    timeout: Duration,
    log: Option<String>,
    /// `--closed`: no schedule; each connection sends its next request as soon
    /// as the previous answer came (like wrk), latency from the send.
    closed: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: openloop --url http://HOST:PORT/PATH --rate PER_SECOND --duration SECONDS \
         [--connections N] [--cookies FILE] [--timeout SECONDS] [--log FILE] [--closed]"
    );
    std::process::exit(2)
}

fn fail(message: impl std::fmt::Display) -> ! {
    eprintln!("openloop: {message}");
    std::process::exit(1)
}

fn parse_options() -> Options {
    let mut url = None;
    let mut rate = None;
    let mut duration = None;
    let mut connections = 64;
    let mut cookies = Vec::new();
    let mut timeout = Duration::from_secs(10);
    let mut log = None;
    let mut closed = false;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--closed" {
            closed = true;
            rate = rate.or(Some(1.0));
            continue;
        }
        let value = args.next().unwrap_or_else(|| usage());
        let number = |text: &str| -> f64 {
            text.parse()
                .ok()
                .filter(|n: &f64| n.is_finite() && *n > 0.0)
                .unwrap_or_else(|| fail(format!("{flag} needs a positive number, got `{text}`")))
        };
        match flag.as_str() {
            "--url" => url = Some(value),
            "--rate" => rate = Some(number(&value)),
            "--duration" => duration = Some(Duration::from_secs_f64(number(&value))),
            "--connections" => connections = number(&value) as usize,
            "--timeout" => timeout = Duration::from_secs_f64(number(&value)),
            "--log" => log = Some(value),
            "--cookies" => {
                let text = std::fs::read_to_string(&value)
                    .unwrap_or_else(|e| fail(format!("reading {value}: {e}")));
                cookies = text
                    .lines()
                    .filter(|line| !line.trim().is_empty())
                    .map(|line| {
                        HeaderValue::from_str(line.trim()).unwrap_or_else(|_| {
                            fail(format!("{value}: not a header value: {line}"))
                        })
                    })
                    .collect();
                if cookies.is_empty() {
                    fail(format!("{value} holds no cookies"));
                }
            }
            _ => usage(),
        }
    }
    let (Some(url), Some(rate), Some(duration)) = (url, rate, duration) else {
        usage()
    };
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| fail("only http:// URLs are supported"));
    let (authority, path) = match rest.find('/') {
        Some(slash) => (&rest[..slash], rest[slash..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    let address = authority
        .to_socket_addrs()
        .ok()
        .and_then(|mut addresses| addresses.next())
        .unwrap_or_else(|| fail(format!("cannot resolve {authority}")));
    Options {
        address,
        host: HeaderValue::from_str(authority).unwrap_or_else(|_| fail("bad host in --url")),
        path,
        rate,
        duration,
        connections: connections.max(1),
        cookies,
        timeout,
        log,
        closed,
    }
}

/// One request to send: its number and when it is due.
struct Job {
    index: u64,
    due: Instant,
}

/// What happened to one request.
#[derive(Clone, Copy)]
struct Sample {
    due: Instant,
    latency_us: u32,
    /// The HTTP status, or 0 when no answer came (connection error, timeout).
    status: u16,
}

/// A tiny deterministic random source (SplitMix64) for the arrival times; the
/// same seed gives every run the same schedule.
struct SplitMix(u64);

impl SplitMix {
    fn next_unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        // 53 random bits in (0, 1]: never 0, so ln() below stays finite.
        ((z >> 11) as f64 + 1.0) / (1u64 << 53) as f64
    }
}

/// Releases jobs at their due times until the duration is over or `stop` is
/// set. Runs on an OS thread of its own: `thread::sleep` wakes within tens of
/// microseconds, where tokio's timers round up to whole milliseconds. Returns
/// how late each release was, in microseconds (the generator's own error).
fn schedule(
    start: Instant,
    rate: f64,
    duration: Duration,
    stop: &AtomicBool,
    jobs: mpsc::UnboundedSender<Job>,
) -> Vec<u32> {
    let mut random = SplitMix(0x5EED);
    let mut lateness = Vec::new();
    let mut offset = 0.0_f64;
    let mut index = 0;
    loop {
        // Exponential gaps between arrivals: a Poisson process at `rate`.
        offset += -random.next_unit().ln() / rate;
        if offset >= duration.as_secs_f64() || stop.load(Ordering::Relaxed) {
            return lateness;
        }
        let due = start + Duration::from_secs_f64(offset);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        lateness.push(micros(Instant::now().saturating_duration_since(due)));
        if jobs.send(Job { index, due }).is_err() {
            return lateness;
        }
        index += 1;
    }
}

fn micros(duration: Duration) -> u32 {
    u32::try_from(duration.as_micros()).unwrap_or(u32::MAX)
}

type Sender = http1::SendRequest<Empty<Bytes>>;

async fn connect(address: SocketAddr) -> std::io::Result<Sender> {
    let stream = TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(sender)
}

/// Sends one request on `sender` and reads the whole answer; the status, or
/// `None` when the connection failed or the answer took longer than `timeout`.
async fn send(sender: &mut Sender, options: &Options, index: u64) -> Option<u16> {
    let mut request = Request::get(options.path.as_str()).header(HOST, options.host.clone());
    if !options.cookies.is_empty() {
        let cookie = &options.cookies[(index % options.cookies.len() as u64) as usize];
        request = request.header(COOKIE, cookie.clone());
    }
    let request = request.body(Empty::new()).ok()?;
    let exchange = async {
        sender.ready().await.ok()?;
        let response = sender.send_request(request).await.ok()?;
        let status = response.status().as_u16();
        response.into_body().collect().await.ok()?;
        Some(status)
    };
    tokio::time::timeout(options.timeout, exchange)
        .await
        .ok()
        .flatten()
}

/// One connection's loop: take the next due job, send it, record it. After a
/// failure the connection is replaced before the next job; a job that finds
/// no connection (the server is gone) is recorded as an error at once, so
/// every scheduled request ends up in the results.
async fn worker(
    options: Arc<Options>,
    sender: Sender,
    jobs: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Job>>>,
    samples: Arc<Mutex<Vec<Sample>>>,
) {
    let mut sender = Some(sender);
    loop {
        let Some(job) = jobs.lock().await.recv().await else {
            return;
        };
        if sender.is_none() {
            sender = connect(options.address).await.ok();
        }
        let status = match sender.as_mut() {
            Some(connection) => send(connection, &options, job.index).await,
            None => None,
        };
        if status.is_none() {
            // The connection may be broken or hold an unfinished exchange.
            sender = None;
        }
        samples.lock().expect("samples lock").push(Sample {
            due: job.due,
            latency_us: micros(Instant::now().saturating_duration_since(job.due)),
            status: status.unwrap_or(0),
        });
    }
}

/// One connection's closed loop: send, wait for the answer, record, repeat
/// until `until`. `next` numbers the requests across connections (the cookie
/// rotation).
async fn closed_worker(
    options: Arc<Options>,
    mut sender: Option<Sender>,
    until: Instant,
    next: Arc<std::sync::atomic::AtomicU64>,
    samples: Arc<Mutex<Vec<Sample>>>,
) {
    let mut mine = Vec::new();
    while Instant::now() < until {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let sent = Instant::now();
        if sender.is_none() {
            sender = connect(options.address).await.ok();
        }
        let status = match sender.as_mut() {
            Some(connection) => send(connection, &options, index).await,
            None => None,
        };
        if status.is_none() {
            sender = None;
        }
        mine.push(Sample {
            due: sent,
            latency_us: micros(sent.elapsed()),
            status: status.unwrap_or(0),
        });
    }
    samples.lock().expect("samples lock").extend(mine);
}

/// The value at quantile `q` of sorted `values` (nearest rank).
fn quantile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn main() {
    let options = Arc::new(parse_options());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(format!("starting the runtime: {e}")));
    runtime.block_on(run(options));
}

async fn run(options: Arc<Options>) {
    // Every connection is open before the first request is due.
    let mut senders = Vec::with_capacity(options.connections);
    for _ in 0..options.connections {
        senders.push(
            connect(options.address)
                .await
                .unwrap_or_else(|e| fail(format!("connecting to {}: {e}", options.address))),
        );
    }

    if options.closed {
        let start = Instant::now();
        let until = start + options.duration;
        let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let workers: Vec<_> = senders
            .into_iter()
            .map(|sender| {
                tokio::spawn(closed_worker(
                    options.clone(),
                    Some(sender),
                    until,
                    next.clone(),
                    samples.clone(),
                ))
            })
            .collect();
        for worker in workers {
            let _ = worker.await;
        }
        let seconds = start.elapsed().as_secs_f64();
        let samples = std::mem::take(&mut *samples.lock().expect("samples lock"));
        let mut latencies: Vec<u32> = samples.iter().map(|s| s.latency_us).collect();
        latencies.sort_unstable();
        let mean =
            latencies.iter().map(|&l| f64::from(l)).sum::<f64>() / latencies.len().max(1) as f64;
        println!(
            "CLOSEDLOOP requests={} rps={:.0} p50_us={} p99_us={} p999_us={} max_us={} mean_us={mean:.0} errors={}",
            samples.len(),
            samples.len() as f64 / seconds,
            quantile(&latencies, 0.50),
            quantile(&latencies, 0.99),
            quantile(&latencies, 0.999),
            latencies.last().copied().unwrap_or(0),
            samples
                .iter()
                .filter(|s| s.status == 0 || s.status >= 400)
                .count(),
        );
        return;
    }

    let (job_sender, job_receiver) = mpsc::unbounded_channel();
    let jobs = Arc::new(tokio::sync::Mutex::new(job_receiver));
    let expected = options.rate * options.duration.as_secs_f64() * 1.05;
    let samples = Arc::new(Mutex::new(Vec::with_capacity(
        expected.min(2e6) as usize + 16,
    )));
    let workers: Vec<_> = senders
        .into_iter()
        .map(|sender| {
            tokio::spawn(worker(
                options.clone(),
                sender,
                jobs.clone(),
                samples.clone(),
            ))
        })
        .collect();

    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now() + Duration::from_millis(20);
    let start_unix_us = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
        + 20_000;
    let scheduler = {
        let stop = stop.clone();
        let (rate, duration) = (options.rate, options.duration);
        std::thread::spawn(move || schedule(start, rate, duration, &stop, job_sender))
    };

    // Stop early on SIGINT or SIGTERM.
    {
        let stop = stop.clone();
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let (Ok(mut interrupt), Ok(mut terminate)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            tokio::select! {
                _ = interrupt.recv() => {}
                _ = terminate.recv() => {}
            }
            stop.store(true, Ordering::Relaxed);
        });
    }

    for worker in workers {
        let _ = worker.await;
    }
    let ended = Instant::now();
    let mut lateness = scheduler.join().unwrap_or_default();
    let samples = std::mem::take(&mut *samples.lock().expect("samples lock"));

    let seconds = ended
        .saturating_duration_since(start)
        .as_secs_f64()
        .max(1e-9);
    let scheduled_seconds = if stop.load(Ordering::Relaxed) {
        samples
            .iter()
            .map(|s| s.due.saturating_duration_since(start).as_secs_f64())
            .fold(0.0, f64::max)
    } else {
        options.duration.as_secs_f64()
    }
    .max(1e-9);
    let ok = samples
        .iter()
        .filter(|s| (1..400).contains(&s.status))
        .count();
    let non2xx = samples.iter().filter(|s| s.status >= 400).count();
    let errors = samples.iter().filter(|s| s.status == 0).count();
    let mut latencies: Vec<u32> = samples.iter().map(|s| s.latency_us).collect();
    latencies.sort_unstable();
    lateness.sort_unstable();

    if let Some(path) = &options.log {
        use std::io::Write;
        let file = std::fs::File::create(path).unwrap_or_else(|e| fail(format!("{path}: {e}")));
        let mut out = std::io::BufWriter::new(file);
        for sample in &samples {
            let due_us =
                start_unix_us + sample.due.saturating_duration_since(start).as_micros() as u64;
            writeln!(out, "{due_us} {} {}", sample.latency_us, sample.status)
                .unwrap_or_else(|e| fail(format!("{path}: {e}")));
        }
        out.flush().unwrap_or_else(|e| fail(format!("{path}: {e}")));
    }

    println!(
        "OPENLOOP requests={} ok={ok} non2xx={non2xx} errors={errors} rate={:.0} achieved={:.0} \
         p50_us={} p90_us={} p99_us={} p999_us={} max_us={} seconds={seconds:.1} \
         start_unix_us={start_unix_us} late_dispatch_p99_us={}",
        samples.len(),
        options.rate,
        ok as f64 / scheduled_seconds,
        quantile(&latencies, 0.50),
        quantile(&latencies, 0.90),
        quantile(&latencies, 0.99),
        quantile(&latencies, 0.999),
        latencies.last().copied().unwrap_or(0),
        quantile(&lateness, 0.99),
    );
}
