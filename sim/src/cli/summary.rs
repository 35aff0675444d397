//! The summary table `sim run` prints after all cases: one row per scenario and a total.

use std::fmt::Write;
use std::time::Duration;

use super::pool::Outcome;

/// Counts and times over some cases.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    /// Cases run.
    pub cases: usize,
    /// Cases whose checks all passed.
    pub passed: usize,
    /// Cases with a violated check.
    pub failed: usize,
    /// Simulated time, summed over cases.
    pub simulated: Duration,
    /// Wall-clock time, summed over cases (each measured on its own worker thread).
    pub wall: Duration,
    /// Keys the linearizability check left undecided, summed over cases.
    pub undecided_keys: usize,
    /// Cases with at least one undecided key.
    pub undecided_cases: usize,
}

impl Totals {
    /// Counts one case.
    pub fn add(&mut self, outcome: &Outcome) {
        self.cases += 1;
        if outcome.passed() {
            self.passed += 1;
        } else {
            self.failed += 1;
        }
        self.simulated += outcome.simulated;
        self.wall += outcome.wall;
        self.undecided_keys += outcome.undecided;
        self.undecided_cases += usize::from(outcome.undecided > 0);
    }

    /// Adds another total into this one.
    pub fn merge(&mut self, other: &Totals) {
        self.cases += other.cases;
        self.passed += other.passed;
        self.failed += other.failed;
        self.simulated += other.simulated;
        self.wall += other.wall;
        self.undecided_keys += other.undecided_keys;
        self.undecided_cases += other.undecided_cases;
    }

    /// Simulated seconds per wall-clock second of one core; `None` before any wall time.
    pub fn speed(&self) -> Option<f64> {
        let wall = self.wall.as_secs_f64();
        (wall > 0.0).then(|| self.simulated.as_secs_f64() / wall)
    }
}

const HEADERS: [&str; 7] = [
    "scenario",
    "seeds",
    "passed",
    "failed",
    "simulated s",
    "wall s",
    "sim s per wall s",
];

/// The table: a header, one row per `(scenario name, totals)`, and a `total` row.
pub fn table(rows: &[(String, Totals)]) -> String {
    let mut total = Totals::default();
    for (_, t) in rows {
        total.merge(t);
    }
    let cells = |name: &str, t: &Totals| -> [String; 7] {
        [
            name.to_string(),
            t.cases.to_string(),
            t.passed.to_string(),
            t.failed.to_string(),
            format!("{:.1}", t.simulated.as_secs_f64()),
            format!("{:.2}", t.wall.as_secs_f64()),
            t.speed()
                .map_or_else(|| "-".to_string(), |s| format!("{s:.1}")),
        ]
    };
    let mut body: Vec<[String; 7]> = rows.iter().map(|(name, t)| cells(name, t)).collect();
    body.push(cells("total", &total));
    let mut widths = HEADERS.map(str::len);
    for row in &body {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |row: &[String]| {
        let mut text = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            // The name column reads left to right; numbers line up on the right.
            if i == 0 {
                let _ = write!(text, "{cell:<w$}");
            } else {
                let _ = write!(text, "  {cell:>w$}");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&HEADERS.map(String::from));
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(&rule);
    let last = body.len() - 1;
    for (i, row) in body.iter().enumerate() {
        if i == last {
            line(&rule);
        }
        line(row);
    }
    out
}

/// Everything `sim run` prints after its cases: the [`table`], a footnote on how speed
/// is measured, how many cases were not run (`--fail-fast` or Ctrl-C stopped the run
/// early), and a last line `ok: ...` or `FAILED: ...`. `elapsed` is the whole run's
/// wall-clock time on `jobs` threads.
pub fn report(rows: &[(String, Totals)], not_run: usize, jobs: usize, elapsed: Duration) -> String {
    let mut total = Totals::default();
    for (_, t) in rows {
        total.merge(t);
    }
    let mut text = table(rows);
    text.push_str(&format!(
        "wall s sums each case's own run time, so sim s per wall s is per core; \
         the {} took {:.2} s on {}.\n",
        plural(total.cases, "case"),
        elapsed.as_secs_f64(),
        plural(jobs, "thread"),
    ));
    if total.undecided_keys > 0 {
        text.push_str(&format!(
            "undecided: the linearizability check ran out of search steps on {} in {} \
             (neither passed nor failed; raise [checks] linearizable_steps to decide them).\n",
            plural(total.undecided_keys, "key"),
            plural(total.undecided_cases, "case"),
        ));
    }
    if not_run > 0 {
        text.push_str(&format!(
            "stopped early: {} not run.\n",
            plural(not_run, "case")
        ));
    }
    if total.failed == 0 {
        text.push_str(&format!("ok: {} passed\n", plural(total.cases, "case")));
    } else {
        text.push_str(&format!(
            "FAILED: {} of {} failed\n",
            total.failed,
            plural(total.cases, "case")
        ));
    }
    text
}

/// `1 case`, `2 cases`.
pub fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_and_total() {
        let outcome = |secs: u64, wall_ms: u64, failed: bool| Outcome {
            failures: if failed {
                vec![crate::checks::Failure::new("liveness", "x")]
            } else {
                Vec::new()
            },
            simulated: Duration::from_secs(secs),
            wall: Duration::from_millis(wall_ms),
            undecided: 0,
            history_file: None,
        };
        let mut a = Totals::default();
        a.add(&outcome(10, 500, false));
        a.add(&outcome(10, 500, true));
        let b = Totals::default();
        let text = table(&[("alpha".into(), a), ("b".into(), b)]);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "scenario  seeds  passed  failed  simulated s  wall s  sim s per wall s"
        );
        assert_eq!(
            lines[2],
            "alpha         2       1       1         20.0    1.00              20.0"
        );
        assert_eq!(
            lines[3],
            "b             0       0       0          0.0    0.00                 -"
        );
        assert_eq!(
            lines[5],
            "total         2       1       1         20.0    1.00              20.0"
        );
    }
}
