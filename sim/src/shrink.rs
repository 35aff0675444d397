//! Shrinking a failing case to a short scenario a person can read.
//!
//! [`shrink`] repeatedly tries a smaller scenario (fewer timeline events, shorter faults,
//! fewer clients, keys, lanes and groups, a lower rate, a shorter run) and keeps a change
//! only if the run still fails the *same way*: the same check, and for checks that name a
//! key or a group, the same key or group ([`Signature`]). Every candidate is a valid
//! scenario (one that breaks a scenario rule is skipped), and a run is deterministic, so
//! the result replays. The work is bounded by a number of runs.
//!
//! The passes, each repeated until it removes nothing (then the next; the whole list
//! again while anything changed and runs are left):
//! 1. timeline events, in chunks (halves, quarters, ... single events: delta debugging);
//! 2. the run's duration (cut to the last event or by a quarter, the workload's end with
//!    it);
//! 3. the workload: clients, keys, shared keys, lanes, rate;
//! 4. groups at the start;
//! 5. the length of each fault with a `for` (halved).

use std::time::Duration;

use crate::checks::Failure;
use crate::runner::{self, RunReport};
use crate::scenario::{self, Scenario};

/// What identifies "the same failure": the check, and the key or group it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The check's name.
    pub check: &'static str,
    /// The key or group the failure is about, when the check names one first (`c1-k2:`,
    /// `s0:`, `group 2`).
    pub subject: Option<String>,
}

impl Signature {
    /// The signature of `failure`.
    pub fn of(failure: &Failure) -> Signature {
        let first = failure
            .detail
            .split([' ', ':', '\''])
            .next()
            .unwrap_or_default();
        let is_key = |w: &str| {
            let (head, tail) = w.split_at(w.find(|c: char| c.is_ascii_digit()).unwrap_or(0));
            (head == "s" && tail.chars().all(|c| c.is_ascii_digit()))
                || (head == "c" && tail.contains("-k"))
        };
        let subject = if is_key(first) {
            Some(first.to_string())
        } else if first == "group" {
            failure
                .detail
                .split_whitespace()
                .nth(1)
                .map(|g| format!("group {g}"))
        } else {
            None
        };
        Signature {
            check: failure.check,
            subject,
        }
    }

    /// Whether some failure of `report` has this signature.
    pub fn found_in(&self, failures: &[Failure]) -> bool {
        failures.iter().any(|f| Signature::of(f) == *self)
    }
}

impl std::fmt::Display for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.subject {
            Some(s) => write!(f, "{} on {s}", self.check),
            None => f.write_str(self.check),
        }
    }
}

/// The result of shrinking.
#[derive(Debug, Clone)]
pub struct Shrunk {
    /// The smallest scenario found that still fails the same way.
    pub scenario: Scenario,
    /// The failure it keeps (its detail as of the smallest run).
    pub failure: Failure,
    /// Runs made (the first, of the original, included).
    pub runs: usize,
    /// Timeline events before and after.
    pub events: (usize, usize),
    /// Client operations in the history before and after.
    pub operations: (usize, usize),
    /// Simulated time before and after (the whole run, liveness phase included).
    pub simulated: (Duration, Duration),
}

/// Why a case could not be shrunk.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ShrinkError {
    /// The case passes: nothing to keep.
    #[error("the case passes with seed {0}: there is no failure to keep")]
    Passes(u64),
    /// The failure asked for is not among the case's failures.
    #[error("the case does not fail {0}")]
    NoSuchFailure(String),
}

/// Shrinks `scenario` run with `seed`, keeping its failure number `which` (0: the first
/// reported), in at most `max_runs` runs. `progress(runs, kept_events)` is called after
/// every run.
pub fn shrink(
    scenario: &Scenario,
    seed: u64,
    which: usize,
    max_runs: usize,
    mut progress: impl FnMut(usize, usize),
) -> Result<Shrunk, ShrinkError> {
    let first = runner::run(scenario, seed);
    let failure = match first.failures.get(which) {
        Some(f) => f.clone(),
        None if first.failures.is_empty() => return Err(ShrinkError::Passes(seed)),
        None => {
            return Err(ShrinkError::NoSuchFailure(format!(
                "failure number {which} (it has {})",
                first.failures.len()
            )))
        }
    };
    let target = Signature::of(&failure);
    let mut s = Shrinker {
        best: scenario.clone(),
        best_report: summary(&first, &target),
        seed,
        target,
        runs: 1,
        max_runs: max_runs.max(1),
    };
    s.best.seeds = vec![seed];
    progress(s.runs, s.best.timeline.len());
    let before = (
        scenario.timeline.len(),
        first.history.records.len(),
        first.simulated,
    );
    loop {
        let mut changed = false;
        changed |= s.timeline(&mut progress);
        changed |= s.duration(&mut progress);
        changed |= s.workload(&mut progress);
        changed |= s.groups(&mut progress);
        changed |= s.lengths(&mut progress);
        if !changed || s.out_of_runs() {
            break;
        }
    }
    let (failure, operations, simulated) = s.best_report;
    Ok(Shrunk {
        events: (before.0, s.best.timeline.len()),
        operations: (before.1, operations),
        simulated: (before.2, simulated),
        scenario: s.best,
        failure,
        runs: s.runs,
    })
}

/// What is kept of a run: the target's failure, operations, simulated time.
type Kept = (Failure, usize, Duration);

fn summary(report: &RunReport, target: &Signature) -> Kept {
    let failure = report
        .failures
        .iter()
        .find(|f| Signature::of(f) == *target)
        .cloned()
        .unwrap_or_else(|| report.failures[0].clone());
    (failure, report.history.records.len(), report.simulated)
}

struct Shrinker {
    best: Scenario,
    best_report: Kept,
    seed: u64,
    target: Signature,
    runs: usize,
    max_runs: usize,
}

impl Shrinker {
    fn out_of_runs(&self) -> bool {
        self.runs >= self.max_runs
    }

    /// Runs `candidate` if it is valid and runs are left; keeps it if it fails the same
    /// way.
    fn attempt(&mut self, candidate: Scenario, progress: &mut impl FnMut(usize, usize)) -> bool {
        if self.out_of_runs() || candidate == self.best {
            return false;
        }
        if scenario::parse(&candidate.to_toml(), "candidate").is_err() {
            return false;
        }
        let report = runner::run(&candidate, self.seed);
        self.runs += 1;
        let kept = self.target.found_in(&report.failures);
        if kept {
            self.best_report = summary(&report, &self.target);
            self.best = candidate;
        }
        progress(self.runs, self.best.timeline.len());
        kept
    }

    /// Removes timeline events in chunks, largest first.
    fn timeline(&mut self, progress: &mut impl FnMut(usize, usize)) -> bool {
        let mut changed = false;
        let mut chunk = self.best.timeline.len().div_ceil(2).max(1);
        while chunk >= 1 && !self.best.timeline.is_empty() && !self.out_of_runs() {
            let mut start = 0;
            while start < self.best.timeline.len() && !self.out_of_runs() {
                let mut candidate = self.best.clone();
                let end = (start + chunk).min(candidate.timeline.len());
                candidate.timeline.drain(start..end);
                if self.attempt(candidate, progress) {
                    changed = true;
                } else {
                    start += chunk;
                }
            }
            if chunk == 1 {
                break;
            }
            chunk /= 2;
        }
        changed
    }

    /// Cuts the run: to just after the last timeline event, else by a quarter.
    fn duration(&mut self, progress: &mut impl FnMut(usize, usize)) -> bool {
        let mut changed = false;
        let tick = self.best.network.tick;
        loop {
            let last = self
                .best
                .timeline
                .iter()
                .map(|t| t.at)
                .max()
                .unwrap_or_default();
            let now = self.best.duration;
            let options = [
                last + Duration::from_secs(1),
                now.mul_f64(0.75),
                now.mul_f64(0.9),
            ];
            let mut any = false;
            for d in options {
                // Whole ticks, shorter than now, never before the last event.
                let ticks = (d.as_nanos() / tick.as_nanos().max(1)) as u32;
                let d = (tick * ticks).max(last).max(tick);
                if d >= now {
                    continue;
                }
                let mut candidate = self.best.clone();
                candidate.duration = d;
                let w = &mut candidate.workload;
                w.stop = w.stop.map(|s| s.min(d));
                w.start = w.start.min(d.saturating_sub(tick));
                let f = &mut candidate.faults;
                f.until = f.until.map(|u| u.min(d));
                f.start = f.start.min(d.saturating_sub(tick));
                if self.attempt(candidate, progress) {
                    changed = true;
                    any = true;
                    break;
                }
            }
            if !any || self.out_of_runs() {
                return changed;
            }
        }
    }

    /// Fewer clients, keys, shared keys, lanes; a lower rate.
    fn workload(&mut self, progress: &mut impl FnMut(usize, usize)) -> bool {
        let mut changed = false;
        type Change = fn(&mut Scenario) -> bool;
        let changes: [Change; 6] = [
            |s| step_down(&mut s.workload.clients, 1),
            |s| halve(&mut s.workload.keys, 0),
            |s| halve(&mut s.workload.shared_keys, 0),
            |s| step_down(&mut s.workload.concurrency, 1),
            |s| {
                let r = &mut s.workload.rate;
                let before = *r;
                *r = (*r / 2.0).max(1.0);
                *r < before
            },
            |s| {
                let f = &mut s.faults;
                let had = f.crash_every.is_some() || f.partition_every.is_some();
                f.crash_every = None;
                f.partition_every = None;
                had
            },
        ];
        for change in changes {
            loop {
                let mut candidate = self.best.clone();
                if !change(&mut candidate) || !self.attempt(candidate, progress) {
                    break;
                }
                changed = true;
            }
        }
        changed
    }

    /// Fewer groups at the start.
    fn groups(&mut self, progress: &mut impl FnMut(usize, usize)) -> bool {
        let mut changed = false;
        loop {
            let mut candidate = self.best.clone();
            if !step_down(&mut candidate.cluster.groups, 0) || !self.attempt(candidate, progress) {
                return changed;
            }
            changed = true;
        }
    }

    /// Halves each fault's `for`.
    fn lengths(&mut self, progress: &mut impl FnMut(usize, usize)) -> bool {
        let mut changed = false;
        for i in 0..self.best.timeline.len() {
            let mut candidate = self.best.clone();
            let Some(t) = candidate.timeline.get_mut(i) else {
                break;
            };
            let Some(length) = t.event.length_mut() else {
                continue;
            };
            let half = Duration::from_millis((length.as_millis() / 2) as u64);
            if half < Duration::from_millis(10) {
                continue;
            }
            *length = half;
            changed |= self.attempt(candidate, progress);
        }
        changed
    }
}

/// `*n - 1` if above `floor`.
fn step_down(n: &mut u32, floor: u32) -> bool {
    if *n > floor {
        *n -= 1;
        true
    } else {
        false
    }
}

/// `*n / 2` (rounded down, not below `floor`) if that is smaller.
fn halve(n: &mut u32, floor: u32) -> bool {
    let half = (*n / 2).max(floor);
    let smaller = half < *n;
    *n = half;
    smaller
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_name_the_key_or_group_when_the_check_does() {
        let sig = |check, detail: &str| Signature::of(&Failure::new(check, detail));
        assert_eq!(
            sig("linearizable", "c1-k0: p0 get -> absent").subject,
            Some("c1-k0".into())
        );
        assert_eq!(
            sig("liveness", "s2: could not read").subject,
            Some("s2".into())
        );
        assert_eq!(
            sig("no_lost_writes", "c1-k2 reads c1.0-v8 at the end").subject,
            Some("c1-k2".into())
        );
        assert_eq!(
            sig("ring_ownership", "group 1 (group n1a..n1c) acknowledged").subject,
            Some("group 1".into())
        );
        assert_eq!(
            sig("joins_complete", "n1's last cluster_view (v3) lacks n4").subject,
            None
        );
        assert_ne!(
            sig("linearizable", "c1-k0: x"),
            sig("linearizable", "c1-k1: x")
        );
    }
}
