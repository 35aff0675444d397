//! Which cases a run of `sim explore` covered: per base scenario, the seeds whose case ran.
//!
//! A summary carries its coverage, so shards stopped by a time budget and runs over the
//! seeds a budget left can be merged into one statement of what ran: `--merge` names the
//! cases of the merged range that no file covers, instead of adding up case counts that
//! cannot tell a missing seed from a case run twice.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::seeds::SeedRange;
use super::summary::plural;

/// A set of seeds. Written as strided runs, `A..=B/S` for A, A+S, ..., B and `A` alone,
/// so a shard's 125 seeds of 0..2000 take one line: `0..=1984/16`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedSet(BTreeSet<u64>);

/// Why a written seed set did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected seeds written A or A..=B/S (S > 0, A <= B), not {0:?}")]
pub struct SeedSetError(String);

impl SeedSet {
    /// Adds a seed.
    pub fn insert(&mut self, seed: u64) {
        self.0.insert(seed);
    }

    /// Whether `seed` is in the set.
    pub fn contains(&self, seed: u64) -> bool {
        self.0.contains(&seed)
    }

    /// How many seeds the set holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The set in its written form: maximal strided runs, taken greedily in seed order.
    pub fn runs(&self) -> Vec<String> {
        let seeds: Vec<u64> = self.0.iter().copied().collect();
        let mut out = Vec::new();
        let mut i = 0;
        while i < seeds.len() {
            let first = seeds[i];
            let Some(&next) = seeds.get(i + 1) else {
                out.push(first.to_string());
                break;
            };
            let step = next - first;
            let mut j = i + 1;
            while seeds.get(j + 1).is_some_and(|&s| s - seeds[j] == step) {
                j += 1;
            }
            out.push(format!("{first}..={}/{step}", seeds[j]));
            i = j + 1;
        }
        out
    }

    /// Adds the seeds of one written run (see [`SeedSet::runs`]): `A`, or a range as
    /// `--seeds` takes it ([`SeedRange`]) and a step.
    fn insert_run(&mut self, text: &str) -> Result<(), SeedSetError> {
        let bad = || SeedSetError(text.to_string());
        match text.split_once('/') {
            None => self.insert(text.trim().parse().map_err(|_| bad())?),
            Some((range, step)) => {
                let range: SeedRange = range.parse().map_err(|_| bad())?;
                let step: usize = step.trim().parse().map_err(|_| bad())?;
                if step == 0 {
                    return Err(bad());
                }
                self.0.extend(range.seeds().step_by(step));
            }
        }
        Ok(())
    }
}

impl Serialize for SeedSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.runs().serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SeedSet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let runs = Vec::<String>::deserialize(deserializer)?;
        let mut set = SeedSet::default();
        for run in &runs {
            set.insert_run(run).map_err(serde::de::Error::custom)?;
        }
        Ok(set)
    }
}

/// Per base scenario (by name), the seeds whose case ran, passed or failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Coverage(BTreeMap<String, SeedSet>);

/// What of a range a coverage lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gaps {
    /// Cases (scenario, seed) of the range not covered.
    pub missing: u64,
    /// The first missing case, in scenario then seed order.
    pub first: Option<(String, u64)>,
}

impl Coverage {
    /// Records that `scenario` ran with `seed`.
    pub fn insert(&mut self, scenario: &str, seed: u64) {
        self.0.entry(scenario.to_string()).or_default().insert(seed);
    }

    /// Counts `scenario` among those the range is judged for, even if no case of it ran
    /// (a base scenario added after the shards ran is missing every seed, not absent).
    pub fn expect(&mut self, scenario: &str) {
        self.0.entry(scenario.to_string()).or_default();
    }

    /// Adds another run's coverage.
    pub fn merge(&mut self, other: &Coverage) {
        for (scenario, seeds) in &other.0 {
            self.0
                .entry(scenario.clone())
                .or_default()
                .0
                .extend(seeds.0.iter().copied());
        }
    }

    /// Removes the scenarios not in `keep` and returns them.
    pub fn split_off_except(&mut self, keep: &BTreeSet<String>) -> Coverage {
        let (kept, dropped) = std::mem::take(&mut self.0)
            .into_iter()
            .partition(|(name, _)| keep.contains(name));
        self.0 = kept;
        Coverage(dropped)
    }

    /// The names of the scenarios covered at all (at least one seed ran).
    pub fn names(&self) -> BTreeSet<String> {
        self.0
            .iter()
            .filter(|(_, seeds)| !seeds.is_empty())
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The scenarios judged: those covered at all, and those [`Coverage::expect`]ed.
    pub fn scenarios(&self) -> usize {
        self.0.len()
    }

    /// Distinct seeds covered, over all scenarios.
    pub fn seeds(&self) -> usize {
        let all: BTreeSet<u64> = self.0.values().flat_map(|s| s.0.iter().copied()).collect();
        all.len()
    }

    /// Distinct cases covered (a case run twice counts once).
    pub fn cases(&self) -> u64 {
        self.0.values().map(|s| s.len() as u64).sum()
    }

    /// The cases of `range` not covered, for every scenario covered at all.
    pub fn gaps(&self, range: SeedRange) -> Gaps {
        let mut gaps = Gaps {
            missing: 0,
            first: None,
        };
        for (scenario, seeds) in &self.0 {
            for seed in range.seeds().filter(|&s| !seeds.contains(s)) {
                gaps.missing += 1;
                gaps.first.get_or_insert_with(|| (scenario.clone(), seed));
            }
        }
        gaps
    }
}

impl fmt::Display for Gaps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.first {
            None => write!(f, "no case missing"),
            Some((scenario, seed)) => write!(
                f,
                "{} missing, the first {scenario} seed {seed}",
                plural(self.missing as usize, "case")
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(seeds: &[u64]) -> SeedSet {
        let mut s = SeedSet::default();
        for &seed in seeds {
            s.insert(seed);
        }
        s
    }

    #[test]
    fn seed_sets_are_written_as_strided_runs_and_read_back() {
        let shard: Vec<u64> = (0..2000).step_by(16).collect();
        assert_eq!(set(&shard).runs(), vec!["0..=1984/16"]);
        let odd = set(&[1, 17, 33, 40, 41, 42, 99]);
        assert_eq!(odd.runs(), vec!["1..=33/16", "40..=42/1", "99"]);
        let text = serde_json::to_string(&odd).unwrap();
        assert_eq!(serde_json::from_str::<SeedSet>(&text).unwrap(), odd);
        for bad in [
            r#"["1..=5"]"#,
            r#"["1/2"]"#,
            r#"["5..=1/1"]"#,
            r#"["1..=5/0"]"#,
            r#"["x"]"#,
        ] {
            assert!(serde_json::from_str::<SeedSet>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn gaps_name_what_no_run_covered_and_count_repeats_once() {
        let range: SeedRange = "0..=3".parse().unwrap();
        let mut a = Coverage::default();
        a.insert("x", 0);
        a.insert("x", 2);
        a.insert("y", 0);
        let mut b = Coverage::default();
        b.insert("x", 1);
        b.insert("x", 2);
        b.insert("x", 3);
        a.merge(&b);
        assert_eq!((a.cases(), a.seeds()), (5, 4));
        let gaps = a.gaps(range);
        assert_eq!((gaps.missing, gaps.first), (3, Some(("y".to_string(), 1))));
        for s in 1..=3 {
            a.insert("y", s);
        }
        assert_eq!(a.gaps(range).missing, 0);
    }
}
