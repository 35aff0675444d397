//! Running many cases (scenario, seed) on worker threads.
//!
//! A turmoil `Sim` is not `Send`, so each case is built, run and judged entirely on one
//! worker thread by [`crate::runner::run`]; only its plain-data [`Outcome`] crosses back.
//! Workers take the next case from a shared index, so the order in which cases *finish*
//! varies from run to run; [`run_cases`] returns the outcomes in case order, so everything
//! printed from them is ordered the same way every time.

use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::checks::Failure;
use crate::export::HistoryFormat;
use crate::runner;
use crate::scenario::Scenario;

/// Stack for each worker: a simulation runs every host's futures on its thread, and debug
/// builds of deep async state machines need more than the 2 MiB default.
const WORKER_STACK_BYTES: usize = 16 * 1024 * 1024;

/// One run to do.
#[derive(Debug, Clone, Copy)]
pub struct Case<'a> {
    /// The scenario.
    pub scenario: &'a Scenario,
    /// The seed.
    pub seed: u64,
    /// Where to write the run's client history, and in which format (`None`: nowhere).
    /// The worker writes it, so histories never pile up in memory.
    pub history: Option<(&'a Path, HistoryFormat)>,
}

impl Case<'_> {
    /// The file this case's history goes to in `dir`: `<scenario>-seed<N>.<ext>`.
    pub fn history_file(&self, dir: &Path, format: HistoryFormat) -> PathBuf {
        dir.join(format!(
            "{}-seed{}.{}",
            self.scenario.name,
            self.seed,
            format.extension()
        ))
    }
}

/// What one case produced, as plain data that can leave its thread.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The violated checks; empty if it passed.
    pub failures: Vec<Failure>,
    /// Simulated time the run covered.
    pub simulated: Duration,
    /// Wall-clock time the run took on its thread.
    pub wall: Duration,
    /// Keys the linearizability check left undecided (its step budget ran out).
    pub undecided: usize,
    /// The history file written, or why it could not be (`None`: none was asked for).
    pub history_file: Option<Result<PathBuf, String>>,
}

impl Outcome {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Runs one case on the current thread and measures it.
///
/// A panic that escapes the runner (the runner catches those of simulated hosts) becomes a
/// `no_panic` failure of this case instead of ending the whole run.
pub fn run_case(case: Case<'_>) -> Outcome {
    // Wall-clock time is measured outside the simulation: nothing simulated reads it.
    let started = Instant::now();
    let report = panic::catch_unwind(AssertUnwindSafe(|| runner::run(case.scenario, case.seed)));
    let wall = started.elapsed();
    match report {
        Ok(report) => {
            let history_file = case.history.map(|(dir, format)| {
                let file = case.history_file(dir, format);
                std::fs::create_dir_all(dir)
                    .and_then(|()| std::fs::write(&file, format.render(&report.history)))
                    .map(|()| file.clone())
                    .map_err(|e| format!("could not write {}: {e}", file.display()))
            });
            Outcome {
                failures: report.failures,
                simulated: report.simulated,
                wall,
                undecided: report.undecided.len(),
                history_file,
            }
        }
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic with a non-text payload".to_string());
            Outcome {
                failures: vec![Failure::new(
                    "no_panic",
                    format!("the runner panicked: {message}"),
                )],
                simulated: Duration::ZERO,
                wall,
                undecided: 0,
                history_file: None,
            }
        }
    }
}

/// Runs `cases` on `jobs` worker threads (at least one, at most one per case).
///
/// `on_done(index, outcome)` is called on the calling thread as each case finishes, in
/// completion order (for progress display). With `fail_fast`, no new case starts after one
/// has failed; none starts after `stop_at` either (a time budget), nor once `interrupt`
/// is set (the binary sets it on Ctrl-C). Cases already running finish. The result holds
/// each case's outcome at its index, `None` for a case that was not run.
pub fn run_cases(
    cases: &[Case<'_>],
    jobs: usize,
    fail_fast: bool,
    stop_at: Option<Instant>,
    interrupt: &AtomicBool,
    mut on_done: impl FnMut(usize, &Outcome),
) -> Vec<Option<Outcome>> {
    let stopping =
        || interrupt.load(Ordering::Relaxed) || stop_at.is_some_and(|t| Instant::now() >= t);
    let mut outcomes: Vec<Option<Outcome>> = vec![None; cases.len()];
    let jobs = jobs.clamp(1, cases.len().max(1));
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let (tx, rx) = mpsc::channel::<(usize, Outcome)>();
    std::thread::scope(|scope| {
        let mut spawned = 0;
        for worker in 0..jobs {
            let tx = tx.clone();
            let (next, stop) = (&next, &stop);
            let work = move || loop {
                if stop.load(Ordering::Relaxed) || stopping() {
                    break;
                }
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = cases.get(index) else { break };
                let outcome = run_case(*case);
                if fail_fast && !outcome.passed() {
                    stop.store(true, Ordering::Relaxed);
                }
                if tx.send((index, outcome)).is_err() {
                    break;
                }
            };
            let spawn = std::thread::Builder::new()
                .name(format!("sim-worker-{worker}"))
                .stack_size(WORKER_STACK_BYTES)
                .spawn_scoped(scope, work);
            if spawn.is_ok() {
                spawned += 1;
            }
        }
        drop(tx);
        if spawned == 0 {
            // The OS gave us no thread at all: run everything here rather than nothing.
            for (index, case) in cases.iter().enumerate() {
                if stopping() {
                    break;
                }
                let outcome = run_case(*case);
                let failed = !outcome.passed();
                on_done(index, &outcome);
                outcomes[index] = Some(outcome);
                if fail_fast && failed {
                    break;
                }
            }
            return;
        }
        for (index, outcome) in rx {
            on_done(index, &outcome);
            outcomes[index] = Some(outcome);
        }
    });
    outcomes
}
