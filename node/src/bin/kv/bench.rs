//! `kv bench`: a load generator. Many clients, each its own [`Client`] with its own
//! session id, run as tasks on the one current-thread runtime the node uses, issue puts
//! and gets of fixed-size values over a key space, and the run reports throughput,
//! latency percentiles (HdrHistogram) and errors by kind.
//!
//! Two shapes of load:
//!
//! - **closed loop** (default): each connection sends its next request as soon as the
//!   last one is answered. Throughput is what the cluster gives at that concurrency.
//! - **open loop** (`--rate`): requests are due on a fixed schedule, request `k` at
//!   `k / rate` seconds after the start, whatever the cluster does. The first free
//!   connection takes the earliest request not yet sent, and latency is measured from its
//!   *scheduled* time, not from when it was sent, so a stalled cluster shows in the
//!   percentiles instead of silently slowing the load down (coordinated omission).
//!   Requests still unsent when the run ends are counted as `not sent`.
//!
//! A warm-up runs the same load first and is not counted. Ctrl-C stops the run: the
//! requests in flight are finished (a second Ctrl-C abandons them) and what was measured
//! so far is printed. Only successful requests go into the latency histograms; failures
//! are counted by kind.
//!
//! The run also checks what it reads: a get of a key whose put had completed before the
//! get started must find a value (`lost_write` otherwise) of the bench's value size
//! (`wrong_size` otherwise). Both are counted as errors.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use node::client::{Client, ClientConfig, ClientError};
use node::io::{Rng, TokioNet};
use node::server::{MAX_REQUEST_BYTES, PUT_FRAMING_BYTES};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{parse_any_duration, parse_duration};

const AFTER_HELP: &str = "\
Closed loop (the default): every connection sends its next request as soon as the last \
one is answered. Open loop (--rate): requests are due on a fixed schedule at the given \
total rate, the first free connection sends the earliest one due, and latency is measured \
from when each request was due, so a stall shows in the percentiles. Requests due but \
still unsent at the end are reported as not sent.

Keys are <PREFIX><n> for n in 0..KEYS, picked uniformly; values are VALUE_SIZE bytes. Only \
successful requests count in the latency figures; errors are counted by kind, and a get \
that misses a key put earlier in the run, or finds a value of another size, counts as an \
error. --timeout bounds each request, retries included. Ctrl-C stops early and prints \
what was measured (twice: without waiting for the requests in flight).

Each connection gets a fresh random session id on every run (--seed does not fix it): a \
node answers a repeated (client id, sequence) from its session table, so reusing ids \
across runs would turn new puts into resends of old ones.";

/// The options of `kv bench`, as typed.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = AFTER_HELP)]
pub(crate) struct BenchArgs {
    /// Concurrent clients, each with its own connections and session.
    #[arg(short = 'c', long, default_value_t = 16)]
    connections: u64,
    /// Size of the key space.
    #[arg(short = 'k', long, default_value_t = 1000)]
    keys: u64,
    /// Bytes per value written.
    #[arg(short = 's', long, value_name = "BYTES", default_value_t = 100)]
    value_size: usize,
    /// Fraction of requests that are gets (the rest are puts), from 0 to 1.
    #[arg(
        short = 'g',
        long,
        value_name = "FRACTION",
        default_value_t = 0.5,
        allow_negative_numbers = true
    )]
    gets: f64,
    /// How long to measure, after the warm-up (e.g. 10s, 2m).
    #[arg(short = 'd', long, value_parser = parse_duration, default_value = "10s")]
    duration: Duration,
    /// How long to run the load before measuring (0 for none).
    #[arg(short = 'w', long, value_name = "DURATION", value_parser = parse_warmup, default_value = "2s")]
    warmup: Duration,
    /// Open loop: requests per second in all, on a fixed schedule. Without it the load is
    /// closed-loop.
    #[arg(
        short = 'r',
        long,
        value_name = "OPS_PER_SEC",
        allow_negative_numbers = true
    )]
    rate: Option<f64>,
    /// Seed of the workload (which key, get or put); random when not given. Printed with
    /// the results so a run's workload can be repeated.
    #[arg(long)]
    seed: Option<u64>,
    /// Every key starts with this.
    #[arg(long, value_name = "PREFIX", default_value = "bench-")]
    key_prefix: String,
    /// Load an etcd v3 member at this client address instead (HOST:PORT; gRPC over plain
    /// HTTP/2), with the same workload, to compare on one machine. Needs a kv built with
    /// `--features etcd`.
    #[arg(long, value_name = "HOST:PORT")]
    etcd: Option<String>,
}

/// Most connections one run opens (each may hold a socket per node).
const MAX_CONNECTIONS: u64 = 10_000;

/// Highest open-loop rate accepted: far above what one client thread can send, so only a
/// typo reaches it.
const MAX_RATE: f64 = 10_000_000.0;

/// Latencies are recorded in microseconds, up to an hour, to 3 significant digits.
const HISTOGRAM_MAX_US: u64 = 3_600_000_000;

/// How often the progress bar is redrawn.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Whether requests follow their answers or a schedule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Mode {
    /// Each connection sends its next request when the last one is answered.
    Closed,
    /// Requests are due at `rate` per second in all.
    Open {
        /// Requests per second, above zero.
        rate: f64,
    },
}

/// A checked `kv bench` run.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Options {
    /// Concurrent clients.
    pub connections: u64,
    /// Size of the key space.
    pub keys: u64,
    /// Bytes per value.
    pub value_size: usize,
    /// Fraction of requests that are gets.
    pub gets: f64,
    /// The measured part of the run.
    pub duration: Duration,
    /// The unmeasured start.
    pub warmup: Duration,
    /// Closed or open loop.
    pub mode: Mode,
    /// Seed of the workload.
    pub seed: u64,
    /// Every key starts with this.
    pub key_prefix: String,
    /// An etcd member to load instead of the cluster.
    pub etcd: Option<String>,
}

/// `0` (no unit needed) or any duration [`parse_any_duration`] takes, zero included.
fn parse_warmup(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if !t.is_empty() && t.bytes().all(|b| b == b'0') {
        return Ok(Duration::ZERO);
    }
    parse_any_duration(t)
}

/// Decimal digits of `n`.
fn digits(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

impl BenchArgs {
    /// Checks what clap cannot: ranges, the node's size limit, the open-loop rate.
    pub(crate) fn validate(self) -> Result<Options, String> {
        if self.connections == 0 {
            return Err("--connections must be at least 1".into());
        }
        if self.connections > MAX_CONNECTIONS {
            return Err(format!(
                "--connections {} is more than this tool opens (at most {MAX_CONNECTIONS})",
                self.connections
            ));
        }
        if self.keys == 0 {
            return Err("--keys must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.gets) {
            return Err(format!(
                "--gets is the fraction of gets, from 0 to 1 (e.g. 0.9); got {}",
                self.gets
            ));
        }
        let longest_key = self.key_prefix.len() + digits(self.keys - 1);
        let largest_value = MAX_REQUEST_BYTES
            .checked_sub(PUT_FRAMING_BYTES + longest_key)
            .ok_or_else(|| format!("--key-prefix is too long ({longest_key}-byte keys)"))?;
        if self.value_size > largest_value {
            return Err(format!(
                "--value-size {} is over what a node accepts: a put may carry {MAX_REQUEST_BYTES} \
                 bytes less {PUT_FRAMING_BYTES} of framing and the {longest_key}-byte key, so \
                 at most {largest_value}",
                self.value_size
            ));
        }
        let mode = match self.rate {
            None => Mode::Closed,
            Some(rate) if rate.is_finite() && rate > 0.0 && rate <= MAX_RATE => Mode::Open { rate },
            Some(rate) => {
                return Err(format!(
                    "--rate is requests per second in all, above 0 and at most {MAX_RATE}; \
                     got {rate}"
                ))
            }
        };
        if self.etcd.is_some() && !cfg!(feature = "etcd") {
            return Err("--etcd needs a kv built with the etcd driver: \
                        cargo build --release -p node --features etcd"
                .into());
        }
        Ok(Options {
            connections: self.connections,
            keys: self.keys,
            value_size: self.value_size,
            gets: self.gets,
            duration: self.duration,
            warmup: self.warmup,
            mode,
            seed: self.seed.unwrap_or_else(|| Rng::from_entropy().next_u64()),
            key_prefix: self.key_prefix,
            etcd: self.etcd,
        })
    }
}

/// When open-loop request `k` is due, counted from the start of the run. Computed from
/// `k` alone, so the schedule does not drift however long the run.
pub(crate) fn scheduled_offset(k: u64, rate: f64) -> Duration {
    Duration::from_secs_f64(k as f64 / rate)
}

/// How many open-loop requests are due before `offset`: the first `k` not due yet.
pub(crate) fn due_before(offset: Duration, rate: f64) -> u64 {
    // The float estimate can be one off either way; the schedule itself decides.
    let mut k = (offset.as_secs_f64() * rate).ceil() as u64;
    while k > 0 && scheduled_offset(k - 1, rate) >= offset {
        k -= 1;
    }
    while scheduled_offset(k, rate) < offset {
        k += 1;
    }
    k
}

/// One request's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Get,
    Put,
}

/// A successful request's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// A get found a value.
    Found,
    /// A get found nothing (a key no put of this run had stored when it started).
    Absent,
    /// A put was stored.
    Stored,
}

/// Where one bench connection sends its requests. (One per connection, so the size
/// difference of the variants costs nothing worth boxing for.)
#[allow(clippy::large_enum_variant)]
enum Conn {
    /// A ringkv client.
    Ringkv(Client<TokioNet>),
    /// An etcd member.
    #[cfg(feature = "etcd")]
    Etcd(etcd::EtcdConn),
}

impl Conn {
    async fn get(&mut self, key: Bytes) -> Result<Option<Bytes>, &'static str> {
        match self {
            Conn::Ringkv(c) => c.get(key).await.map_err(|e| error_kind(&e)),
            #[cfg(feature = "etcd")]
            Conn::Etcd(c) => c.get(&key).await,
        }
    }

    async fn put(&mut self, key: Bytes, value: Bytes) -> Result<(), &'static str> {
        match self {
            Conn::Ringkv(c) => c.put(key, value).await.map_err(|e| error_kind(&e)),
            #[cfg(feature = "etcd")]
            Conn::Etcd(c) => c.put(&key, &value).await,
        }
    }
}

/// The name an error is counted under.
fn error_kind(e: &ClientError) -> &'static str {
    match e {
        ClientError::NoSeeds => "no_seeds",
        ClientError::Handshake { .. } => "handshake",
        ClientError::Server(_) => "server",
        ClientError::Protocol { .. } => "protocol",
        ClientError::TooLarge { .. } => "too_large",
        ClientError::Timeout { .. } => "timeout",
    }
}

/// A get of a key whose put had completed before the get started found nothing.
const LOST_WRITE: &str = "lost_write";
/// A get found a value of another size than every put of the run writes.
const WRONG_SIZE: &str = "wrong_size";

/// Latency histogram of one kind of request, in microseconds.
fn histogram() -> Histogram<u64> {
    // The bounds are constants that hdrhistogram accepts.
    Histogram::new_with_bounds(1, HISTOGRAM_MAX_US, 3).expect("valid histogram bounds")
}

/// What the run has counted so far.
struct Record {
    all: Histogram<u64>,
    get: Histogram<u64>,
    put: Histogram<u64>,
    errors: BTreeMap<&'static str, u64>,
    gets: u64,
    gets_found: u64,
    puts: u64,
    /// Requests finished during the warm-up.
    warmup_ops: u64,
    /// Open loop: counted requests that were sent (scheduled after the warm-up).
    sent: u64,
    /// Requests sent and not answered yet.
    in_flight: u64,
}

impl Record {
    fn new() -> Record {
        Record {
            all: histogram(),
            get: histogram(),
            put: histogram(),
            errors: BTreeMap::new(),
            gets: 0,
            gets_found: 0,
            puts: 0,
            warmup_ops: 0,
            sent: 0,
            in_flight: 0,
        }
    }

    fn ops(&self) -> u64 {
        self.all.len() + self.errors.values().sum::<u64>()
    }
}

/// State shared by the tasks of one run (one thread: `Rc`, `Cell`, `RefCell`).
struct Shared {
    opts: Options,
    start: Instant,
    measure_from: Instant,
    end: Instant,
    /// Set by Ctrl-C: send nothing more.
    stopped: Cell<bool>,
    /// Wakes open-loop tasks waiting for their request's time when the run is stopped.
    stop: Notify,
    /// Open loop: the next request of the schedule no connection has taken yet.
    next_ticket: Cell<u64>,
    /// Which keys a put of this run has stored (acknowledged).
    written: RefCell<Vec<bool>>,
    value: Bytes,
    record: RefCell<Record>,
}

impl Shared {
    fn key(&self, n: u64) -> Bytes {
        Bytes::from(format!("{}{n}", self.opts.key_prefix))
    }

    fn halt(&self) {
        self.stopped.set(true);
        self.stop.notify_waiters();
    }

    /// Sends one request and counts its outcome; `from` is when it was due (open loop)
    /// or sent (closed loop), `counted` whether it falls after the warm-up.
    async fn request(&self, client: &mut Conn, rng: &mut Rng, from: Instant, counted: bool) {
        let n = rng.range(0, self.opts.keys);
        // 53 random bits as a fraction in [0, 1): below `gets` is a get, so 0 never
        // gets and 1 always does.
        let draw = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        let kind = if draw < self.opts.gets {
            Kind::Get
        } else {
            Kind::Put
        };
        let key = self.key(n);
        let index = n as usize;
        let was_written = self.written.borrow()[index];
        self.record.borrow_mut().in_flight += 1;
        let outcome = match kind {
            Kind::Get => match client.get(key).await {
                Ok(None) if was_written => Err(LOST_WRITE),
                Ok(None) => Ok(Answer::Absent),
                Ok(Some(v)) if was_written && v.len() != self.opts.value_size => Err(WRONG_SIZE),
                Ok(Some(_)) => Ok(Answer::Found),
                Err(e) => Err(e),
            },
            Kind::Put => client
                .put(key, self.value.clone())
                .await
                .map(|()| Answer::Stored),
        };
        let latency = Instant::now().saturating_duration_since(from);
        if outcome == Ok(Answer::Stored) {
            self.written.borrow_mut()[index] = true;
        }
        let mut r = self.record.borrow_mut();
        r.in_flight -= 1;
        if !counted {
            r.warmup_ops += 1;
            return;
        }
        let answer = match outcome {
            Ok(answer) => answer,
            Err(kind) => {
                *r.errors.entry(kind).or_default() += 1;
                return;
            }
        };
        let us = u64::try_from(latency.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        r.all.saturating_record(us);
        match answer {
            Answer::Found | Answer::Absent => {
                r.gets += 1;
                r.gets_found += u64::from(answer == Answer::Found);
                r.get.saturating_record(us);
            }
            Answer::Stored => {
                r.puts += 1;
                r.put.saturating_record(us);
            }
        }
    }
}

/// One closed-loop connection: request after request until the end or a stop.
async fn closed_loop(shared: Rc<Shared>, mut client: Conn, mut rng: Rng) {
    loop {
        let now = Instant::now();
        if shared.stopped.get() || now >= shared.end {
            return;
        }
        let counted = now >= shared.measure_from;
        shared.request(&mut client, &mut rng, now, counted).await;
    }
}

/// One open-loop connection: takes the earliest request nobody has taken, waits for its
/// time, sends it; stops at the end of the run, on a stop, or when the next request is
/// due only after the end.
async fn open_loop(shared: Rc<Shared>, mut client: Conn, mut rng: Rng, rate: f64) {
    loop {
        if shared.stopped.get() || Instant::now() >= shared.end {
            return;
        }
        let k = shared.next_ticket.get();
        let due = shared.start + scheduled_offset(k, rate);
        if due >= shared.end {
            return;
        }
        shared.next_ticket.set(k + 1);
        tokio::select! {
            _ = tokio::time::sleep_until(due) => {}
            _ = shared.stop.notified() => return,
        }
        if shared.stopped.get() {
            return;
        }
        let counted = due >= shared.measure_from;
        if counted {
            shared.record.borrow_mut().sent += 1;
        }
        shared.request(&mut client, &mut rng, due, counted).await;
    }
}

/// Latency percentiles of one histogram, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Percentiles {
    /// Samples.
    pub count: u64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Largest.
    pub max: u64,
}

/// The percentiles of `h`, `None` without samples.
pub(crate) fn percentiles(h: &Histogram<u64>) -> Option<Percentiles> {
    (!h.is_empty()).then(|| Percentiles {
        count: h.len(),
        mean: h.mean(),
        p50: h.value_at_quantile(0.5),
        p90: h.value_at_quantile(0.9),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
    })
}

/// What a run measured: everything the report prints.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Summary {
    /// The run's options.
    pub opts: Options,
    /// From the end of the warm-up to the last counted answer (or the stop).
    pub measured: Duration,
    /// Stopped by Ctrl-C (`abandoned`: by a second one, with requests in flight).
    pub interrupted: bool,
    /// Requests in flight when a second Ctrl-C stopped the run; not counted.
    pub abandoned: u64,
    /// Counted requests: successes plus errors.
    pub ops: u64,
    /// Successful gets.
    pub gets: u64,
    /// Successful gets that found a value.
    pub gets_found: u64,
    /// Successful puts.
    pub puts: u64,
    /// Failed requests by kind.
    pub errors: BTreeMap<String, u64>,
    /// Requests finished during the warm-up.
    pub warmup_ops: u64,
    /// Open loop: requests due during the measured time that were never sent.
    pub not_sent: Option<u64>,
    /// Latency of every successful request.
    pub all: Option<Percentiles>,
    /// Latency of successful gets.
    pub get: Option<Percentiles>,
    /// Latency of successful puts.
    pub put: Option<Percentiles>,
}

impl Summary {
    /// Successful requests.
    pub fn successes(&self) -> u64 {
        self.gets + self.puts
    }

    /// Failed requests.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Counted requests per second of measured time.
    pub fn ops_per_sec(&self) -> f64 {
        let secs = self.measured.as_secs_f64();
        if secs > 0.0 {
            self.ops as f64 / secs
        } else {
            0.0
        }
    }

    /// The report for people.
    pub fn text(&self) -> String {
        let o = &self.opts;
        let mode = match o.mode {
            Mode::Closed => "closed loop".to_owned(),
            Mode::Open { rate } => format!("open loop at {} ops/s", trim_float(rate)),
        };
        let mut out = format!(
            "kv bench: {mode}, {} connections, {} keys, {}-byte values, {}% gets, {:?} after \
             {:?} of warm-up (seed {})\n",
            o.connections,
            o.keys,
            o.value_size,
            trim_float(o.gets * 100.0),
            o.duration,
            o.warmup,
            o.seed
        );
        if self.interrupted && self.measured.is_zero() {
            out.push_str("interrupted during the warm-up: nothing was measured\n");
        } else if self.interrupted {
            out.push_str("interrupted: the figures cover the run up to Ctrl-C");
            if self.abandoned > 0 {
                out.push_str(&format!(
                    "; {} requests in flight were abandoned, not counted",
                    self.abandoned
                ));
            }
            out.push('\n');
        }
        out.push_str(&format!(
            "ops        {} in {:.2} s: {:.1} ops/s\n",
            self.ops,
            self.measured.as_secs_f64(),
            self.ops_per_sec()
        ));
        out.push_str(&format!(
            "ok         {} (gets {}: {} found, {} absent; puts {})\n",
            self.successes(),
            self.gets,
            self.gets_found,
            self.gets - self.gets_found,
            self.puts
        ));
        let errors: Vec<String> = self
            .errors
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        match errors.is_empty() {
            true => out.push_str("errors     0\n"),
            false => out.push_str(&format!(
                "errors     {}: {}\n",
                self.error_count(),
                errors.join(", ")
            )),
        }
        if let Some(n) = self.not_sent {
            out.push_str(&format!("not sent   {n}"));
            if n > 0 {
                out.push_str(
                    " (due on the schedule but never sent: the cluster fell behind the rate)",
                );
            }
            out.push('\n');
        }
        out.push_str(
            "latency ms       p50       p90       p99     p99.9       max      mean   count\n",
        );
        for (name, p) in [("all", &self.all), ("get", &self.get), ("put", &self.put)] {
            match p {
                Some(p) => out.push_str(&format!(
                    "  {name:<6} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>7}\n",
                    ms(p.p50),
                    ms(p.p90),
                    ms(p.p99),
                    ms(p.p999),
                    ms(p.max),
                    format!("{:.3}", p.mean / 1000.0),
                    p.count
                )),
                None => out.push_str(&format!("  {name:<6} (no successful requests)\n")),
            }
        }
        out.truncate(out.trim_end().len());
        out
    }

    /// The report for scripts: one JSON object, latencies in microseconds.
    pub fn json(&self) -> serde_json::Value {
        let o = &self.opts;
        let lat = |p: &Option<Percentiles>| match p {
            Some(p) => serde_json::json!({
                "count": p.count, "mean": p.mean, "p50": p.p50, "p90": p.p90,
                "p99": p.p99, "p99_9": p.p999, "max": p.max,
            }),
            None => serde_json::Value::Null,
        };
        let (mode, rate) = match o.mode {
            Mode::Closed => ("closed", None),
            Mode::Open { rate } => ("open", Some(rate)),
        };
        serde_json::json!({
            "mode": mode,
            "target_rate": rate,
            "connections": o.connections,
            "keys": o.keys,
            "value_size": o.value_size,
            "get_fraction": o.gets,
            "duration_s": o.duration.as_secs_f64(),
            "warmup_s": o.warmup.as_secs_f64(),
            "seed": o.seed,
            "measured_s": self.measured.as_secs_f64(),
            "interrupted": self.interrupted,
            "abandoned": self.abandoned,
            "ops": self.ops,
            "ops_per_sec": self.ops_per_sec(),
            "successes": self.successes(),
            "gets": self.gets,
            "gets_found": self.gets_found,
            "puts": self.puts,
            "error_count": self.error_count(),
            "errors": self.errors,
            "warmup_ops": self.warmup_ops,
            "not_sent": self.not_sent,
            "latency_us": {"all": lat(&self.all), "get": lat(&self.get), "put": lat(&self.put)},
        })
    }
}

/// Microseconds as milliseconds with three decimals.
fn ms(us: u64) -> String {
    format!("{}.{:03}", us / 1000, us % 1000)
}

/// A float without a trailing `.0` when it is whole.
fn trim_float(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{}", x as i64)
    } else {
        format!("{x}")
    }
}

/// How the run is watched: a progress bar, Ctrl-C.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Watch {
    /// Draw a progress bar on stderr (hidden anyway when stderr is not a terminal).
    pub progress: bool,
    /// Stop on Ctrl-C (off in tests, which share the process).
    pub ctrl_c: bool,
}

/// Runs the load against the cluster `config` points at and returns what it measured.
pub(crate) async fn run(opts: Options, config: ClientConfig, watch: Watch) -> Summary {
    let start = Instant::now();
    let measure_from = start + opts.warmup;
    let end = measure_from + opts.duration;
    let mut workload = Rng::from_seed(opts.seed);
    // Session ids must be new on every run (see AFTER_HELP), so they do not come from
    // the seed.
    let mut ids = Rng::from_entropy();
    let shared = Rc::new(Shared {
        start,
        measure_from,
        end,
        stopped: Cell::new(false),
        stop: Notify::new(),
        next_ticket: Cell::new(0),
        written: RefCell::new(vec![false; opts.keys as usize]),
        value: (0..opts.value_size)
            .map(|i| b'a' + (i % 26) as u8)
            .collect(),
        record: RefCell::new(Record::new()),
        opts,
    });
    let mut tasks = Vec::new();
    for _ in 0..shared.opts.connections {
        let client = match &shared.opts.etcd {
            #[cfg(feature = "etcd")]
            Some(addr) => Conn::Etcd(etcd::EtcdConn::new(addr.clone(), config.deadline)),
            _ => Conn::Ringkv(Client::new(TokioNet, config.clone(), ids.fork())),
        };
        let rng = workload.fork();
        let task = match shared.opts.mode {
            Mode::Closed => tokio::task::spawn_local(closed_loop(shared.clone(), client, rng)),
            Mode::Open { rate } => {
                tokio::task::spawn_local(open_loop(shared.clone(), client, rng, rate))
            }
        };
        tasks.push(task);
    }
    let bar = progress_bar(&shared, watch.progress);
    let ticker = tokio::task::spawn_local(tick_progress(shared.clone(), bar.clone()));
    let all_done = async {
        for task in tasks {
            // A task that panicked has already printed why; the others' figures stand.
            let _ = task.await;
        }
    };
    tokio::pin!(all_done);
    let mut interrupted = false;
    let mut abandoned = 0;
    let mut stopped_at = None;
    tokio::select! {
        _ = &mut all_done => {}
        _ = ctrl_c(watch.ctrl_c) => {
            interrupted = true;
            stopped_at = Some(Instant::now());
            shared.halt();
            bar.println("stopping: waiting for the requests in flight (Ctrl-C again to stop at once)");
            tokio::select! {
                _ = &mut all_done => {}
                _ = ctrl_c(true) => abandoned = shared.record.borrow().in_flight,
            }
        }
    }
    // Not before the end of the measured time (or the stop): an open loop whose last
    // request was due a little before the end is done early, but its rate is per window.
    let finished = Instant::now().max(stopped_at.unwrap_or(end).min(end));
    ticker.abort();
    bar.finish_and_clear();
    let r = shared.record.borrow();
    let not_sent = match shared.opts.mode {
        Mode::Closed => None,
        Mode::Open { rate } => {
            let until = stopped_at.unwrap_or(end).min(end);
            let due = due_before(until - start, rate)
                .saturating_sub(due_before(measure_from - start, rate));
            Some(due.saturating_sub(r.sent))
        }
    };
    Summary {
        opts: shared.opts.clone(),
        measured: finished.saturating_duration_since(measure_from),
        interrupted,
        abandoned,
        ops: r.ops(),
        gets: r.gets,
        gets_found: r.gets_found,
        puts: r.puts,
        errors: r.errors.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
        warmup_ops: r.warmup_ops,
        not_sent,
        all: percentiles(&r.all),
        get: percentiles(&r.get),
        put: percentiles(&r.put),
    }
}

/// Resolves on Ctrl-C if `listen`, else never.
async fn ctrl_c(listen: bool) {
    if listen && tokio::signal::ctrl_c().await.is_ok() {
        return;
    }
    std::future::pending::<()>().await
}

fn progress_bar(shared: &Shared, show: bool) -> ProgressBar {
    let total = shared.end - shared.start;
    let target = if show {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(total.as_millis() as u64), target);
    let style = ProgressStyle::with_template("{elapsed_precise} [{bar:30.cyan/blue}] {msg}")
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// Moves the bar with the clock and shows the counts so far.
async fn tick_progress(shared: Rc<Shared>, bar: ProgressBar) {
    loop {
        let now = Instant::now();
        bar.set_position((now.min(shared.end) - shared.start).as_millis() as u64);
        let message = {
            let r = shared.record.borrow();
            if now < shared.measure_from {
                format!("warm-up: {} ops", r.warmup_ops)
            } else {
                let secs = (now - shared.measure_from).as_secs_f64().max(1e-3);
                let errors: u64 = r.errors.values().sum();
                format!(
                    "{} ops, {:.0} ops/s, {errors} errors, p99 {} ms",
                    r.ops(),
                    r.ops() as f64 / secs,
                    ms(r.all.value_at_quantile(0.99))
                )
            }
        };
        bar.set_message(message);
        if now >= shared.end {
            bar.set_message(format!(
                "{} (finishing {} in flight)",
                bar.message(),
                shared.record.borrow().in_flight
            ));
        }
        tokio::time::sleep(PROGRESS_EVERY).await;
    }
}

/// `kv bench` from the command line: checks that the cluster answers, runs, prints the
/// report (`json`: one JSON object).
pub(crate) async fn main(opts: Options, config: ClientConfig, json: bool) -> anyhow::Result<()> {
    if opts.etcd.is_none() {
        let mut probe = Client::new(TokioNet, config.clone(), Rng::from_entropy());
        probe
            .metadata()
            .await
            .context("cannot reach the cluster to benchmark it")?;
    }
    let summary = run(
        opts,
        config,
        Watch {
            progress: true,
            ctrl_c: true,
        },
    )
    .await;
    if json {
        super::say(&summary.json().to_string())
    } else {
        super::say(&summary.text())
    }
}

#[cfg(feature = "etcd")]
mod etcd;
#[cfg(test)]
mod tests;
