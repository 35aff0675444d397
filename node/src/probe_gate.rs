//! Addresses that stopped answering, shared by links that send to one group side by side,
//! so that only one of them tries such an address at a time, less and less often.
//!
//! A hand-off keeps several `ecs_put` parts out at once, each on its own link. When the
//! receiver's leader stops answering (a held link, a frozen host), every one of those
//! links would time out on it, ask a follower, be sent back to it and dial it again: the
//! window multiplies the connection attempts (and their handshakes) towards a host that
//! answers none of them. A hostile review held the links to a receiver's leader for 11 s
//! or more and the attempts piled up in its listen queue until the simulated one
//! overflowed. Through a shared gate, an address that failed is probed by one link at a
//! time until it answers again; addresses that answer are tried by all links at once.
//!
//! One probe at a time still redialled a silent address every attempt timeout plus retry
//! pause, as long as it stayed silent: 54 s of hold with a 200 ms attempt timeout put
//! over 256 SYNs of one host on the held link (`connect_flood`, the former defect
//! review-one-probe-redials-a-held-leader-for-fifty-seconds). So each probe that fails
//! in a row doubles the pause before the next one ([`FIRST_PROBE_PAUSE`] up to
//! [`LONGEST_PROBE_PAUSE`]); the first probe after a failure still goes at once, so a
//! short outage or a leader change costs no wait.

use std::cell::RefCell;
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::time::Duration;

// tokio's clock: virtual (and deterministic) inside the simulation.
use tokio::time::Instant;

/// The pause after the second failure in a row at an address, before the next probe.
pub const FIRST_PROBE_PAUSE: Duration = Duration::from_millis(250);

/// The longest pause between two probes of an address that stays silent: how late, at
/// most, the links learn that it answers again.
pub const LONGEST_PROBE_PAUSE: Duration = Duration::from_secs(2);

/// An address whose last attempt failed.
#[derive(Debug)]
struct Failing {
    /// Whether a link is probing it now.
    probing: bool,
    /// Attempts in a row that failed: the first link's failure, then each probe's.
    failures: u32,
    /// No probe starts before this.
    next_probe: Instant,
}

/// The addresses that failed their last attempt, each with whether a link is probing it
/// and when the next probe may start.
#[derive(Debug, Default)]
pub struct ProbeGate {
    failing: RefCell<BTreeMap<String, Failing>>,
}

/// A link's permission to try an address. For an address that failed it is the one probe
/// turn, which ends when the turn is dropped. Say how the attempt went with
/// [`Turn::answered`] or [`Turn::failed`].
#[derive(Debug)]
pub struct Turn<'a> {
    gate: &'a ProbeGate,
    addr: String,
    probe: bool,
}

impl Turn<'_> {
    /// Whether this turn is the probe of an address that failed.
    pub fn is_probe(&self) -> bool {
        self.probe
    }

    /// `answered` (the address that replied, whatever it said) answers: links may try it
    /// freely again.
    pub fn answered(self, answered: &str) {
        self.gate.failing.borrow_mut().remove(answered);
    }

    /// The attempt failed (no connection, or no reply in the whole reply wait). A failed
    /// probe doubles the pause before the next one; another link's failure at an
    /// address already failing counts nothing more (it started before the first failure).
    pub fn failed(self) {
        let mut failing = self.gate.failing.borrow_mut();
        match failing.entry(self.addr.clone()) {
            Entry::Vacant(e) => {
                e.insert(Failing {
                    probing: false,
                    failures: 1,
                    next_probe: Instant::now(),
                });
            }
            Entry::Occupied(mut e) if self.probe => {
                let f = e.get_mut();
                f.failures = f.failures.saturating_add(1);
                f.next_probe = Instant::now() + probe_pause(f.failures);
            }
            Entry::Occupied(_) => {}
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if self.probe {
            if let Some(f) = self.gate.failing.borrow_mut().get_mut(&self.addr) {
                f.probing = false;
            }
        }
    }
}

/// The pause before the next probe after `failures` attempts in a row failed: none after
/// the first, then [`FIRST_PROBE_PAUSE`] doubling up to [`LONGEST_PROBE_PAUSE`].
fn probe_pause(failures: u32) -> Duration {
    match failures {
        0 | 1 => Duration::ZERO,
        n => FIRST_PROBE_PAUSE
            .saturating_mul(1u32 << (n - 2).min(16))
            .min(LONGEST_PROBE_PAUSE),
    }
}

impl ProbeGate {
    /// Whether a link may try `addr` now: yes if its last attempt did not fail; if it
    /// did, yes for one link at a time (the probe) once the pause after the last failed
    /// probe is over, and `None` otherwise: the link should try another member meanwhile
    /// rather than wait (a waiting queue would hold every part behind one timeout after
    /// another once the leader moved elsewhere). Keep the turn until the attempt's
    /// outcome is known, and give it with [`Turn::answered`] or [`Turn::failed`].
    pub fn try_turn(&self, addr: &str) -> Option<Turn<'_>> {
        let mut failing = self.failing.borrow_mut();
        let probe = match failing.get_mut(addr) {
            None => false,
            Some(f) if f.probing || Instant::now() < f.next_probe => return None,
            Some(f) => {
                f.probing = true;
                true
            }
        };
        Some(Turn {
            gate: self,
            addr: addr.to_owned(),
            probe,
        })
    }

    /// Whether the last attempt at `addr` failed.
    pub fn is_failing(&self, addr: &str) -> bool {
        self.failing.borrow().contains_key(addr)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::*;

    const A: &str = "n2a:7002";

    /// Runs `f` on a current-thread runtime whose clock is paused (it jumps to the next
    /// timer whenever every task waits).
    fn on_paused_clock<F: std::future::Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&rt, f)
    }

    /// Marks `A` as failing, as the first link to fail at it does.
    fn fail_once(gate: &ProbeGate) {
        gate.try_turn(A).expect("a free address").failed();
    }

    /// Runs `links` tasks that each make `attempts` attempts at `A` through one gate
    /// (a task refused a turn gives way for 10 ms and asks again), every attempt failing
    /// after a few turns of the scheduler; returns the most attempts ever under way at
    /// once.
    async fn most_at_once(gate: Rc<ProbeGate>, links: usize, attempts: usize) -> usize {
        let now = Rc::new(Cell::new(0usize));
        let most = Rc::new(Cell::new(0usize));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..links {
            let (gate, now, most) = (gate.clone(), now.clone(), most.clone());
            tasks.spawn_local(async move {
                let mut made = 0;
                while made < attempts {
                    let Some(turn) = gate.try_turn(A) else {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    made += 1;
                    now.set(now.get() + 1);
                    most.set(most.get().max(now.get()));
                    for _ in 0..3 {
                        tokio::task::yield_now().await;
                    }
                    now.set(now.get() - 1);
                    turn.failed();
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        most.get()
    }

    #[test]
    fn a_failing_address_is_tried_by_one_link_at_a_time() {
        on_paused_clock(async {
            let gate = Rc::new(ProbeGate::default());
            fail_once(&gate);
            assert_eq!(most_at_once(gate, 8, 3).await, 1);
        });
    }

    #[test]
    fn an_answering_address_is_tried_by_every_link_at_once() {
        on_paused_clock(async {
            let gate = Rc::new(ProbeGate::default());
            // Each attempt fails, but only after all eight started: the first round is free.
            assert_eq!(most_at_once(gate.clone(), 8, 1).await, 8);
            assert!(gate.is_failing(A));
            let probe = gate.try_turn(A).expect("seven late failures add no pause");
            assert!(probe.is_probe());
            probe.answered(A);
            assert!(!gate.is_failing(A));
            assert!(gate.try_turn(A).is_some_and(|t| !t.is_probe()));
        });
    }

    #[test]
    fn the_probe_turn_is_per_address_and_ends_when_dropped() {
        on_paused_clock(async {
            let gate = ProbeGate::default();
            fail_once(&gate);
            gate.try_turn("n2b:7002").unwrap().failed();
            let probe = gate.try_turn(A).expect("the first link probes");
            assert!(probe.is_probe());
            assert!(gate.try_turn(A).is_none(), "a second link gives way");
            let other = gate
                .try_turn("n2b:7002")
                .expect("another address has its own probe");
            assert!(other.is_probe());
            assert!(gate.try_turn("n2c:7002").is_some_and(|t| !t.is_probe()));
            drop(probe);
            assert!(
                gate.try_turn(A).is_some_and(|t| t.is_probe()),
                "the turn is free again, and a probe given back untried adds no pause"
            );
            // A late answer from n2b, heard by a link whose turn was at A.
            gate.try_turn(A).unwrap().answered("n2b:7002");
            assert!(!gate.is_failing("n2b:7002"));
            drop(other);
            assert!(
                !gate.is_failing("n2b:7002"),
                "a probe ending after an answer changes nothing"
            );
            assert!(gate.try_turn("n2b:7002").is_some_and(|t| !t.is_probe()));
        });
    }

    #[test]
    fn probes_of_a_silent_address_come_less_and_less_often() {
        on_paused_clock(async {
            let gate = ProbeGate::default();
            fail_once(&gate);
            let mut waits = Vec::new();
            let mut last = Instant::now();
            for _ in 0..7 {
                let turn = loop {
                    match gate.try_turn(A) {
                        Some(turn) => break turn,
                        None => tokio::time::sleep(Duration::from_millis(10)).await,
                    }
                };
                assert!(turn.is_probe());
                waits.push(Instant::now() - last);
                tokio::time::sleep(Duration::from_millis(200)).await;
                turn.failed();
                last = Instant::now();
            }
            let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
            assert_eq!(ms, [0, 250, 500, 1000, 2000, 2000, 2000]);
            // An answer ends the pauses at once.
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert!(gate.try_turn(A).is_none(), "still pausing");
            gate.try_turn("n2b:7002").unwrap().answered(A);
            assert!(gate.try_turn(A).is_some_and(|t| !t.is_probe()));
        });
    }

    #[test]
    fn fifty_four_seconds_of_silence_get_a_few_dozen_probes() {
        // The former defect review-one-probe-redials-a-held-leader-for-fifty-seconds:
        // eight links, 200 ms per failed attempt and a 100 ms retry pause, 54 s of hold.
        on_paused_clock(async {
            let gate = Rc::new(ProbeGate::default());
            let tried = Rc::new(Cell::new(0u32));
            let end = Instant::now() + Duration::from_secs(54);
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..8 {
                let (gate, tried) = (gate.clone(), tried.clone());
                tasks.spawn_local(async move {
                    while Instant::now() < end {
                        if let Some(turn) = gate.try_turn(A) {
                            tried.set(tried.get() + 1);
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            turn.failed();
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                });
            }
            while tasks.join_next().await.is_some() {}
            // 8 at once, then one probe every 2.2 s or so: 8 + 4 + 54 / 2.2 < 40.
            let tried = tried.get();
            assert!((30..40).contains(&tried), "{tried} attempts");
        });
    }
}
