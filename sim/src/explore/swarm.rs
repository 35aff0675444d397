//! The swarm: which fault kinds one exploration seed turns on, how often each strikes, and
//! which workload knobs it changes.
//!
//! Swarm testing (TigerBeetle's VOPR, after Groce et al.) turns a random *subset* of fault
//! kinds on per seed, each at its own random rate: some bugs need one kind of fault to be
//! frequent and another to be absent, which a fixed mix of every kind never produces.

use std::fmt;
use std::time::Duration;

use node::io::Rng;

/// One kind of fault the explorer can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FaultKind {
    /// Power loss of a random node, restarted after a while.
    NodeCrash,
    /// Power loss of a group's current leader.
    LeaderCrash,
    /// Power loss of a member that does not lead its group.
    FollowerCrash,
    /// Power loss of every member of a group at once.
    GroupCrash,
    /// One node cut off from the ECS and the other nodes (and sometimes the clients).
    NodePartition,
    /// A group's leader cut off from every host.
    LeaderIsolated,
    /// A group's leader cut off from its followers only.
    LeaderCutFromFollowers,
    /// The messages on one link held, then delivered (a long delay).
    LinkHeld,
    /// One kind of a group's links held (ECS–leader, ECS–group, leader–followers,
    /// clients–group).
    GroupLinksHeld,
    /// A node's messages to the others lost while theirs still reach it.
    OneWayPartition,
    /// Power loss of the ECS.
    EcsCrash,
    /// Every message to and from the ECS held for a while.
    EcsPause,
    /// A new group joins at a random time.
    Join,
    /// The `ecs_put` part size changes.
    PartSize,
    /// A node's next write or sync fails with an I/O error (it must stop).
    DiskError,
    /// Crashes tear the write in progress (`[storage] torn_writes`).
    TornWrites,
    /// A restarted node reads a damaged byte back (`[storage] corrupt_on_restart`; a
    /// minority of each group at most).
    Corruption,
    /// A node's machine replaced: power loss, its disk erased, started again empty as on
    /// a replaced disk (not done where it would take a majority of a group's data).
    Wipe,
}

impl FaultKind {
    /// Every kind, in a fixed order (the order seeds draw them in).
    pub const ALL: [FaultKind; 18] = [
        FaultKind::NodeCrash,
        FaultKind::LeaderCrash,
        FaultKind::FollowerCrash,
        FaultKind::GroupCrash,
        FaultKind::NodePartition,
        FaultKind::LeaderIsolated,
        FaultKind::LeaderCutFromFollowers,
        FaultKind::LinkHeld,
        FaultKind::GroupLinksHeld,
        FaultKind::OneWayPartition,
        FaultKind::EcsCrash,
        FaultKind::EcsPause,
        FaultKind::Join,
        FaultKind::PartSize,
        FaultKind::DiskError,
        FaultKind::TornWrites,
        FaultKind::Corruption,
        FaultKind::Wipe,
    ];

    /// The kind's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::NodeCrash => "node-crash",
            FaultKind::LeaderCrash => "leader-crash",
            FaultKind::FollowerCrash => "follower-crash",
            FaultKind::GroupCrash => "group-crash",
            FaultKind::NodePartition => "node-partition",
            FaultKind::LeaderIsolated => "leader-isolated",
            FaultKind::LeaderCutFromFollowers => "leader-cut-from-followers",
            FaultKind::LinkHeld => "link-held",
            FaultKind::GroupLinksHeld => "group-links-held",
            FaultKind::OneWayPartition => "one-way-partition",
            FaultKind::EcsCrash => "ecs-crash",
            FaultKind::EcsPause => "ecs-pause",
            FaultKind::Join => "join",
            FaultKind::PartSize => "part-size",
            FaultKind::DiskError => "disk-error",
            FaultKind::TornWrites => "torn-writes",
            FaultKind::Corruption => "corruption",
            FaultKind::Wipe => "wipe",
        }
    }

    /// Bounds of the mean time between two faults of this kind, as fractions of the fault
    /// window: the rarer kinds are the ones that stop a whole group or the ECS.
    fn mean_bounds(self, window: Duration) -> (Duration, Duration) {
        let (low, high) = match self {
            FaultKind::GroupCrash | FaultKind::EcsCrash | FaultKind::Join | FaultKind::Wipe => {
                (0.25, 1.5)
            }
            FaultKind::PartSize => (0.15, 1.0),
            _ => (0.08, 0.7),
        };
        let floor = Duration::from_millis(300);
        (
            window.mul_f64(low).max(floor),
            window.mul_f64(high).max(floor),
        )
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What one seed turned on.
#[derive(Debug, Clone, PartialEq)]
pub struct Swarm {
    /// The fault kinds on, each with its mean time between faults.
    pub kinds: Vec<(FaultKind, Duration)>,
    /// How long a fault lasts (a crash's downtime, a partition's or hold's length): drawn
    /// per fault from `[0.2 s, longest]`.
    pub longest: Duration,
}

impl Swarm {
    /// Draws the swarm for a fault window of `window`: each kind is on with probability
    /// 1/2, at a mean uniform within its bounds. At least one kind is on.
    pub fn draw(rng: &mut Rng, window: Duration) -> Swarm {
        let mut kinds = Vec::new();
        for kind in FaultKind::ALL {
            let on = rng.range(0, 2) == 1;
            let (low, high) = kind.mean_bounds(window);
            let mean = Duration::from_millis(
                rng.range(low.as_millis() as u64, high.as_millis() as u64 + 1),
            );
            if on {
                kinds.push((kind, mean));
            }
        }
        if kinds.is_empty() {
            let kind = FaultKind::ALL[rng.range(0, FaultKind::ALL.len() as u64) as usize];
            let (low, _) = kind.mean_bounds(window);
            kinds.push((kind, low));
        }
        let longest = Duration::from_millis(rng.range(500, 5_001));
        Swarm { kinds, longest }
    }

    /// One line for reports: `node-crash/4.2s leader-isolated/7.9s ..., faults up to 3.1s`.
    pub fn describe(&self) -> String {
        let kinds: Vec<String> = self
            .kinds
            .iter()
            .map(|(k, mean)| format!("{k}/{:.1}s", mean.as_secs_f64()))
            .collect();
        format!(
            "{}; faults last up to {:.1}s",
            kinds.join(" "),
            self.longest.as_secs_f64()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_turn_different_subsets_on_and_never_none() {
        let window = Duration::from_secs(20);
        let mut subsets = std::collections::BTreeSet::new();
        for seed in 0..200 {
            let swarm = Swarm::draw(&mut Rng::from_seed(seed), window);
            assert!(!swarm.kinds.is_empty());
            for (kind, mean) in &swarm.kinds {
                let (low, high) = kind.mean_bounds(window);
                assert!(*mean >= low && *mean <= high, "{kind} {mean:?}");
            }
            subsets.insert(swarm.kinds.iter().map(|(k, _)| *k).collect::<Vec<_>>());
        }
        assert!(
            subsets.len() > 150,
            "only {} distinct subsets",
            subsets.len()
        );
        let a = Swarm::draw(&mut Rng::from_seed(7), window);
        let b = Swarm::draw(&mut Rng::from_seed(7), window);
        assert_eq!(a, b, "a seed draws one swarm");
    }
}
