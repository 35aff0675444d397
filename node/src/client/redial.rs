//! Addresses whose connects failed, and when the client may dial each again.
//!
//! An operation's own backoff starts afresh with every operation, and a lane of a client
//! whose node went silent (a held link, a frozen host) dialled it again at every
//! operation, after every redirect back to it: about one SYN per attempt timeout, for as
//! long as the silence lasted. One client with 20 lanes put 450 SYNs on a link held for
//! 30 s (`connect_flood`, the former defect review-one-client-twenty-lanes-redial-a-held-
//! node). So the client remembers, across operations, each address whose last connects
//! failed, and does not dial it again before a wait that doubles with each failure in a
//! row ([`ClientConfig::redial_min`] up to [`ClientConfig::redial_max`], jittered like
//! [`Backoff`]); meanwhile it asks other nodes, which answer or send it back. A connect
//! that succeeds forgets the address's failures.
//!
//! The ceiling is a trade: it is also how long a lane may take to come back to a node
//! that restarted (refused connects count as failures). A review measured operations
//! failing 7.3 s after a single-node group's restart with an 8 s ceiling, so the default
//! is 4 s: a silent address then gets about one SYN per 4 s per lane, not per second.
//!
//! [`ClientConfig::redial_min`]: super::ClientConfig::redial_min
//! [`ClientConfig::redial_max`]: super::ClientConfig::redial_max

use std::collections::BTreeMap;
use std::time::Duration;

// tokio's clock: virtual (and deterministic) inside the simulation.
use tokio::time::Instant;

use super::backoff::Backoff;
use crate::io::Rng;

/// One address whose last connects failed.
#[derive(Debug)]
struct Failing {
    /// The waits between its failed dials, growing with each.
    backoff: Backoff,
    /// It is not dialled before this.
    not_before: Instant,
    /// Why the last one failed, in words.
    why: String,
}

/// The addresses not to dial yet, with when each may be dialled again.
#[derive(Debug)]
pub(crate) struct Redials {
    min: Duration,
    max: Duration,
    failing: BTreeMap<String, Failing>,
}

impl Redials {
    /// No address failing yet; waits from `min` doubling up to `max`.
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        Redials {
            min,
            max,
            failing: BTreeMap::new(),
        }
    }

    /// A connect to `addr` failed now, for the reason `why`: it is not dialled again for
    /// the next wait.
    pub(crate) fn failed(&mut self, addr: &str, why: &str, rng: &mut Rng) {
        let (min, max) = (self.min, self.max);
        let f = self
            .failing
            .entry(addr.to_owned())
            .or_insert_with(|| Failing {
                backoff: Backoff::new(min, max),
                not_before: Instant::now(),
                why: String::new(),
            });
        why.clone_into(&mut f.why);
        f.not_before = Instant::now() + f.backoff.next_delay(rng);
    }

    /// A connect to `addr` succeeded: it may be dialled freely again.
    pub(crate) fn connected(&mut self, addr: &str) {
        self.failing.remove(addr);
    }

    /// If `addr` is not to be dialled now: why its last connect failed (what an attempt
    /// now would most likely say, and what a timeout reports) and the wait left.
    pub(crate) fn holds_back(&self, addr: &str) -> Option<(&str, Duration)> {
        let f = self.failing.get(addr)?;
        let left = f.not_before.checked_duration_since(Instant::now())?;
        (!left.is_zero()).then_some((f.why.as_str(), left))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "n1:7001";
    const MIN: Duration = Duration::from_secs(1);
    const MAX: Duration = Duration::from_secs(8);

    #[tokio::test(start_paused = true)]
    async fn a_failing_address_waits_longer_after_each_failure() {
        let mut rng = Rng::from_seed(3);
        let mut r = Redials::new(MIN, MAX);
        assert_eq!(r.holds_back(A), None, "a fresh address is dialled at once");
        let mut waits = Vec::new();
        for _ in 0..8 {
            r.failed(A, "no node reachable at n1:7001: refused", &mut rng);
            let start = Instant::now();
            while r.holds_back(A).is_some() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            waits.push(Instant::now() - start);
        }
        // Jittered in [ceiling / 2, ceiling]: 1 s, then 1-2, 2-4, 4-8, then 4-8 s.
        assert!(waits[0] >= MIN && waits[0] < MIN + Duration::from_millis(20));
        assert!(waits[3] >= MAX / 2, "{waits:?}");
        assert!(waits.iter().all(|w| *w <= MAX + Duration::from_millis(10)));
        r.failed(A, "no node reachable at n1:7001: refused", &mut rng);
        let (why, left) = r.holds_back(A).expect("held back after a failure");
        assert_eq!(why, "no node reachable at n1:7001: refused");
        assert!(left >= MAX / 2 && left <= MAX, "{left:?}");
        assert_eq!(
            r.holds_back("n2:7001"),
            None,
            "other addresses are not held back"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_connect_forgets_the_failures() {
        let mut rng = Rng::from_seed(4);
        let mut r = Redials::new(MIN, MAX);
        for _ in 0..5 {
            r.failed(A, "no node reachable at n1:7001: refused", &mut rng);
        }
        r.connected(A);
        assert_eq!(r.holds_back(A), None);
        r.failed(A, "no node reachable at n1:7001: refused", &mut rng);
        tokio::time::sleep(MIN).await;
        assert_eq!(
            r.holds_back(A),
            None,
            "the waits start again from the first"
        );
    }
}
