//! Addresses that stopped answering, shared by links that send to one group side by side,
//! so that only one of them tries such an address at a time.
//!
//! A hand-off keeps several `ecs_put` parts out at once, each on its own link. When the
//! receiver's leader stops answering (a held link, a frozen host), every one of those
//! links would time out on it, ask a follower, be sent back to it and dial it again: the
//! window multiplies the connection attempts (and their handshakes) towards a host that
//! answers none of them. A hostile review held the links to a receiver's leader for 11 s
//! or more and the attempts piled up in its listen queue until the simulated one
//! overflowed. Through a shared gate, an address that failed is probed by one link at a
//! time until it answers again; addresses that answer are tried by all links at once.

use std::cell::RefCell;
use std::collections::BTreeMap;

/// The addresses that failed their last attempt, each with whether a link is probing it.
#[derive(Debug, Default)]
pub struct ProbeGate {
    failing: RefCell<BTreeMap<String, bool>>,
}

/// A link's permission to try an address. For an address that failed it is the one probe
/// turn, which ends when the turn is dropped.
#[derive(Debug)]
pub struct Turn<'a> {
    probe: Option<(&'a ProbeGate, String)>,
}

impl Turn<'_> {
    /// Whether this turn is the probe of an address that failed.
    pub fn is_probe(&self) -> bool {
        self.probe.is_some()
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if let Some((gate, addr)) = self.probe.take() {
            if let Some(probing) = gate.failing.borrow_mut().get_mut(&addr) {
                *probing = false;
            }
        }
    }
}

impl ProbeGate {
    /// Whether a link may try `addr` now: yes if its last attempt did not fail; if it
    /// did, yes for one link at a time (the probe), and `None` for the others, which
    /// should try another member meanwhile rather than wait (a waiting queue would hold
    /// every part behind one timeout after another once the leader moved elsewhere). Keep
    /// the turn until the attempt's outcome is known ([`ProbeGate::answered`] or
    /// [`ProbeGate::failed`]).
    pub fn try_turn(&self, addr: &str) -> Option<Turn<'_>> {
        let mut failing = self.failing.borrow_mut();
        match failing.get_mut(addr) {
            None => Some(Turn { probe: None }),
            Some(true) => None,
            Some(probing) => {
                *probing = true;
                Some(Turn {
                    probe: Some((self, addr.to_owned())),
                })
            }
        }
    }

    /// `addr` answered (whatever it said): links may try it freely again.
    pub fn answered(&self, addr: &str) {
        self.failing.borrow_mut().remove(addr);
    }

    /// An attempt at `addr` failed (no connection, or no reply in the whole reply wait).
    pub fn failed(&self, addr: &str) {
        self.failing
            .borrow_mut()
            .entry(addr.to_owned())
            .or_insert(false);
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

    /// Runs `links` tasks that each make `attempts` attempts at `A` through one gate
    /// (a task refused a turn gives way and asks again), every attempt failing after a
    /// few turns of the scheduler; returns the most attempts ever under way at once.
    fn most_at_once(gate: Rc<ProbeGate>, links: usize, attempts: usize) -> usize {
        let now = Rc::new(Cell::new(0usize));
        let most = Rc::new(Cell::new(0usize));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&rt, async {
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..links {
                let (gate, now, most) = (gate.clone(), now.clone(), most.clone());
                tasks.spawn_local(async move {
                    let mut made = 0;
                    while made < attempts {
                        let Some(turn) = gate.try_turn(A) else {
                            tokio::task::yield_now().await;
                            continue;
                        };
                        made += 1;
                        now.set(now.get() + 1);
                        most.set(most.get().max(now.get()));
                        for _ in 0..3 {
                            tokio::task::yield_now().await;
                        }
                        now.set(now.get() - 1);
                        gate.failed(A);
                        drop(turn);
                    }
                });
            }
            while tasks.join_next().await.is_some() {}
        });
        most.get()
    }

    #[test]
    fn a_failing_address_is_tried_by_one_link_at_a_time() {
        let gate = Rc::new(ProbeGate::default());
        gate.failed(A);
        assert_eq!(most_at_once(gate, 8, 3), 1);
    }

    #[test]
    fn an_answering_address_is_tried_by_every_link_at_once() {
        let gate = Rc::new(ProbeGate::default());
        // Each attempt fails, but only after all eight started: the first round is free.
        assert_eq!(most_at_once(gate.clone(), 8, 1), 8);
        assert!(gate.is_failing(A));
        gate.answered(A);
        assert!(!gate.is_failing(A));
    }

    #[test]
    fn the_probe_turn_is_per_address_and_ends_when_dropped() {
        let gate = ProbeGate::default();
        gate.failed(A);
        gate.failed("n2b:7002");
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
            "the turn is free again"
        );
        gate.answered("n2b:7002");
        assert!(gate.try_turn("n2b:7002").is_some_and(|t| !t.is_probe()));
        drop(other);
        assert!(
            !gate.is_failing("n2b:7002"),
            "a probe ending after an answer changes nothing"
        );
    }
}
