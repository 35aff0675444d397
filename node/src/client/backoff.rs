//! Exponential backoff with jitter, drawn from the injected [`Rng`] so a simulation
//! replays the same waits.
//!
//! The n-th wait (counting from 0) is drawn uniformly from `[ceiling / 2, ceiling]`,
//! where `ceiling = min(max, min * 2^n)`, and never falls below `min`. Half the ceiling is
//! kept as a floor so waits still grow; the random half spreads clients that were
//! refused together (a write lock released, a leader elected) so they do not all come
//! back in the same instant.

use std::time::Duration;

use crate::io::Rng;

/// The waits of one operation: grows with each call to [`Backoff::next_delay`].
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A fresh backoff between `min` and `max` (a `max` below `min` is raised to `min`).
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        Backoff {
            min,
            max: max.max(min),
            attempt: 0,
        }
    }

    /// The next wait; each call raises the ceiling for the one after.
    pub(crate) fn next_delay(&mut self, rng: &mut Rng) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        let floor = (ceiling / 2).max(self.min);
        let span = nanos(ceiling).saturating_sub(nanos(floor));
        floor + Duration::from_nanos(rng.range(0, span.saturating_add(1)))
    }

    fn ceiling(&self) -> Duration {
        // 2^31 of anything reaches `max` long before; cap the shift to stay defined.
        let factor = 1u32 << self.attempt.min(31);
        self.min.saturating_mul(factor).min(self.max)
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_millis(10);
    const MAX: Duration = Duration::from_secs(1);

    #[test]
    fn every_delay_stays_between_min_and_max() {
        let mut rng = Rng::from_seed(7);
        let mut b = Backoff::new(MIN, MAX);
        for _ in 0..200 {
            let d = b.next_delay(&mut rng);
            assert!((MIN..=MAX).contains(&d), "{d:?} outside [{MIN:?}, {MAX:?}]");
        }
    }

    #[test]
    fn delays_grow_to_the_cap_then_stay_near_it() {
        let mut rng = Rng::from_seed(1);
        let mut b = Backoff::new(MIN, MAX);
        let first = b.next_delay(&mut rng);
        assert_eq!(first, MIN, "the first ceiling is min itself");
        let delays: Vec<Duration> = (0..20).map(|_| b.next_delay(&mut rng)).collect();
        // The 4th wait has ceiling 80 ms, so it is at least 40 ms.
        assert!(delays[2] >= Duration::from_millis(40), "{delays:?}");
        // Once capped, every wait lies in [max/2, max].
        for d in &delays[10..] {
            assert!(*d >= MAX / 2 && *d <= MAX, "{d:?}");
        }
    }

    #[test]
    fn jitter_varies_and_is_reproducible_from_the_seed() {
        let draw = |seed| {
            let mut rng = Rng::from_seed(seed);
            let mut b = Backoff::new(MIN, MAX);
            (0..12).map(|_| b.next_delay(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(draw(3), draw(3));
        let capped: Vec<Duration> = draw(3)[8..].to_vec();
        assert!(
            capped.windows(2).any(|w| w[0] != w[1]),
            "no jitter: {capped:?}"
        );
    }

    #[test]
    fn max_below_min_and_huge_attempt_counts_are_safe() {
        let mut rng = Rng::from_seed(9);
        let mut b = Backoff::new(Duration::from_millis(50), Duration::from_millis(5));
        for _ in 0..100 {
            assert_eq!(b.next_delay(&mut rng), Duration::from_millis(50));
        }
        let mut b = Backoff::new(Duration::from_secs(u64::MAX / 4), Duration::MAX);
        for _ in 0..70 {
            let _ = b.next_delay(&mut rng);
        }
    }
}
