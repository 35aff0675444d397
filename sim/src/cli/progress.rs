//! Progress for logs. When stderr is not a terminal (a CI job, `nohup`, a batch
//! scheduler), indicatif draws nothing, so an hour-long `sim explore` shard would say
//! nothing between its first line and its summary. [`ProgressLines`] decides when a plain
//! progress line is due and what it says; the binary prints it.

use std::time::{Duration, Instant};

/// How often a log gets a progress line by default: often enough to see a shard move,
/// rarely enough that an hour-long shard prints about sixty lines.
pub const EVERY: Duration = Duration::from_secs(60);

/// Plain progress lines, one at most per interval.
#[derive(Debug, Clone)]
pub struct ProgressLines {
    total: u64,
    every: Duration,
    started: Instant,
    next_at: Duration,
}

impl ProgressLines {
    /// Lines for `total` cases, started at `started`, one at most per `every`.
    pub fn new(total: u64, every: Duration, started: Instant) -> Self {
        ProgressLines {
            total,
            every,
            started,
            next_at: every,
        }
    }

    /// The line to print once `done` cases have finished, `failed` of them failing, at
    /// `now`; `None` if the last line was less than an interval ago. A line is due at
    /// every whole interval since the start, so a slow case delays a line but never
    /// shifts the later ones.
    pub fn line(&mut self, done: u64, failed: u64, now: Instant) -> Option<String> {
        let elapsed = now.saturating_duration_since(self.started);
        if elapsed < self.next_at {
            return None;
        }
        while self.next_at <= elapsed {
            self.next_at += self.every;
        }
        let percent = (done * 100).checked_div(self.total).unwrap_or(100);
        let eta = if done == 0 {
            "unknown".to_string()
        } else {
            let left = self.total.saturating_sub(done);
            clock(elapsed.mul_f64(left as f64 / done as f64))
        };
        Some(format!(
            "{done} of {} cases ({percent}%), {failed} failed, {} elapsed, ETA {eta}",
            self.total,
            clock(elapsed),
        ))
    }
}

/// A wall-clock span in whole seconds, as humantime writes it: `1h 2m 3s`, `2m 3s`, `3s`.
fn clock(span: Duration) -> String {
    humantime::format_duration(Duration::from_secs(span.as_secs())).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_due_once_per_interval() {
        let t0 = Instant::now();
        let mut lines = ProgressLines::new(400, Duration::from_secs(60), t0);
        assert_eq!(lines.line(10, 0, t0 + Duration::from_secs(59)), None);
        assert_eq!(
            lines.line(100, 1, t0 + Duration::from_secs(60)).as_deref(),
            Some("100 of 400 cases (25%), 1 failed, 1m elapsed, ETA 3m")
        );
        assert_eq!(lines.line(101, 1, t0 + Duration::from_secs(119)), None);
        // A case that outlasts two intervals gives one line, and the next is due at the
        // next whole interval, not an interval after this one.
        assert!(lines.line(200, 1, t0 + Duration::from_secs(250)).is_some());
        assert_eq!(lines.line(201, 1, t0 + Duration::from_secs(299)), None);
        assert!(lines.line(300, 1, t0 + Duration::from_secs(300)).is_some());
    }

    #[test]
    fn no_estimate_before_the_first_case() {
        let t0 = Instant::now();
        let mut lines = ProgressLines::new(5, Duration::from_secs(1), t0);
        assert_eq!(
            lines.line(0, 0, t0 + Duration::from_secs(3725)).as_deref(),
            Some("0 of 5 cases (0%), 0 failed, 1h 2m 5s elapsed, ETA unknown")
        );
    }

    #[test]
    fn clock_counts_whole_seconds() {
        assert_eq!(clock(Duration::from_millis(3_999)), "3s");
        assert_eq!(clock(Duration::from_millis(123_400)), "2m 3s");
        assert_eq!(clock(Duration::from_secs(3600)), "1h");
    }
}
