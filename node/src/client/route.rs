//! Which node the client talks to next: the seeds it was given, the address list learned
//! from 'm', the node that last served, and round robin over them when a node fails or
//! knows no leader.
//!
//! Once 'm' named the ring's nodes, the rotation goes round them and visits one other
//! seed per round only: a seed the ring does not name is not serving (a node of a group
//! that has not joined yet answers `l -1` to everything), and with many such seeds an
//! even rotation spent most of its time on them while the ring's own nodes were back
//! (found by `sim explore`: a verifier with 25 seeds, 5 of them on the ring, ran out of
//! time, scenarios/regressions/verify-read-outlasts-slow-joins-1299.toml). One per round
//! still reaches the cluster if every node the list names is gone.
//!
//! Pure bookkeeping, no I/O, so the choices can be tested on their own.

/// The client's view of where to send the next request.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    seeds: Vec<String>,
    /// Client addresses by node id, from the last 'm'.
    addresses: Vec<String>,
    /// The node to try next: the one that last served, or where a redirect pointed.
    current: Option<String>,
    /// Round-robin position in the ring's nodes (the address list), past the end when
    /// the round ends with a seed.
    cursor: usize,
    /// Round-robin position in the seeds the address list does not name.
    seed_cursor: usize,
}

impl Route {
    /// A route that starts at the first seed.
    pub(crate) fn new(seeds: Vec<String>) -> Self {
        Route {
            seeds,
            addresses: Vec::new(),
            current: None,
            cursor: 0,
            seed_cursor: 0,
        }
    }

    /// Every node the client knows, without repeats: the cluster's address list (in node
    /// id order), then any seed not in it.
    pub(crate) fn known(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for a in self.addresses.iter().chain(&self.seeds) {
            if !a.is_empty() && !out.contains(&a.as_str()) {
                out.push(a);
            }
        }
        out
    }

    /// Whether an address list has been learned from a node.
    pub(crate) fn has_addresses(&self) -> bool {
        !self.addresses.is_empty()
    }

    /// The node to send to: the current one, else the next in the rotation (the ring's
    /// nodes, then one other seed, round after round; the seeds alone while no address
    /// list is known); `None` if the client knows no node at all.
    pub(crate) fn target(&mut self) -> Option<String> {
        if self.current.is_none() {
            self.current = self.next_in_rotation();
        }
        self.current.clone()
    }

    /// The ring's nodes (the address list) and the other seeds, without repeats.
    fn rotation(&self) -> (Vec<String>, Vec<String>) {
        let known = self.known();
        let on_ring = known
            .iter()
            .take_while(|a| self.addresses.iter().any(|n| n == *a))
            .count();
        let owned = |s: &[&str]| s.iter().map(|a| a.to_string()).collect();
        (owned(&known[..on_ring]), owned(&known[on_ring..]))
    }

    fn next_in_rotation(&mut self) -> Option<String> {
        let (ring, others) = self.rotation();
        if self.cursor >= ring.len() {
            self.cursor = 0;
            if !others.is_empty() {
                let pick = others[self.seed_cursor % others.len()].to_owned();
                self.seed_cursor = self.seed_cursor.wrapping_add(1);
                return Some(pick);
            }
        }
        let pick = ring.get(self.cursor)?.clone();
        self.cursor += 1;
        Some(pick)
    }

    /// How many moves make one round of the rotation: the ring's nodes and one other
    /// seed, or every seed while no address list is known; at least 1.
    pub(crate) fn round_len(&self) -> usize {
        let (ring, others) = self.rotation();
        let len = if ring.is_empty() {
            others.len()
        } else {
            ring.len() + usize::from(!others.is_empty())
        };
        len.max(1)
    }

    /// Moves on from `from` (which failed or knows no leader) to the node after it in the
    /// rotation, and returns the new target.
    pub(crate) fn advance(&mut self, from: &str) -> Option<String> {
        if let Some(i) = self.rotation().0.iter().position(|a| a == from) {
            self.cursor = i + 1;
        }
        self.current = None;
        self.target()
    }

    /// Makes `addr` the node to try next (a redirect, or the node that just served).
    pub(crate) fn set_current(&mut self, addr: &str) {
        self.current = Some(addr.to_owned());
    }

    /// Replaces the address list with one from 'm'.
    pub(crate) fn set_addresses(&mut self, addresses: Vec<String>) {
        self.addresses = addresses;
    }

    /// The client address of node `id`, if the address list has it.
    pub(crate) fn address_of(&self, id: i32) -> Option<String> {
        let i = usize::try_from(id).ok()?;
        self.addresses.get(i).filter(|a| !a.is_empty()).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn starts_at_the_first_seed_and_stays_on_the_current_node() {
        let mut r = Route::new(strings(&["s1", "s2"]));
        assert_eq!(r.target().as_deref(), Some("s1"));
        assert_eq!(r.target().as_deref(), Some("s1"));
        r.set_current("elsewhere");
        assert_eq!(r.target().as_deref(), Some("elsewhere"));
    }

    #[test]
    fn no_seeds_means_no_target() {
        assert_eq!(Route::new(Vec::new()).target(), None);
        assert_eq!(Route::new(strings(&[""])).advance("x"), None);
    }

    #[test]
    fn advance_goes_round_robin_over_addresses_then_seeds() {
        let mut r = Route::new(strings(&["seed", "b"]));
        r.set_addresses(strings(&["a", "b", "", "c"]));
        assert_eq!(r.known(), vec!["a", "b", "c", "seed"]);
        let mut seen = vec![r.target().unwrap_or_default()];
        for _ in 0..5 {
            let from = seen.last().cloned().unwrap_or_default();
            seen.push(r.advance(&from).unwrap_or_default());
        }
        assert_eq!(seen, strings(&["a", "b", "c", "seed", "a", "b"]));
    }

    #[test]
    fn seeds_off_the_ring_get_one_turn_per_round() {
        // Nodes of groups not yet on the ring only answer `l -1`: the ring's own nodes
        // come round again before every next such seed.
        let mut r = Route::new(strings(&["a", "s1", "s2", "s3", "b"]));
        r.set_addresses(strings(&["a", "b"]));
        let mut seen = vec![r.target().unwrap_or_default()];
        for _ in 0..8 {
            let from = seen.last().cloned().unwrap_or_default();
            seen.push(r.advance(&from).unwrap_or_default());
        }
        assert_eq!(
            seen,
            strings(&["a", "b", "s1", "a", "b", "s2", "a", "b", "s3"])
        );
    }

    #[test]
    fn a_round_is_the_ring_and_one_seed_or_every_seed() {
        let mut r = Route::new(strings(&["a", "s1", "s2", "s3", "b"]));
        assert_eq!(r.round_len(), 5, "no address list: every seed");
        r.set_addresses(strings(&["a", "", "b"]));
        assert_eq!(r.round_len(), 3, "the ring's two nodes and one seed");
        r.set_addresses(strings(&["a", "s1", "s2", "s3", "b"]));
        assert_eq!(r.round_len(), 5, "every seed on the ring");
        assert_eq!(Route::new(Vec::new()).round_len(), 1);
    }

    #[test]
    fn advance_from_an_unknown_node_keeps_rotating() {
        // A redirect can point at a node that is not (yet) in the list; failing there
        // must not pin the client to one node.
        let mut r = Route::new(strings(&["s1", "s2", "s3"]));
        let a = r.advance("ghost");
        let b = r.advance("ghost");
        let c = r.advance("ghost");
        assert_eq!([a, b, c].map(Option::unwrap_or_default), ["s1", "s2", "s3"]);
    }

    #[test]
    fn address_of_checks_the_id() {
        let mut r = Route::new(Vec::new());
        r.set_addresses(strings(&["a", ""]));
        assert_eq!(r.address_of(0).as_deref(), Some("a"));
        assert_eq!(r.address_of(1), None, "an empty slot is no address");
        assert_eq!(r.address_of(2), None);
        assert_eq!(r.address_of(-1), None);
    }
}
