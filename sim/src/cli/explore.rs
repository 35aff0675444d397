//! The parts of `sim explore` worth testing on their own: slicing a seed range into
//! shards, the JSON summary a shard writes, and merging shards' summaries into one report.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::coverage::Coverage;
use super::seeds::SeedRange;
use super::summary::plural;

/// The `I`-th of `N` disjoint slices of a seed range (`--shard I/N`, `1 <= I <= N`).
/// Slices are strided (seed `first + k` belongs to slice `k mod N + 1`), so every shard
/// gets early and late seeds alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Which slice, from 1.
    pub index: u64,
    /// How many slices.
    pub count: u64,
}

/// Why `--shard` did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a shard I/N with 1 <= I <= N, such as 2/8, not {0:?}")]
pub struct ShardError(String);

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || ShardError(text.to_string());
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index: u64 = i.trim().parse().map_err(|_| bad())?;
        let count: u64 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 1, count: 1 }
    }
}

impl Shard {
    /// This shard's seeds of `range`, in order.
    pub fn seeds(self, range: SeedRange) -> impl Iterator<Item = u64> {
        range
            .seeds()
            .filter(move |s| (s - range.first) % self.count == self.index - 1)
    }
}

/// One failing case, as the summary records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedCase {
    /// The base scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// The checks that failed (a check once per case).
    pub checks: Vec<String>,
    /// The scenario file written for it, if it could be written.
    pub file: Option<PathBuf>,
    /// The shrunk file, if shrinking ran and kept the failure.
    #[serde(default)]
    pub shrunk: Option<PathBuf>,
}

/// What one `sim explore` run (one shard) did: written with `--summary`, read back by
/// `--merge`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExploreSummary {
    /// The seed range asked for, as `A..=B` (every shard names the whole range).
    pub seeds: String,
    /// The shards these figures cover, as `I/N` each.
    pub shards: Vec<String>,
    /// Seeds run (over all scenarios, each seed counts once).
    pub seeds_run: u64,
    /// Cases run.
    pub cases: u64,
    /// Cases that passed.
    pub passed: u64,
    /// Cases that failed.
    pub failed: u64,
    /// Cases not run (a time budget, --fail-fast or Ctrl-C stopped the run).
    pub not_run: u64,
    /// Simulated seconds, summed over cases.
    pub simulated_s: f64,
    /// Wall seconds, summed over cases (each on its own worker thread).
    pub case_wall_s: f64,
    /// Wall seconds of the whole run (the shards' sum once merged).
    pub elapsed_s: f64,
    /// Worker threads (the shards' sum once merged).
    pub jobs: u64,
    /// Failing cases in case order.
    pub failures: Vec<FailedCase>,
    /// The cases run, per base scenario; `None` in summaries of versions that did not
    /// record it, and in a merge that took in one of those.
    #[serde(default)]
    pub covered: Option<Coverage>,
}

impl ExploreSummary {
    /// Failing cases per check name, in name order.
    pub fn by_check(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::new();
        for f in &self.failures {
            for check in &f.checks {
                *counts.entry(check.clone()).or_insert(0) += 1;
            }
        }
        counts
    }

    /// Keeps only the cases of the base scenarios named in `keep`, so that shards run
    /// before a scenario left the shipped set still count for the others; `None` (and
    /// nothing changed) if the summary does not record its cases. Simulated and wall
    /// seconds are not recorded per scenario and stay whole.
    pub fn keep_only(&mut self, keep: &BTreeSet<String>) -> Option<LeftOut> {
        let dropped = self.covered.as_mut()?.split_off_except(keep);
        let before = self.failures.len();
        self.failures.retain(|f| keep.contains(&f.scenario));
        let left = LeftOut {
            scenarios: dropped.names(),
            cases: dropped.cases(),
            failed: (before - self.failures.len()) as u64,
        };
        self.cases = self.cases.saturating_sub(left.cases);
        self.failed = self.failed.saturating_sub(left.failed);
        self.passed = self
            .passed
            .saturating_sub(left.cases.saturating_sub(left.failed));
        Some(left)
    }

    /// Adds another shard's figures into these.
    pub fn merge(&mut self, other: &ExploreSummary) {
        if self.seeds.is_empty() {
            self.seeds = other.seeds.clone();
        }
        self.shards.extend(other.shards.iter().cloned());
        self.seeds_run += other.seeds_run;
        self.cases += other.cases;
        self.passed += other.passed;
        self.failed += other.failed;
        self.not_run += other.not_run;
        self.simulated_s += other.simulated_s;
        self.case_wall_s += other.case_wall_s;
        self.elapsed_s += other.elapsed_s;
        self.jobs += other.jobs;
        self.failures.extend(other.failures.iter().cloned());
        self.covered = match (self.covered.take(), &other.covered) {
            (Some(mut ours), Some(theirs)) => {
                ours.merge(theirs);
                Some(ours)
            }
            _ => None,
        };
    }

    /// What the cases run cover of the seed range (`--merge` prints it): every seed for
    /// every scenario, or how many cases are missing; `None` if the coverage is not known.
    pub fn coverage_line(&self) -> Option<String> {
        let covered = self.covered.as_ref()?;
        let range: SeedRange = self.seeds.parse().ok()?;
        let gaps = covered.gaps(range);
        let scenarios = plural(covered.scenarios(), "scenario");
        let line = if gaps.missing == 0 {
            format!(
                "covered: {} distinct cases, every seed of {} for each of {scenarios}\n",
                covered.cases(),
                self.seeds
            )
        } else {
            format!(
                "covered: {} distinct cases of {scenarios}; of seeds {}, {gaps}\n",
                covered.cases(),
                self.seeds
            )
        };
        Some(line)
    }

    /// The report's closing lines: speed, failures by check, and `ok:` or `FAILED:`.
    pub fn report(&self) -> String {
        let mut text = String::new();
        let per_core = |x: f64| {
            if self.case_wall_s > 0.0 {
                format!("{:.2}", x / self.case_wall_s)
            } else {
                "-".to_string()
            }
        };
        text.push_str(&format!(
            "explored {} ({}) of seeds {}{}: {} cases/s and {} seeds/s per core, {} \
             simulated s per wall s per core; {:.1} s of wall time on {}\n",
            plural(self.cases as usize, "case"),
            plural(self.seeds_run as usize, "seed"),
            self.seeds,
            if self.shards.len() == 1 && self.shards[0] == "1/1" {
                String::new()
            } else {
                format!(", shards {}", self.shards.join(" "))
            },
            per_core(self.cases as f64),
            per_core(self.seeds_run as f64),
            per_core(self.simulated_s),
            self.elapsed_s,
            plural(self.jobs as usize, "thread"),
        ));
        let by_check = self.by_check();
        if !by_check.is_empty() {
            let list: Vec<String> = by_check.iter().map(|(c, n)| format!("{c} {n}")).collect();
            text.push_str(&format!("failures by check: {}\n", list.join(", ")));
        }
        // A merge that knows its coverage says what is missing in its own line
        // (`coverage_line`): a case one shard left may have run in another file.
        let merged_with_coverage = self.shards.len() > 1 && self.covered.is_some();
        if self.not_run > 0 && !merged_with_coverage {
            text.push_str(&format!(
                "stopped early: {} not run.\n",
                plural(self.not_run as usize, "case")
            ));
        }
        if self.failed == 0 {
            text.push_str(&format!(
                "ok: {} passed\n",
                plural(self.cases as usize, "case")
            ));
        } else {
            text.push_str(&format!(
                "FAILED: {} of {} failed\n",
                self.failed,
                plural(self.cases as usize, "case")
            ));
        }
        text
    }
}

/// The cases a merge left out because their base scenario was not among those named.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeftOut {
    /// Those base scenarios, by name.
    pub scenarios: BTreeSet<String>,
    /// Their cases, as the summaries counted them.
    pub cases: u64,
    /// Those of them that failed.
    pub failed: u64,
}

impl LeftOut {
    fn add(&mut self, other: LeftOut) {
        self.scenarios.extend(other.scenarios);
        self.cases += other.cases;
        self.failed += other.failed;
    }
}

/// Why summaries could not be merged.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// A file or directory could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file is not a summary.
    #[error("{path} is not a sim explore summary")]
    Parse {
        /// The path.
        path: PathBuf,
        /// Why.
        source: serde_json::Error,
    },
    /// Summaries of different seed ranges.
    #[error(
        "{path} covers seeds {theirs}, the others {ours}, and not both record the cases they \
         ran: merge shards of one range"
    )]
    Ranges {
        /// The odd file.
        path: PathBuf,
        /// Its range.
        theirs: String,
        /// The others' range.
        ours: String,
    },
    /// Nothing to merge.
    #[error("no summary files (*.json) found")]
    Empty,
    /// Scenarios were named, and a summary does not say which scenarios it ran.
    #[error(
        "{path} does not record the cases it ran (an older sim), so its cases cannot be \
         counted by scenario: merge it without naming scenarios"
    )]
    NoCases {
        /// The file.
        path: PathBuf,
    },
}

/// Merges the summaries in `paths` (files, or directories whose `*.json` files are read,
/// sorted by name). Summaries of one seed range always merge; of different ranges only
/// when each records its coverage, and the merge then covers the smallest range holding
/// them all (its report says which of those cases no file ran).
pub fn merge(paths: &[PathBuf]) -> Result<ExploreSummary, MergeError> {
    merge_only(paths, None).map(|(summary, _)| summary)
}

/// [`merge`], counting only the cases of the base scenarios named in `keep` (when given):
/// what each summary ran of other scenarios is left out and reported.
pub fn merge_only(
    paths: &[PathBuf],
    keep: Option<&BTreeSet<String>>,
) -> Result<(ExploreSummary, LeftOut), MergeError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let read = |e| MergeError::Read {
                path: path.clone(),
                source: e,
            };
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(read)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    let mut total: Option<ExploreSummary> = None;
    let mut left_out = LeftOut::default();
    for file in &files {
        let mut summary = read_summary(file)?;
        if let Some(keep) = keep {
            let left = summary
                .keep_only(keep)
                .ok_or_else(|| MergeError::NoCases { path: file.clone() })?;
            left_out.add(left);
        }
        let Some(total) = total.as_mut() else {
            total = Some(summary);
            continue;
        };
        if total.seeds != summary.seeds {
            // Runs over other seeds (those a time budget left) join only when both
            // record what they ran: then the merge can tell what the union misses.
            let hull = hull(&total.seeds, &summary.seeds)
                .filter(|_| total.covered.is_some() && summary.covered.is_some());
            let Some(hull) = hull else {
                return Err(MergeError::Ranges {
                    path: file.clone(),
                    theirs: summary.seeds,
                    ours: total.seeds.clone(),
                });
            };
            total.seeds = hull;
        }
        total.merge(&summary);
    }
    // Every named scenario is judged, those no summary ran included: otherwise a base
    // added after the shards ran would read as covered (`scenarios/ --merge` is the gate).
    if let (Some(keep), Some(covered)) = (keep, total.as_mut().and_then(|t| t.covered.as_mut())) {
        for name in keep {
            covered.expect(name);
        }
    }
    total.map(|t| (t, left_out)).ok_or(MergeError::Empty)
}

/// The smallest range holding two written ranges, written; `None` if one does not parse.
fn hull(a: &str, b: &str) -> Option<String> {
    let (a, b): (SeedRange, SeedRange) = (a.parse().ok()?, b.parse().ok()?);
    let hull = SeedRange {
        first: a.first.min(b.first),
        last: a.last.max(b.last),
    };
    Some(hull.to_string())
}

fn read_summary(path: &Path) -> Result<ExploreSummary, MergeError> {
    let text = std::fs::read_to_string(path).map_err(|e| MergeError::Read {
        path: path.to_path_buf(),
        source: e,
    })?;
    serde_json::from_str(&text).map_err(|e| MergeError::Parse {
        path: path.to_path_buf(),
        source: e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_a_range_into_disjoint_covering_slices() {
        let range: SeedRange = "10..=30".parse().unwrap();
        let mut all: Vec<u64> = Vec::new();
        for i in 1..=4 {
            let shard: Shard = format!("{i}/4").parse().unwrap();
            all.extend(shard.seeds(range));
        }
        all.sort();
        assert_eq!(all, (10..=30).collect::<Vec<_>>());
        let first: Vec<u64> = "1/4".parse::<Shard>().unwrap().seeds(range).collect();
        assert_eq!(first, vec![10, 14, 18, 22, 26, 30]);
        for bad in ["0/4", "5/4", "1", "a/b", "1/0"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
    }

    #[test]
    fn merged_summaries_add_up_and_refuse_other_ranges() {
        let dir = std::env::temp_dir().join(format!("sim-merge-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let shard = |i: u64, failed: u64| ExploreSummary {
            seeds: "0..=9".into(),
            shards: vec![format!("{i}/2")],
            seeds_run: 5,
            cases: 10,
            passed: 10 - failed,
            failed,
            simulated_s: 100.0,
            case_wall_s: 1.0,
            elapsed_s: 0.6,
            jobs: 2,
            failures: (0..failed)
                .map(|k| FailedCase {
                    scenario: "s".into(),
                    seed: k,
                    checks: vec!["linearizable".into()],
                    file: None,
                    shrunk: None,
                })
                .collect(),
            ..ExploreSummary::default()
        };
        for (i, failed) in [(1, 0), (2, 2)] {
            let text = serde_json::to_string(&shard(i, failed)).unwrap();
            std::fs::write(dir.join(format!("shard{i}.json")), text).unwrap();
        }
        let merged = merge(std::slice::from_ref(&dir)).unwrap();
        assert_eq!((merged.cases, merged.failed, merged.seeds_run), (20, 2, 10));
        assert_eq!(merged.by_check().get("linearizable"), Some(&2));
        assert!(merged.report().contains("FAILED: 2 of 20 cases failed"));
        assert!(merged.report().contains("shards 1/2 2/2"));
        let mut other = shard(1, 0);
        other.seeds = "0..=99".into();
        std::fs::write(dir.join("z.json"), serde_json::to_string(&other).unwrap()).unwrap();
        assert!(matches!(
            merge(std::slice::from_ref(&dir)),
            Err(MergeError::Ranges { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A shard stopped by a time budget and a run over the seeds it left merge into one
    /// statement of what ran, whose gaps are the cases neither ran.
    #[test]
    fn runs_of_other_ranges_merge_by_what_they_covered() {
        let dir = std::env::temp_dir().join(format!("sim-cover-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let run = |range: &str, seeds: &[u64], not_run: u64| {
            let mut covered = Coverage::default();
            for &seed in seeds {
                covered.insert("a", seed);
                covered.insert("b", seed);
            }
            ExploreSummary {
                seeds: range.into(),
                shards: vec!["1/2".into()],
                cases: 2 * seeds.len() as u64,
                passed: 2 * seeds.len() as u64,
                not_run,
                covered: Some(covered),
                ..ExploreSummary::default()
            }
        };
        let write = |name: &str, s: &ExploreSummary| {
            std::fs::write(dir.join(name), serde_json::to_string(s).unwrap()).unwrap();
        };
        // Shard 1/2 of 0..=9 stopped after seeds 0 and 2; the rest of it is 4..=9, 1/2.
        write("budget.json", &run("0..=9", &[0, 2], 6));
        write("rest.json", &run("4..=9", &[4, 6, 8], 0));
        let merged = merge(std::slice::from_ref(&dir)).unwrap();
        assert_eq!(merged.seeds, "0..=9");
        let line = merged.coverage_line().unwrap();
        assert!(
            line.contains("10 distinct cases of 2 scenarios; of seeds 0..=9, 10 cases missing, the first a seed 1"),
            "{line}"
        );
        assert!(
            !merged.report().contains("stopped early"),
            "the rest ran them"
        );
        // Shard 2/2 completes the range.
        write("other.json", &run("0..=9", &[1, 3, 5, 7, 9], 0));
        let line = merge(std::slice::from_ref(&dir))
            .unwrap()
            .coverage_line()
            .unwrap();
        assert!(
            line.contains("every seed of 0..=9 for each of 2 scenarios"),
            "{line}"
        );
        // A summary that records no coverage makes the merge's coverage unknown, and
        // then a run over other seeds cannot join.
        let mut old = run("0..=9", &[1], 0);
        old.covered = None;
        write("old.json", &old);
        assert!(matches!(
            merge(std::slice::from_ref(&dir)),
            Err(MergeError::Ranges { .. })
        ));
        std::fs::remove_file(dir.join("rest.json")).unwrap();
        let merged = merge(std::slice::from_ref(&dir)).unwrap();
        assert_eq!(merged.coverage_line(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Naming the scenarios to count leaves out the cases of a scenario removed since a
    /// shard ran, failures included, and says so, and counts every seed of a named
    /// scenario no shard ran as missing; a summary that records no cases cannot be split.
    #[test]
    fn a_merge_counts_only_the_named_scenarios() {
        let dir = std::env::temp_dir().join(format!("sim-keep-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut covered = Coverage::default();
        for seed in 0..5 {
            covered.insert("kept", seed);
            covered.insert("removed", seed);
        }
        let failure = |scenario: &str, seed| FailedCase {
            scenario: scenario.into(),
            seed,
            checks: vec!["liveness".into()],
            file: None,
            shrunk: None,
        };
        let summary = ExploreSummary {
            seeds: "0..=4".into(),
            shards: vec!["1/1".into()],
            seeds_run: 5,
            cases: 10,
            passed: 7,
            failed: 3,
            failures: vec![
                failure("removed", 1),
                failure("kept", 2),
                failure("removed", 3),
            ],
            covered: Some(covered),
            ..ExploreSummary::default()
        };
        let file = dir.join("shard.json");
        std::fs::write(&file, serde_json::to_string(&summary).unwrap()).unwrap();
        let keep: BTreeSet<String> = ["kept".to_string(), "new".to_string()].into();
        let (merged, left) = merge_only(std::slice::from_ref(&file), Some(&keep)).unwrap();
        assert_eq!((merged.cases, merged.passed, merged.failed), (5, 4, 1));
        assert_eq!(merged.failures, vec![failure("kept", 2)]);
        assert_eq!(
            left,
            LeftOut {
                scenarios: ["removed".to_string()].into(),
                cases: 5,
                failed: 2
            }
        );
        // A named scenario no shard ran misses every seed (its count used to be left out).
        let line = merged.coverage_line().unwrap();
        assert!(
            line.contains("5 distinct cases of 2 scenarios; of seeds 0..=4, 5 cases missing, the first new seed 0"),
            "{line}"
        );
        let keep_ran: BTreeSet<String> = ["kept".to_string()].into();
        let (ran, _) = merge_only(std::slice::from_ref(&file), Some(&keep_ran)).unwrap();
        let line = ran.coverage_line().unwrap();
        assert!(
            line.contains("every seed of 0..=4 for each of 1 scenario"),
            "{line}"
        );
        let (all, left) = merge_only(std::slice::from_ref(&file), None).unwrap();
        assert_eq!((all.cases, all.failed, left), (10, 3, LeftOut::default()));
        let mut old = summary;
        old.covered = None;
        std::fs::write(&file, serde_json::to_string(&old).unwrap()).unwrap();
        assert!(matches!(
            merge_only(std::slice::from_ref(&file), Some(&keep)),
            Err(MergeError::NoCases { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
