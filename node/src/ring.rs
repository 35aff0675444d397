//! Positions on the MD5 ring and who owns what (DESIGN.md §3).
//!
//! A position is the MD5 of a member's ring address (`host:port`) or of a key's bytes,
//! read as a big-endian 128-bit number. A member owns `[own position, next position)`,
//! wrapping around; a lone member owns everything.

use md5::{Digest, Md5};
use protocol::ecs::HostPort;

/// A point on the ring.
pub type Position = u128;

/// The ring position of arbitrary bytes.
pub fn position_of(bytes: &[u8]) -> Position {
    let digest = Md5::digest(bytes);
    let mut a = [0u8; 16];
    a.copy_from_slice(&digest);
    u128::from_be_bytes(a)
}

/// The ring position of a member's ring address, hashed as the text `host:port`.
pub fn member_position(addr: &HostPort) -> Position {
    position_of(format!("{}:{}", addr.host(), addr.port()).as_bytes())
}

/// A half-open arc `[start, end)` of the ring, wrapping past the top; `start == end`
/// is the whole ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arc {
    /// First position inside the arc.
    pub start: Position,
    /// First position past the arc.
    pub end: Position,
}

impl Arc {
    /// Whether `p` lies inside the arc.
    pub fn contains(&self, p: Position) -> bool {
        match self.start.cmp(&self.end) {
            std::cmp::Ordering::Equal => true,
            std::cmp::Ordering::Less => self.start <= p && p < self.end,
            std::cmp::Ordering::Greater => p >= self.start || p < self.end,
        }
    }

    /// Whether `key` hashes into the arc.
    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.contains(position_of(key))
    }
}

/// The members of a ring, sorted by position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ring {
    members: Vec<(Position, HostPort)>,
}

impl Ring {
    /// A ring of the given members (order does not matter; duplicates are kept once).
    pub fn new(members: impl IntoIterator<Item = HostPort>) -> Self {
        let mut ring = Ring::default();
        for m in members {
            ring.insert(m);
        }
        ring
    }

    /// Adds a member; no-op if present.
    pub fn insert(&mut self, member: HostPort) {
        let p = member_position(&member);
        match self
            .members
            .binary_search_by(|(q, a)| (q, a).cmp(&(&p, &member)))
        {
            Ok(_) => {}
            Err(i) => self.members.insert(i, (p, member)),
        }
    }

    /// Whether the ring has no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether `member` is on the ring.
    pub fn contains(&self, member: &HostPort) -> bool {
        self.members.iter().any(|(_, m)| m == member)
    }

    /// Members in ring order.
    pub fn members(&self) -> impl Iterator<Item = &HostPort> {
        self.members.iter().map(|(_, m)| m)
    }

    /// The member owning position `p`: the last member at or before `p`, wrapping.
    pub fn owner_of(&self, p: Position) -> Option<&HostPort> {
        if self.members.is_empty() {
            return None;
        }
        let i = self.members.partition_point(|(q, _)| *q <= p);
        let i = if i == 0 {
            self.members.len() - 1
        } else {
            i - 1
        };
        Some(&self.members[i].1)
    }

    /// The member owning `key`.
    pub fn owner_of_key(&self, key: &[u8]) -> Option<&HostPort> {
        self.owner_of(position_of(key))
    }

    /// The arc `member` owns, or `None` if it is not on the ring.
    pub fn arc_of(&self, member: &HostPort) -> Option<Arc> {
        let i = self.members.iter().position(|(_, m)| m == member)?;
        let next = (i + 1) % self.members.len();
        Some(Arc {
            start: self.members[i].0,
            end: self.members[next].0,
        })
    }

    /// Where `newcomer` would land: its predecessor (the member that owns its position
    /// now) and its successor (the member whose position follows it). `None` on an
    /// empty ring.
    pub fn neighbours_of(&self, newcomer: &HostPort) -> Option<(HostPort, HostPort)> {
        let p = member_position(newcomer);
        let pred = self.owner_of(p)?.clone();
        let i = self.members.partition_point(|(q, _)| *q <= p);
        let succ = self.members[i % self.members.len()].1.clone();
        Some((pred, succ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(s: &str) -> HostPort {
        s.parse().expect("host:port")
    }

    #[test]
    fn md5_position_matches_a_known_digest() {
        // md5("") = d41d8cd98f00b204e9800998ecf8427e
        assert_eq!(position_of(b""), 0xd41d8cd98f00b204e9800998ecf8427e);
    }

    #[test]
    fn arcs_wrap_and_a_lone_member_owns_all() {
        let wrap = Arc { start: 10, end: 5 };
        assert!(wrap.contains(11) && wrap.contains(0) && wrap.contains(4));
        assert!(!wrap.contains(5) && !wrap.contains(9));
        assert!(Arc { start: 7, end: 7 }.contains(123));
        let ring = Ring::new([hp("a:1")]);
        let arc = ring.arc_of(&hp("a:1")).unwrap();
        assert!(arc.contains_key(b"anything"));
    }

    #[test]
    fn every_key_has_exactly_one_owner_and_it_matches_the_arcs() {
        let ring = Ring::new(["a:1", "b:2", "c:3", "d:4"].map(hp));
        for i in 0..500u32 {
            let key = i.to_be_bytes();
            let owner = ring.owner_of_key(&key).unwrap();
            let holders: Vec<_> = ring
                .members()
                .filter(|m| ring.arc_of(m).unwrap().contains_key(&key))
                .collect();
            assert_eq!(holders, vec![owner]);
        }
    }

    #[test]
    fn a_newcomer_lands_between_its_neighbours() {
        let ring = Ring::new(["a:1", "b:2", "c:3"].map(hp));
        let n = hp("n:9");
        let (pred, succ) = ring.neighbours_of(&n).unwrap();
        let mut grown = ring.clone();
        grown.insert(n.clone());
        let arc = grown.arc_of(&n).unwrap();
        assert_eq!(arc.end, member_position(&succ));
        assert_eq!(grown.arc_of(&pred).unwrap().end, member_position(&n));
    }
}
