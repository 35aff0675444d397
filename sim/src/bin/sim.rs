//! `sim`: the command-line front end of the simulation harness.
//!
//! - `sim run`: many scenarios × many seeds on worker threads, a progress bar, a summary
//!   table with simulated seconds per wall second, and for each failing case its checks,
//!   a replay command and a regression scenario file.
//! - `sim replay`: one case in full: its scenario (printed before the run), the sequence
//!   diagram, the trace one line per event, the trace hash and the checks' verdict.
//! - `sim hash`: only the trace hash of one case, to show that two processes agree.
//! - `sim explore`: seeds × swarm fault plans over the scenarios, sharded, with a JSON
//!   summary; `sim shrink`: a failing case cut down to a short regression file.
//! - `sim bench` and `sim bench-checker`: the simulator's and the checker's speed.
//! - `--html` (replay) and `--html-dir` (run, explore): the run as a self-contained HTML
//!   page to look at in a browser (`sim::report`).
//!
//! Exit codes: 0 every check passed; 1 a check failed; 2 bad usage, a bad scenario file,
//! or a file that could not be read.
//!
//! Argument parsing, printing and exit codes live here; the reusable parts (file discovery,
//! seed ranges, the worker pool, the table, regression files) are in `sim::cli`.

use std::collections::BTreeSet;
use std::io::{self, IsTerminal, Write};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sim::cli::coverage::Coverage;
use sim::cli::explore::{ExploreSummary, FailedCase, Shard};
use sim::cli::pool::{self, Case, Outcome};
use sim::cli::progress::{self, ProgressLines};
use sim::cli::seeds::{SeedChoice, SeedRange};
use sim::cli::summary::{self, plural, Totals};
use sim::cli::{explore as explore_cli, files, regression, replay};
use sim::export::HistoryFormat;
use sim::runner;
use sim::scenario::{self, ClientTrace, PeerTrace, Scenario, TraceOptions};

/// A check failed.
const EXIT_FAILED: u8 = 1;
/// Bad usage, a bad scenario file, or an unreadable file (clap also exits 2 on bad usage).
const EXIT_USAGE: u8 = 2;
/// Ctrl-C or SIGTERM cut a run short (128 + SIGINT, as shells report it).
const EXIT_INTERRUPTED: u8 = 130;

/// Deterministic simulation of the ring KV store: the real node and ECS code inside
/// turmoil's simulated network, driven by one seed.
#[derive(Parser)]
#[command(name = "sim", version, propagate_version = true)]
#[command(after_help = "Exit codes: 0 all checks passed, 1 a check failed, \
                        2 bad usage or a bad scenario file.\n\
                        RUST_LOG (e.g. RUST_LOG=node=debug,turmoil=trace) turns on logs \
                        to stderr; they are off by default.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run scenarios over many seeds in parallel; summarise, and save each failing case.
    Run(RunArgs),
    /// Run scenarios with a swarm fault plan drawn from each seed; save each failure as a
    /// plain scenario file.
    Explore(ExploreArgs),
    /// Reduce a failing case to a short scenario that fails the same way; write it as a
    /// regression file.
    Shrink(ShrinkArgs),
    /// Run one case and print its scenario, sequence diagram, trace, trace hash and checks.
    Replay(ReplayArgs),
    /// Run one case and print only its trace hash (compare two processes or machines).
    Hash(HashArgs),
    /// Benchmark the linearizability checker on a generated history; prints the figures.
    BenchChecker(BenchArgs),
    /// Benchmark the simulator itself: a busy and an idle 3×3 cluster, one thread; prints
    /// simulated seconds per wall second.
    Bench(SpeedArgs),
}

/// `sim bench`.
#[derive(Args)]
#[command(
    after_help = "The two cases are built in (sim/bench/*.toml): three groups of three \
    nodes for 30 simulated seconds, busy (four clients of two lanes at 50 ops/s) and idle (no \
    client). Each seed runs on this thread alone, checks included, after one warm-up run."
)]
struct SpeedArgs {
    /// Seeds per case.
    #[arg(long, default_value_t = 3)]
    seeds: u64,
    /// Run only this case: `busy` or `idle`.
    #[arg(long, value_name = "CASE")]
    only: Option<String>,
}

/// `sim bench-checker`.
#[derive(Args)]
#[command(
    after_help = "The history is generated from a real register simulation (so it is \
    linearizable) by a seeded RNG: the same arguments check the same history. Runs on one \
    thread. Example:\n  sim bench-checker --ops 100000 --keys 1000 --clients 8 --info 0.05"
)]
struct BenchArgs {
    /// Operations in the history.
    #[arg(long, default_value_t = 100_000)]
    ops: usize,
    /// Keys they are spread over.
    #[arg(long, default_value_t = 1_000)]
    keys: usize,
    /// Concurrent clients (processes).
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Fraction of operations left unanswered (`info`), from 0 to 1.
    #[arg(long, default_value_t = 0.05)]
    info: f64,
    /// Seed of the generated history.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Times to check it (the figures are per run, best and median).
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

/// `sim run`.
#[derive(Args)]
#[command(
    after_help = "Ctrl-C (or SIGTERM) starts no new case; the running ones finish \
    and the report covers what ran (exit code 130 unless a case failed). A second Ctrl-C \
    quits at once.\n\n\
    Examples:\n  \
    sim run                                  every scenario under scenarios/, each with its own seeds\n  \
    sim run scenarios/lock-contention.toml --seeds 0..1000 --fail-fast\n  \
    sim run scenarios/ --seed 42 --jobs 1"
)]
struct RunArgs {
    /// Scenario files, or directories searched recursively for *.toml (sorted by path;
    /// subdirectories named `defects`, known open defects, are skipped: name their files
    /// to run them). Default: the `scenarios/` directory in the current directory or the
    /// nearest parent that has one.
    #[arg(value_name = "PATHS")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    seeds: SeedArgs,
    /// Worker threads; each runs one whole simulation at a time. Default: the number of
    /// CPUs available.
    #[arg(long, short = 'j', value_name = "J")]
    jobs: Option<NonZeroUsize>,
    /// Start no new case after the first failure (cases already running finish).
    #[arg(long)]
    fail_fast: bool,
    /// Where failing cases are written as scenario files. Default: `target/sim-regressions/`
    /// beside the `scenarios/` directory that was found (else in the current directory).
    #[arg(long, value_name = "DIR")]
    regressions_dir: Option<PathBuf>,
    /// Write every case's client history to DIR as `<scenario>-seed<N>.jsonl` (or `.edn`);
    /// docs/histories.md describes the formats.
    #[arg(long, value_name = "DIR")]
    histories: Option<PathBuf>,
    /// The format of `--histories` files.
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        default_value = "json",
        requires = "histories"
    )]
    history_format: FormatArg,
    /// Write an HTML report of every failing case to DIR (`<scenario>-seed<N>.html`, each
    /// case run once more to draw it) and an `index.html` listing them with their failed
    /// checks.
    #[arg(long, value_name = "DIR")]
    html_dir: Option<PathBuf>,
}

/// `sim explore`.
#[derive(Args)]
#[command(
    after_help = "Each seed draws a fault plan swarm style: a random subset of fault \
    kinds (node, leader, follower and whole-group crashes, partitions one way and both, \
    isolated leaders, held links, ECS crashes and pauses, joins, part sizes, disk errors, \
    torn writes, corrupted reads, wiped disks), each at its own random rate, and random \
    workload knobs. A case is the scenario plus that plan, written out with every fault \
    an explicit timeline event: a failing case's file replays with `sim replay FILE`, no \
    explorer needed.\n\n\
    Ctrl-C (or SIGTERM) stops the run as a time budget does: no new case starts, the \
    running ones finish, and the report and the --summary file cover what ran; the exit \
    code is then 130 unless a case failed (1). A second Ctrl-C quits at once.\n\n\
    Examples:\n  \
    sim explore --seeds 0..2000                       every scenario under scenarios/\n  \
    sim explore scenarios/three-joins.toml --seeds 0..100000 --time-budget 10m\n  \
    sim explore --seeds 0..1000000 --shard 3/8 --summary out/shard3.json\n  \
    sim explore --merge out/\n  \
    sim explore scenarios/ --merge out/               count only the scenarios shipped now"
)]
struct ExploreArgs {
    /// Scenario files, or directories searched recursively for *.toml (subdirectories
    /// named `defects` are skipped). Default: the `scenarios/` directory in the current
    /// directory or the nearest parent that has one.
    #[arg(value_name = "PATHS")]
    paths: Vec<PathBuf>,
    /// Seeds to explore: `A..B` (B excluded) or `A..=B`; each seed runs every scenario.
    #[arg(long, value_name = "A..B", required_unless_present = "merge")]
    seeds: Option<SeedRange>,
    /// Run only the I-th of N disjoint slices of the seeds (seed A+k is in slice k mod N + 1),
    /// so N machines can share one range; merge their `--summary` files with `--merge`.
    #[arg(long, value_name = "I/N", default_value = "1/1")]
    shard: Shard,
    /// Worker threads. Default: the number of CPUs available.
    #[arg(long, short = 'j', value_name = "J")]
    jobs: Option<NonZeroUsize>,
    /// Start no new case after this much wall time (`90s`, `10m`, `2h`); cases running
    /// finish.
    #[arg(long, value_name = "D", value_parser = scenario::duration::parse_duration)]
    time_budget: Option<Duration>,
    /// Start no new case after the first failure.
    #[arg(long)]
    fail_fast: bool,
    /// Where failing cases are written. Default: `target/sim-regressions/` beside the
    /// `scenarios/` directory that was found.
    #[arg(long, value_name = "DIR")]
    regressions_dir: Option<PathBuf>,
    /// Also write every case's scenario file (passed or not) to DIR, to see what the
    /// explorer runs.
    #[arg(long, value_name = "DIR")]
    cases_dir: Option<PathBuf>,
    /// Write an HTML report of every failing case to DIR (`<case>.html`, each case run
    /// once more to draw it) and an `index.html` listing them with their failed checks.
    #[arg(long, value_name = "DIR")]
    html_dir: Option<PathBuf>,
    /// Do not shrink failing cases (by default each is shrunk, see `sim shrink`, and the
    /// result written beside it as `<case>-shrunk.toml`).
    #[arg(long)]
    no_shrink: bool,
    /// Most runs to spend shrinking each failing case.
    #[arg(long, value_name = "R", default_value_t = 100)]
    shrink_runs: usize,
    /// Also write the run's figures and failures as JSON to FILE (for `--merge`).
    #[arg(long, value_name = "FILE")]
    summary: Option<PathBuf>,
    /// Run nothing: merge the JSON summaries in these files or directories (`*.json`) into
    /// one report; exits 1 if any shard had a failure. Scenario PATHS given before it
    /// (`sim explore scenarios/ --merge out/`) restrict the report to those base
    /// scenarios: cases of others (say, removed since a shard ran) are left out, and the
    /// report says how many.
    #[arg(long, value_name = "PATHS", num_args = 1.., conflicts_with = "seeds")]
    merge: Option<Vec<PathBuf>>,
}

/// `sim shrink`.
#[derive(Args)]
#[command(
    after_help = "Tries smaller scenarios (fewer timeline events, shorter faults, \
    fewer clients, keys, lanes and groups, a shorter run) and keeps each change only if the \
    run still fails the same check on the same key or group. Every candidate is a valid \
    scenario and runs are deterministic, so the result replays. Exits 1 (the result \
    fails, as it should) or 2 (the case passed, or bad usage).\n\n\
    Example:\n  \
    sim shrink target/sim-regressions/three-joins-explore-17-seed17.toml --name lost-write-after-abort"
)]
struct ShrinkArgs {
    /// The failing scenario file.
    file: PathBuf,
    /// The seed. Default: the first of the file's `seeds`.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Which failure to keep, by its position in the case's list (from 0).
    #[arg(long, value_name = "K", default_value_t = 0)]
    failure: usize,
    /// Most runs to spend.
    #[arg(long, value_name = "R", default_value_t = 300)]
    max_runs: usize,
    /// Where to write the result. Default: `scenarios/regressions/` (the `scenarios/`
    /// directory found from the current directory).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The shrunk scenario's name (and file name). Default: `<name>-shrunk`.
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
}

/// `--history-format` values (mirrors `sim::export::HistoryFormat`).
#[derive(Clone, Copy, ValueEnum)]
enum FormatArg {
    /// JSON lines: one object per operation.
    Json,
    /// Jepsen-style EDN (Knossos, Elle): an invocation and a completion per operation.
    Edn,
}

impl From<FormatArg> for HistoryFormat {
    fn from(arg: FormatArg) -> Self {
        match arg {
            FormatArg::Json => HistoryFormat::Json,
            FormatArg::Edn => HistoryFormat::Edn,
        }
    }
}

/// Seeds for `sim run`.
#[derive(Args)]
#[group(multiple = false)]
struct SeedArgs {
    /// Run every scenario with this one seed (instead of each scenario's `seeds` list).
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Run every scenario with each seed of a range: `A..B` (B excluded) or `A..=B`
    /// (B included); at most 1,000,000 seeds.
    #[arg(long, value_name = "A..B")]
    seeds: Option<SeedRange>,
}

/// `sim replay`.
#[derive(Args)]
struct ReplayArgs {
    /// The scenario file.
    file: PathBuf,
    /// The seed. Default: the first of the file's `seeds`.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
    /// Print the sequence diagram but not the one-line-per-event trace.
    #[arg(long, conflicts_with = "lines_only")]
    diagram_only: bool,
    /// Print the one-line-per-event trace but not the sequence diagram.
    #[arg(long)]
    lines_only: bool,
    /// Client traffic in the one-line trace: every packet (`full`) or counts per simulated
    /// second (`summary`). Default: the scenario's `[trace] clients`.
    #[arg(long, value_enum, value_name = "MODE")]
    clients: Option<ClientsArg>,
    /// Peer (Raft) traffic in the one-line trace: every frame (`full`) or counts per
    /// simulated second (`summary`). Default: the scenario's `[trace] peers`.
    #[arg(long, value_enum, value_name = "MODE")]
    peers: Option<ClientsArg>,
    /// Also write the run's client history to OUT (`-`: standard output, instead of the
    /// trace); docs/histories.md describes the formats.
    #[arg(long, value_name = "OUT")]
    history: Option<PathBuf>,
    /// The format of `--history`.
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        default_value = "json",
        requires = "history"
    )]
    history_format: FormatArg,
    /// Also write the run as one self-contained HTML report to OUT (host lanes, leaders,
    /// joins, operations by key, messages, a throughput and latency plot, and how to
    /// replay it); open it in a browser, no server needed.
    #[arg(long, value_name = "OUT")]
    html: Option<PathBuf>,
}

/// `--clients` and `--peers` values (mirrors `sim::scenario::ClientTrace` and
/// `PeerTrace`).
#[derive(Clone, Copy, ValueEnum)]
enum ClientsArg {
    /// Every packet.
    Full,
    /// One line per simulated second with counts.
    Summary,
}

impl From<ClientsArg> for ClientTrace {
    fn from(arg: ClientsArg) -> Self {
        match arg {
            ClientsArg::Full => ClientTrace::Full,
            ClientsArg::Summary => ClientTrace::Summary,
        }
    }
}

impl From<ClientsArg> for PeerTrace {
    fn from(arg: ClientsArg) -> Self {
        match arg {
            ClientsArg::Full => PeerTrace::Full,
            ClientsArg::Summary => PeerTrace::Summary,
        }
    }
}

/// `sim hash`.
#[derive(Args)]
#[command(
    after_help = "Prints `<hash as 16 hex digits>  <scenario name> seed <N>` and nothing \
                        else; the exit code does not depend on the checks (use `replay`)."
)]
struct HashArgs {
    /// The scenario file.
    file: PathBuf,
    /// The seed. Default: the first of the file's `seeds`.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
}

/// Whether the cases a command ran passed their checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Passed,
    Failed,
    /// Nothing failed, but Ctrl-C stopped the run before every case ran.
    Interrupted,
}

impl Verdict {
    fn of(passed: bool) -> Self {
        if passed {
            Verdict::Passed
        } else {
            Verdict::Failed
        }
    }

    /// As [`Verdict::of`], except that a run cut short by Ctrl-C without a failure is not
    /// reported as a pass: a script must not take half a shard for a whole one.
    fn of_run(passed: bool) -> Self {
        if passed && INTERRUPTED.load(Ordering::Relaxed) {
            Verdict::Interrupted
        } else {
            Verdict::of(passed)
        }
    }
}

/// Set by the first Ctrl-C (or SIGTERM): `run` and `explore` start no new case, let the
/// running ones finish, then report, and write the summary, as a time budget would.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// Watches for Ctrl-C and SIGTERM on a thread of its own (the signal futures need a
/// runtime, and this binary's simulations each run their own): the first sets
/// [`INTERRUPTED`], a second ends the process at once. Returns once the handlers are in
/// place, so a signal sent after the run's first line is never the default kill.
fn stop_on_interrupt() {
    let (ready, registered) = std::sync::mpsc::channel::<()>();
    let watch = move || {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build()
        else {
            return;
        };
        // `signal` installs its handler when called, inside the runtime.
        let handlers = rt.block_on(async {
            Some((
                signal(SignalKind::interrupt()).ok()?,
                signal(SignalKind::terminate()).ok()?,
            ))
        });
        let Some((mut int, mut term)) = handlers else {
            return;
        };
        let _ = ready.send(());
        rt.block_on(async {
            loop {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
                if INTERRUPTED.swap(true, Ordering::Relaxed) {
                    eprintln!("interrupted again: quitting without a report");
                    std::process::exit(EXIT_INTERRUPTED.into());
                }
                eprintln!(
                    "interrupted: no new case starts; the running ones finish, then the report \
                     (interrupt again to quit at once)"
                );
            }
        });
    };
    let spawned = std::thread::Builder::new()
        .name("sim-signals".to_string())
        .spawn(watch);
    // The sender is dropped without a message if the handlers could not be installed.
    if spawned.is_err() || registered.recv().is_err() {
        eprintln!("warning: Ctrl-C will quit without a report");
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Explore(args) => explore(args),
        Command::Shrink(args) => shrink(args),
        Command::Replay(args) => replay(args),
        Command::Hash(args) => hash(args),
        Command::BenchChecker(args) => bench_checker(args),
        Command::Bench(args) => bench(args),
    };
    match result {
        Ok(Verdict::Passed) => ExitCode::SUCCESS,
        Ok(Verdict::Failed) => ExitCode::from(EXIT_FAILED),
        Ok(Verdict::Interrupted) => ExitCode::from(EXIT_INTERRUPTED),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Logs to stderr, filtered by `RUST_LOG`; off by default, since node code logs a lot at
/// `info` and the trace is this tool's product. Lines are stamped with simulated time
/// and the worker thread, so logs of one case read in order and can be matched to its trace.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => EnvFilter::try_new(&spec).unwrap_or_else(|e| {
            eprintln!("warning: ignoring RUST_LOG={spec:?}: {e}");
            EnvFilter::new("off")
        }),
        _ => EnvFilter::new("off"),
    };
    // `with_ansi` needs tracing-subscriber's `ansi` feature, which `node` enables.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .with_timer(SimTime)
        .with_thread_names(true)
        .try_init();
}

/// Log timestamps in simulated time (`-` outside a simulation), never the wall clock.
struct SimTime;

impl tracing_subscriber::fmt::time::FormatTime for SimTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        match turmoil::sim_elapsed() {
            Some(t) => write!(w, "{:>9.3}s", t.as_secs_f64()),
            None => write!(w, "{:>10}", "-"),
        }
    }
}

/// Writes to stdout. Once the reader has gone (`sim replay ... | head`), the rest is
/// dropped quietly, so the exit code still reports the run.
fn emit(text: &str) -> Result<()> {
    match io::stdout().lock().write_all(text.as_bytes()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e).context("writing to stdout"),
        _ => Ok(()),
    }
}

/// Loads one scenario file; its error names the file, line and field.
fn load(path: &Path) -> Result<Scenario> {
    scenario::load(path).map_err(|e| anyhow!("{e}"))
}

/// Loads every scenario file the command line names (files, or directories searched; the
/// `scenarios/` directory found from `cwd` when none), printing each bad one's error
/// before giving up, so one run shows them all.
fn load_scenarios(named: &[PathBuf], cwd: &Path) -> Result<Vec<(PathBuf, Scenario)>> {
    let paths = files::scenario_files(named, cwd)?;
    let mut loaded = Vec::new();
    let mut bad = 0;
    for path in &paths {
        match scenario::load(path) {
            Ok(s) => loaded.push((path.clone(), s)),
            Err(e) => {
                eprintln!("error: {e}");
                bad += 1;
            }
        }
    }
    match bad {
        0 => Ok(loaded),
        1 => bail!("1 scenario file has errors; nothing was run"),
        n => bail!("{n} scenario files have errors; nothing was run"),
    }
}

/// The seed for `replay` and `hash`: the one given, else the file's first.
fn seed_or_first(seed: Option<u64>, scenario: &Scenario, file: &Path) -> Result<u64> {
    seed.or_else(|| scenario.seeds.first().copied())
        .ok_or_else(|| {
            anyhow!(
                "{}: the scenario lists no seeds; pass --seed N",
                file.display()
            )
        })
}

fn run(args: RunArgs) -> Result<Verdict> {
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let scenarios = load_scenarios(&args.paths, &cwd)?;
    let choice = match (args.seeds.seed, args.seeds.seeds) {
        (Some(seed), _) => SeedChoice::One(seed),
        (None, Some(range)) => SeedChoice::Range(range),
        (None, None) => SeedChoice::Listed,
    };

    // Cases in report order: scenario by scenario, seeds in the order chosen.
    let format = HistoryFormat::from(args.history_format);
    let history = args.histories.as_deref().map(|dir| (dir, format));
    let mut cases = Vec::new();
    let mut owner = Vec::new();
    for (i, (path, scenario)) in scenarios.iter().enumerate() {
        let seeds = choice.seeds_for(scenario);
        if seeds.is_empty() {
            eprintln!(
                "warning: {}: the scenario lists no seeds; give --seed or --seeds to run it",
                path.display()
            );
        }
        for seed in seeds {
            cases.push(Case {
                scenario,
                seed,
                history,
            });
            owner.push(i);
        }
    }
    if cases.is_empty() {
        bail!("no cases to run");
    }
    let jobs = args
        .jobs
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, NonZeroUsize::get)
        .min(cases.len());
    stop_on_interrupt();
    emit(&format!(
        "sim run: {} from {} on {}\n",
        plural(cases.len(), "case"),
        plural(scenarios.len(), "scenario"),
        plural(jobs, "worker thread"),
    ))?;

    // Wall-clock time of the whole run: measured here, outside any simulation.
    let started = Instant::now();
    let mut progress = Progress::new(cases.len(), started);
    let outcomes = pool::run_cases(
        &cases,
        jobs,
        args.fail_fast,
        None,
        &INTERRUPTED,
        |_, outcome: &Outcome| progress.case_done(outcome.passed()),
    );
    let elapsed = started.elapsed();
    progress.bar.finish_and_clear();
    report_histories(&outcomes, args.histories.as_deref())?;

    // Failing cases, in case order: what failed, a regression file, a replay command.
    let regressions_dir = args
        .regressions_dir
        .clone()
        .unwrap_or_else(|| default_regressions_dir(&cwd));
    let mut written: Vec<PathBuf> = Vec::new();
    let mut reports = Vec::new();
    for ((case, &i), outcome) in cases.iter().zip(&owner).zip(&outcomes) {
        let Some(outcome) = outcome.as_ref().filter(|o| !o.passed()) else {
            continue;
        };
        let original = &scenarios[i].0;
        let saved = written.len();
        report_failure(
            case,
            original,
            outcome,
            &regressions_dir,
            &mut written,
            "run",
        )?;
        if let Some(dir) = &args.html_dir {
            let file = written.get(saved).map(PathBuf::as_path);
            reports.push(html_report(case, original, file, dir)?);
        }
    }
    if let Some(dir) = &args.html_dir {
        write_html_index(dir, "sim run: failing cases", &reports)?;
    }

    // The table, one row per scenario, then what did not run.
    let mut rows: Vec<(String, Totals)> = scenarios
        .iter()
        .map(|(_, s)| (s.name.clone(), Totals::default()))
        .collect();
    for (&i, outcome) in owner.iter().zip(&outcomes) {
        if let Some(outcome) = outcome {
            rows[i].1.add(outcome);
        }
    }
    let not_run = outcomes.iter().filter(|o| o.is_none()).count();
    emit(&format!(
        "\n{}",
        summary::report(&rows, not_run, jobs, elapsed)
    ))?;
    let failed = rows.iter().map(|(_, t)| t.failed).sum::<usize>();
    Ok(Verdict::of_run(failed == 0))
}

/// Seeds explored per batch: each batch's scenarios are generated, run and dropped, so
/// memory stays flat over a million seeds.
const EXPLORE_BATCH_SEEDS: usize = 64;

fn explore(args: ExploreArgs) -> Result<Verdict> {
    if let Some(paths) = &args.merge {
        let keep = if args.paths.is_empty() {
            None
        } else {
            let cwd = std::env::current_dir().context("reading the current directory")?;
            let names: BTreeSet<String> = load_scenarios(&args.paths, &cwd)?
                .into_iter()
                .map(|(_, s)| s.name)
                .collect();
            Some(names)
        };
        let (merged, left_out) = explore_cli::merge_only(paths, keep.as_ref())?;
        emit(&format!(
            "sim explore --merge: {} from {}\n",
            plural(merged.cases as usize, "case"),
            plural(merged.shards.len(), "shard")
        ))?;
        if left_out.cases > 0 {
            let names: Vec<&str> = left_out.scenarios.iter().map(String::as_str).collect();
            emit(&format!(
                "left out: {} ({} failed) of {} not among the scenarios named: {}\n",
                plural(left_out.cases as usize, "case"),
                left_out.failed,
                plural(names.len(), "scenario"),
                names.join(", ")
            ))?;
        }
        if let (Some(keep), Some(covered)) = (&keep, &merged.covered) {
            let ran = covered.names();
            let never: Vec<&str> = keep.difference(&ran).map(String::as_str).collect();
            if !never.is_empty() {
                emit(&format!(
                    "not run by any summary: {} named: {}\n",
                    plural(never.len(), "scenario"),
                    never.join(", ")
                ))?;
            }
        }
        for f in &merged.failures {
            let file = f
                .file
                .as_ref()
                .map(|p| format!(" ({})", p.display()))
                .unwrap_or_default();
            emit(&format!(
                "FAILED {} seed {}: {}{file}\n",
                f.scenario,
                f.seed,
                f.checks.join(", ")
            ))?;
        }
        emit(&merged.report())?;
        emit(&merged.coverage_line().unwrap_or_else(|| {
            "covered: not known (a summary from an older sim records no cases)\n".to_string()
        }))?;
        return Ok(Verdict::of(merged.failed == 0));
    }
    let range = args.seeds.context("--seeds is required")?;
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let bases = load_scenarios(&args.paths, &cwd)?;
    let seeds: Vec<u64> = args.shard.seeds(range).collect();
    let total_cases = seeds.len() * bases.len();
    if total_cases == 0 {
        bail!(
            "no cases to run: shard {} of {range} has no seeds",
            args.shard
        );
    }
    let jobs = args
        .jobs
        .or_else(|| std::thread::available_parallelism().ok())
        .map_or(1, NonZeroUsize::get)
        .min(total_cases);
    stop_on_interrupt();
    emit(&format!(
        "sim explore: {} ({} × {}, shard {}) on {}\n",
        plural(total_cases, "case"),
        plural(bases.len(), "scenario"),
        plural(seeds.len(), "seed"),
        args.shard,
        plural(jobs, "worker thread"),
    ))?;
    let regressions_dir = args
        .regressions_dir
        .clone()
        .unwrap_or_else(|| default_regressions_dir(&cwd));

    let started = Instant::now();
    let mut progress = Progress::new(total_cases, started);
    let stop_at = args.time_budget.map(|d| started + d);
    let mut summary = ExploreSummary {
        seeds: range.to_string(),
        shards: vec![args.shard.to_string()],
        jobs: jobs as u64,
        covered: Some(Coverage::default()),
        ..ExploreSummary::default()
    };
    let mut written: Vec<PathBuf> = Vec::new();
    let mut reports = Vec::new();
    let mut stopped = false;
    for batch in seeds.chunks(EXPLORE_BATCH_SEEDS) {
        if stopped {
            summary.not_run += (batch.len() * bases.len()) as u64;
            continue;
        }
        let explored: Vec<(usize, sim::explore::Explored)> = batch
            .iter()
            .flat_map(|&seed| {
                bases
                    .iter()
                    .enumerate()
                    .map(move |(i, (_, base))| (i, sim::explore::explore(base, seed)))
            })
            .collect();
        if let Some(dir) = &args.cases_dir {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            for (_, e) in &explored {
                let file = dir.join(format!("{}.toml", e.scenario.name));
                std::fs::write(&file, e.scenario.to_toml())
                    .with_context(|| format!("writing {}", file.display()))?;
            }
        }
        let cases: Vec<Case<'_>> = explored
            .iter()
            .map(|(_, e)| Case {
                scenario: &e.scenario,
                seed: e.scenario.seeds[0],
                history: None,
            })
            .collect();
        let outcomes = pool::run_cases(
            &cases,
            jobs,
            args.fail_fast,
            stop_at,
            &INTERRUPTED,
            |_, outcome| progress.case_done(outcome.passed()),
        );
        let bar = &progress.bar;
        for ((case, (i, _)), outcome) in cases.iter().zip(&explored).zip(&outcomes) {
            let Some(outcome) = outcome else {
                summary.not_run += 1;
                stopped = true;
                continue;
            };
            if let Some(covered) = summary.covered.as_mut() {
                covered.insert(&bases[*i].1.name, case.seed);
            }
            summary.cases += 1;
            summary.simulated_s += outcome.simulated.as_secs_f64();
            summary.case_wall_s += outcome.wall.as_secs_f64();
            if outcome.passed() {
                summary.passed += 1;
                continue;
            }
            summary.failed += 1;
            let base = &bases[*i];
            let saved = written.len();
            bar.suspend(|| {
                report_failure(
                    case,
                    &base.0,
                    outcome,
                    &regressions_dir,
                    &mut written,
                    "explore",
                )
            })?;
            if let Some(dir) = &args.html_dir {
                let file = written.get(saved).map(PathBuf::as_path);
                let entry = bar.suspend(|| html_report(case, &base.0, file, dir))?;
                reports.push(entry);
            }
            let mut checks: Vec<String> = outcome
                .failures
                .iter()
                .map(|f| f.check.to_string())
                .collect();
            checks.dedup();
            let file = written.last().cloned();
            let shrunk = match (&file, args.no_shrink) {
                (Some(file), false) => {
                    bar.suspend(|| explore_shrink(case, file, args.shrink_runs, &regressions_dir))
                }
                _ => None,
            };
            summary.failures.push(FailedCase {
                scenario: base.1.name.clone(),
                seed: case.seed,
                checks,
                file,
                shrunk,
            });
        }
        if args.fail_fast && summary.failed > 0 {
            stopped = true;
        }
    }
    progress.bar.finish_and_clear();
    if let Some(dir) = &args.html_dir {
        write_html_index(dir, "sim explore: failing cases", &reports)?;
    }
    summary.seeds_run = summary.covered.as_ref().map_or(0, Coverage::seeds) as u64;
    summary.elapsed_s = started.elapsed().as_secs_f64();
    if let Some(file) = &args.summary {
        let text = serde_json::to_string_pretty(&summary).context("rendering the summary")?;
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(file, text).with_context(|| format!("writing {}", file.display()))?;
    }
    emit(&format!("\n{}", summary.report()))?;
    Ok(Verdict::of_run(summary.failed == 0))
}

/// Shrinks one failing explored case (its first failure) and writes the result beside
/// it; says what it did. `None` if it could not.
fn explore_shrink(case: &Case<'_>, file: &Path, runs: usize, dir: &Path) -> Option<PathBuf> {
    let name = format!("{}-shrunk", case.scenario.name);
    let result = sim::shrink::shrink(case.scenario, case.seed, 0, runs, |_, _| {})
        .map_err(anyhow::Error::from)
        .and_then(|shrunk| {
            let out = write_shrunk(&shrunk, file, case.seed, dir, &name)?;
            Ok((shrunk, out))
        });
    match result {
        Ok((shrunk, out)) => {
            let _ = emit(&format!("  shrunk: {}", shrink_report(&shrunk, &out)));
            Some(out)
        }
        Err(e) => {
            eprintln!("warning: could not shrink {}: {e:#}", file.display());
            None
        }
    }
}

fn shrink(args: ShrinkArgs) -> Result<Verdict> {
    let scenario = load(&args.file)?;
    let seed = seed_or_first(args.seed, &scenario, &args.file)?;
    let cwd = std::env::current_dir().context("reading the current directory")?;
    let out = match &args.out {
        Some(dir) => dir.clone(),
        None => files::find_scenarios_dir(&cwd)
            .map(|d| d.join("regressions"))
            .context("no scenarios/ directory found from here; give --out DIR")?,
    };
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| format!("{}-shrunk", scenario.name));
    emit(&format!(
        "sim shrink: {} with seed {seed}, at most {}\n",
        args.file.display(),
        plural(args.max_runs, "run")
    ))?;
    let bar = progress_bar(args.max_runs);
    bar.set_message("shrinking");
    let shrunk = sim::shrink::shrink(
        &scenario,
        seed,
        args.failure,
        args.max_runs,
        |runs, events| {
            bar.set_position(runs as u64);
            bar.set_message(format!("{events} events left"));
        },
    );
    bar.finish_and_clear();
    let shrunk = shrunk?;
    let file = write_shrunk(&shrunk, &args.file, seed, &out, &name)?;
    emit(&shrink_report(&shrunk, &file))?;
    // The failure is kept, as asked: exit 1, as for any failing case.
    Ok(Verdict::Failed)
}

/// Writes `shrunk` as scenario `name` in `dir`; returns the file.
fn write_shrunk(
    shrunk: &sim::shrink::Shrunk,
    original: &Path,
    seed: u64,
    dir: &Path,
    name: &str,
) -> Result<PathBuf> {
    let mut scenario = shrunk.scenario.clone();
    scenario.name = name.to_string();
    let detail = shrunk.failure.to_string();
    let first_line = detail.lines().next().unwrap_or_default();
    let cut: String = first_line.chars().take(400).collect();
    scenario.description = format!(
        "Shrunk by `sim shrink` from {} (seed {seed}); it fails {}: {cut}{}\n\n{}",
        original.display(),
        sim::shrink::Signature::of(&shrunk.failure),
        if cut.len() < first_line.len() {
            " ..."
        } else {
            ""
        },
        shrunk.scenario.description.trim()
    );
    let file = dir.join(format!("{name}.toml"));
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let text = regression::render(
        &scenario,
        seed,
        original,
        std::slice::from_ref(&shrunk.failure),
        "shrink",
    );
    std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
    Ok(file)
}

/// What shrinking removed, and how to replay the result.
fn shrink_report(shrunk: &sim::shrink::Shrunk, file: &Path) -> String {
    format!(
        "kept {} in {}: timeline events {} -> {}, operations {} -> {}, simulated {:.1} s -> \
         {:.1} s\n  wrote {}\n  replay: {}\n",
        sim::shrink::Signature::of(&shrunk.failure),
        plural(shrunk.runs, "run"),
        shrunk.events.0,
        shrunk.events.1,
        shrunk.operations.0,
        shrunk.operations.1,
        shrunk.simulated.0.as_secs_f64(),
        shrunk.simulated.1.as_secs_f64(),
        file.display(),
        regression::replay_command(file, None),
    )
}

/// Says where the histories went, and warns about each one that could not be written.
fn report_histories(outcomes: &[Option<Outcome>], dir: Option<&Path>) -> Result<()> {
    let Some(dir) = dir else { return Ok(()) };
    let mut written = 0;
    for file in outcomes
        .iter()
        .flatten()
        .filter_map(|o| o.history_file.as_ref())
    {
        match file {
            Ok(_) => written += 1,
            Err(e) => eprintln!("warning: {e}"),
        }
    }
    let noun = if written == 1 { "history" } else { "histories" };
    emit(&format!("{written} {noun} written to {}\n", dir.display()))
}

/// `target/sim-regressions` beside the `scenarios/` directory found from `cwd`, so the
/// default is the same from anywhere in the repository.
fn default_regressions_dir(cwd: &Path) -> PathBuf {
    let root = files::find_scenarios_dir(cwd)
        .and_then(|dir| dir.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    root.join("target").join("sim-regressions")
}

/// The progress bar on stderr: cases done of all, elapsed, ETA, failures so far. indicatif
/// hides it when stderr is not a terminal.
fn progress_bar(cases: usize) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(cases as u64), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template(
        "{elapsed_precise} [{bar:30.cyan/blue}] {pos}/{len} cases, {msg}, ETA {eta}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message("0 failed");
    bar.enable_steady_tick(Duration::from_millis(250));
    bar
}

/// Progress of many cases: the bar on a terminal, and a plain line every minute when
/// stderr is not one (indicatif draws nothing there, and a shard runs for an hour).
struct Progress {
    bar: ProgressBar,
    lines: Option<ProgressLines>,
    failed: u64,
}

impl Progress {
    fn new(cases: usize, started: Instant) -> Self {
        let lines = (!io::stderr().is_terminal())
            .then(|| ProgressLines::new(cases as u64, progress::EVERY, started));
        Progress {
            bar: progress_bar(cases),
            lines,
            failed: 0,
        }
    }

    /// Counts a finished case, and prints a progress line to a log when one is due.
    fn case_done(&mut self, passed: bool) {
        if !passed {
            self.failed += 1;
            self.bar.set_message(format!("{} failed", self.failed));
        }
        self.bar.inc(1);
        if let Some(line) = self
            .lines
            .as_mut()
            .and_then(|l| l.line(self.bar.position(), self.failed, Instant::now()))
        {
            eprintln!("{line}");
        }
    }
}

/// Runs a failing case once more (runs are deterministic, so it fails the same way; the
/// worker threads keep no trace) and writes its HTML report into `dir`, named after its
/// regression file (`saved`) when there is one. Returns its line of the index page.
fn html_report(
    case: &Case<'_>,
    original: &Path,
    saved: Option<&Path>,
    dir: &Path,
) -> Result<sim::report::IndexEntry> {
    let replay = match saved {
        Some(file) => regression::replay_command(file, None),
        None => regression::replay_command(original, Some(case.seed)),
    };
    let name = match saved.and_then(|f| f.file_stem()) {
        Some(stem) => format!("{}.html", stem.to_string_lossy()),
        None => sim::report::file_name(&case.scenario.name, case.seed),
    };
    let report = runner::run(case.scenario, case.seed);
    let html = sim::report::render(&report, case.scenario, &replay);
    let path = dir.join(&name);
    sim::report::write(&path, &html)?;
    emit(&format!("  report: {}\n", path.display()))?;
    Ok(sim::report::index_entry(&report, &name, &replay))
}

/// Writes the index page of the reports written into `dir`, and says where it is.
fn write_html_index(dir: &Path, title: &str, reports: &[sim::report::IndexEntry]) -> Result<()> {
    let index = sim::report::write_index(dir, title, reports)?;
    emit(&format!(
        "{} written to {} (index: {})\n",
        plural(reports.len(), "HTML report"),
        dir.display(),
        index.display()
    ))
}

/// Prints one failing case and saves it as a regression scenario file.
fn report_failure(
    case: &Case<'_>,
    original: &Path,
    outcome: &Outcome,
    dir: &Path,
    written: &mut Vec<PathBuf>,
    by: &str,
) -> Result<()> {
    let scenario = case.scenario;
    let mut text = format!(
        "\nFAILED {} seed {} ({})\n",
        scenario.name,
        case.seed,
        original.display()
    );
    for failure in &outcome.failures {
        text.push_str(&regression::indent(&failure.to_string(), "  ", "    "));
    }
    let file = regression::path_for(dir, &scenario.name, case.seed, written);
    let contents = regression::render(scenario, case.seed, original, &outcome.failures, by);
    let saved = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&file, contents));
    match saved {
        Ok(()) => {
            text.push_str(&format!(
                "  replay: {}\n",
                regression::replay_command(&file, None)
            ));
            text.push_str(&format!(
                "  saved as {}; move it to scenarios/regressions/ to keep it as a regression test\n",
                file.display()
            ));
            written.push(file);
        }
        Err(e) => {
            eprintln!("warning: could not write {}: {e}", file.display());
            text.push_str(&format!(
                "  replay: {}\n",
                regression::replay_command(original, Some(case.seed))
            ));
        }
    }
    emit(&text)
}

fn replay(args: ReplayArgs) -> Result<Verdict> {
    let scenario = load(&args.file)?;
    let seed = seed_or_first(args.seed, &scenario, &args.file)?;
    let history_to_stdout = args.history.as_ref().is_some_and(|h| h.as_os_str() == "-");
    if !history_to_stdout {
        emit(&replay::header(&scenario, seed, &args.file))?;
        let _ = io::stdout().flush();
    }
    let report = runner::run(&scenario, seed);
    if let Some(out) = &args.html {
        let command = regression::replay_command(&args.file, Some(seed));
        sim::report::write(out, &sim::report::render(&report, &scenario, &command))?;
        eprintln!("report written to {}", out.display());
    }
    if let Some(out) = &args.history {
        let text = HistoryFormat::from(args.history_format).render(&report.history);
        if history_to_stdout {
            emit(&text)?;
            return Ok(Verdict::of(report.passed()));
        }
        std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
        eprintln!("history written to {}", out.display());
    }
    let sections = replay::Sections {
        diagram: !args.lines_only,
        lines: !args.diagram_only,
        trace: TraceOptions {
            clients: args
                .clients
                .map_or(scenario.trace.clients, ClientTrace::from),
            peers: args.peers.map_or(scenario.trace.peers, PeerTrace::from),
        },
    };
    emit(&replay::body(&report, sections))?;
    emit(&replay::verdict(&report))?;
    Ok(Verdict::of(report.passed()))
}

fn hash(args: HashArgs) -> Result<Verdict> {
    let scenario = load(&args.file)?;
    let seed = seed_or_first(args.seed, &scenario, &args.file)?;
    let report = runner::run(&scenario, seed);
    emit(&format!(
        "{:016x}  {} seed {seed}\n",
        report.trace.hash(),
        scenario.name
    ))?;
    Ok(Verdict::Passed)
}

/// The built-in speed cases of `sim bench`.
const SPEED_CASES: [(&str, &str); 2] = [
    ("busy", include_str!("../../bench/busy-3x3.toml")),
    ("idle", include_str!("../../bench/idle-3x3.toml")),
];

fn bench(args: SpeedArgs) -> Result<Verdict> {
    let mut all_passed = true;
    for (case, text) in SPEED_CASES {
        if args.only.as_deref().is_some_and(|o| o != case) {
            continue;
        }
        let scenario =
            scenario::parse(text, &format!("sim/bench/{case}")).map_err(|e| anyhow!("{e}"))?;
        // A warm-up run: page faults and allocator growth are not the simulator's speed.
        let _ = runner::run(&scenario, 0);
        let (mut simulated, mut wall, mut events) = (Duration::ZERO, Duration::ZERO, 0usize);
        for seed in 1..=args.seeds {
            // Wall-clock time is measured outside the simulation.
            let started = Instant::now();
            let report = runner::run(&scenario, seed);
            wall += started.elapsed();
            simulated += report.simulated;
            events += report.trace.events.len();
            all_passed &= report.passed();
        }
        let per_wall = simulated.as_secs_f64() / wall.as_secs_f64().max(1e-9);
        emit(&format!(
            "{case:>4}: {} {}: {:.1} simulated s in {:.2} wall s on one thread: {per_wall:.0} simulated s per wall s, {:.0} trace events per wall s\n",
            plural(args.seeds as usize, "seed"),
            scenario.name,
            simulated.as_secs_f64(),
            wall.as_secs_f64(),
            events as f64 / wall.as_secs_f64().max(1e-9),
        ))?;
        // The same number of hosts doing nothing, stepped as often: what turmoil alone
        // costs, the most this case could reach.
        // The report lists the ECS and the nodes; the clients are hosts too.
        let hosts = runner::run(&scenario, 1).hosts.len() + scenario.workload.clients as usize;
        let floor_wall = sim::cli::floor::idle_hosts(hosts, scenario.network.tick, simulated);
        emit(&format!(
            "      floor: turmoil alone, {hosts} sleeping hosts stepped every {:?}: {:.0} simulated s per wall s\n",
            scenario.network.tick,
            simulated.as_secs_f64() / floor_wall.as_secs_f64().max(1e-9),
        ))?;
    }
    Ok(Verdict::of(all_passed))
}

fn bench_checker(args: BenchArgs) -> Result<Verdict> {
    use sim::checks::linearizable::{bench_history, check_history, Config};
    if !(0.0..=1.0).contains(&args.info) {
        bail!("--info must be between 0 and 1, not {}", args.info);
    }
    if args.keys == 0 || args.clients == 0 || args.runs == 0 {
        bail!("--keys, --clients and --runs must be at least 1");
    }
    let history = bench_history(args.ops, args.keys, args.clients, args.info, args.seed);
    let config = Config::default();
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..args.runs {
        // Wall-clock time of the checker, outside any simulation.
        let started = Instant::now();
        let report = check_history(&history, &config);
        times.push(started.elapsed());
        last = Some(report);
    }
    times.sort();
    let report = last.expect("at least one run");
    let ops = history.records.len();
    let best = times[0];
    let median = times[times.len() / 2];
    emit(&format!(
        "checked {ops} operations over {} keys ({} clients, {:.0}% info) {} times on one thread\n\
         best {:.1} ms, median {:.1} ms: {:.0} operations/s; {} search steps\n\
         verdict: {} violations, {} undecided keys\n",
        report.keys_checked,
        args.clients,
        args.info * 100.0,
        args.runs,
        best.as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e3,
        ops as f64 / median.as_secs_f64().max(1e-9),
        report.steps,
        report.violations.len(),
        report.undecided.len(),
    ))?;
    Ok(Verdict::of(
        report.violations.is_empty() && report.undecided.is_empty(),
    ))
}
