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
use std::collections::BTreeSet;

use tokio::sync::{Semaphore, SemaphorePermit};

/// The addresses that failed their last attempt, and the one turn to probe them.
#[derive(Debug)]
pub struct ProbeGate {
    failing: RefCell<BTreeSet<String>>,
    probe: Semaphore,
}

impl Default for ProbeGate {
    fn default() -> Self {
        ProbeGate {
            failing: RefCell::new(BTreeSet::new()),
            probe: Semaphore::new(1),
        }
    }
}

/// A link's permission to try an address; while it holds a probe turn no other link
/// sharing the gate tries an address that failed. Dropping it ends the turn.
#[derive(Debug)]
pub struct Turn<'a> {
    _probe: Option<SemaphorePermit<'a>>,
}

impl ProbeGate {
    /// Waits until a link may try `addr`: at once if its last attempt did not fail,
    /// otherwise for the probe turn (first come, first served). Keep the turn until the
    /// attempt's outcome is known ([`ProbeGate::answered`] or [`ProbeGate::failed`]).
    pub async fn turn(&self, addr: &str) -> Turn<'_> {
        if !self.is_failing(addr) {
            return Turn { _probe: None };
        }
        let permit = self
            .probe
            .acquire()
            .await
            .expect("the probe semaphore is never closed");
        // Another link's probe may have found it answering while this one waited.
        let probe = self.is_failing(addr).then_some(permit);
        Turn { _probe: probe }
    }

    /// `addr` answered (whatever it said): links may try it freely again.
    pub fn answered(&self, addr: &str) {
        self.failing.borrow_mut().remove(addr);
    }

    /// An attempt at `addr` failed (no connection, or no reply in time).
    pub fn failed(&self, addr: &str) {
        self.failing.borrow_mut().insert(addr.to_owned());
    }

    /// Whether the last attempt at `addr` failed.
    pub fn is_failing(&self, addr: &str) -> bool {
        self.failing.borrow().contains(addr)
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::rc::Rc;

    use super::*;

    /// Runs `links` tasks that each try one address `attempts` times through one gate,
    /// every attempt failing after a few turns of the scheduler; returns the most attempts
    /// that were ever under way at once.
    async fn most_at_once(gate: Rc<ProbeGate>, links: usize, attempts: usize) -> usize {
        let now = Rc::new(Cell::new(0usize));
        let most = Rc::new(Cell::new(0usize));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..links {
            let (gate, now, most) = (gate.clone(), now.clone(), most.clone());
            tasks.spawn_local(async move {
                for _ in 0..attempts {
                    let turn = gate.turn("n2a:7002").await;
                    now.set(now.get() + 1);
                    most.set(most.get().max(now.get()));
                    for _ in 0..3 {
                        tokio::task::yield_now().await;
                    }
                    now.set(now.get() - 1);
                    gate.failed("n2a:7002");
                    drop(turn);
                }
            });
        }
        while tasks.join_next().await.is_some() {}
        most.get()
    }

    fn run<F: std::future::Future>(f: F) -> F::Output {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        tokio::task::LocalSet::new().block_on(&rt, f)
    }

    #[test]
    fn a_failing_address_is_tried_by_one_link_at_a_time() {
        let gate = Rc::new(ProbeGate::default());
        gate.failed("n2a:7002");
        assert_eq!(run(most_at_once(gate, 8, 3)), 1);
    }

    #[test]
    fn an_answering_address_is_tried_by_every_link_at_once() {
        let gate = Rc::new(ProbeGate::default());
        // Each attempt fails, but only after all eight started: the first round is free.
        assert_eq!(run(most_at_once(gate.clone(), 8, 1)), 8);
        assert!(gate.is_failing("n2a:7002"));
        gate.answered("n2a:7002");
        assert!(!gate.is_failing("n2a:7002"));
        assert!(!gate.is_failing("n2b:7002"));
    }

    #[test]
    fn a_link_that_waited_goes_free_once_the_address_answers() {
        run(async {
            let gate = Rc::new(ProbeGate::default());
            gate.failed("n2a:7002");
            let first = gate.turn("n2a:7002").await;
            assert!(first._probe.is_some());
            let gate2 = gate.clone();
            let waiter = tokio::task::spawn_local(async move {
                let turn = gate2.turn("n2a:7002").await;
                turn._probe.is_some()
            });
            tokio::task::yield_now().await;
            gate.answered("n2a:7002");
            drop(first);
            assert!(
                !waiter.await.unwrap(),
                "no probe turn is held for an answering address"
            );
        });
    }
}
