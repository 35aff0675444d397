//! What the ECS knows, and its stored form: the node table, the ring, the queue of groups
//! waiting to join, and the step the current join has reached.
//!
//! The state is written whole (atomically, synced) after every change, as lines of text a
//! person can read: `node`, `member`, `queued` and `join` lines.

use std::collections::VecDeque;
use std::fmt;

use protocol::ecs::{ClusterView, HostPort, NodeEntry, Register, Request};
use thiserror::Error;

use crate::ring::Ring;

/// The steps of one join, in the seed's order. Each is idempotent on the receiving side,
/// so after a restart the ECS simply redoes the step it was on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum JoinStep {
    /// Send the new group `next_addr <successor>`.
    TellNewcomerNext,
    /// Send the predecessor `write_lock`.
    LockPredecessor,
    /// Send the predecessor `next_addr <newcomer>`.
    TellPredecessorNext,
    /// Send the predecessor `transfer_range <successor>`, then wait for its `done`.
    Transfer,
    /// `done` arrived: announce the newcomer with `broadcast_node` and `cluster_view`.
    Broadcast,
    /// Send the predecessor `release_lock`.
    Release,
    /// The join is being abandoned (its deadline passed, or an operator said
    /// `abort_join`): send the predecessor `release_lock` (it keeps its range), then drop
    /// the join. Recorded first, so an ECS that restarts finishes the abandonment.
    Abort,
}

impl JoinStep {
    const ALL: [(JoinStep, &'static str); 7] = [
        (JoinStep::TellNewcomerNext, "tell-newcomer-next"),
        (JoinStep::LockPredecessor, "lock-predecessor"),
        (JoinStep::TellPredecessorNext, "tell-predecessor-next"),
        (JoinStep::Transfer, "transfer"),
        (JoinStep::Broadcast, "broadcast"),
        (JoinStep::Release, "release"),
        (JoinStep::Abort, "abort"),
    ];

    /// The step's name in the state file and in logs.
    pub fn name(self) -> &'static str {
        JoinStep::ALL
            .iter()
            .find(|(s, _)| *s == self)
            .map(|(_, n)| *n)
            .unwrap_or("?")
    }

    fn from_name(name: &str) -> Option<JoinStep> {
        JoinStep::ALL
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(s, _)| *s)
    }
}

impl fmt::Display for JoinStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The join in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join {
    /// The group joining.
    pub newcomer: Register,
    /// The member that owns the newcomer's position now; `None` for the first group.
    pub predecessor: Option<HostPort>,
    /// The member that will follow the newcomer (the newcomer itself when it is the
    /// first group).
    pub successor: HostPort,
    /// How far the join got.
    pub step: JoinStep,
}

/// Everything the ECS keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EcsState {
    /// Every node ever admitted; a node's id is its index.
    pub nodes: Vec<NodeEntry>,
    /// Ring addresses of the groups that finished joining, in join order.
    pub members: Vec<HostPort>,
    /// Groups waiting their turn, first come first served.
    pub queue: VecDeque<Register>,
    /// The join in progress.
    pub join: Option<Join>,
    /// Grows with every announced change.
    pub version: u64,
    /// Joins begun so far; the one in progress (if any) is join number `joins`. Every
    /// control line of a join carries its number (`join=<n>`).
    pub joins: u64,
}

/// What a `done` did to the join in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DoneOutcome {
    /// The join moved from its transfer step to the broadcast.
    Advanced,
    /// Nothing to do: the transfer was already known done, or the `done` is of a join
    /// that finished (its sender resends until it sees `ok`).
    AlreadyKnown,
}

/// The stored state does not parse.
#[derive(Debug, Error)]
#[error("ECS state file, line {line}: {reason}")]
pub struct StateFileError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: String,
}

impl EcsState {
    /// The ring of finished members.
    pub fn ring(&self) -> Ring {
        Ring::new(self.members.iter().cloned())
    }

    /// The view announced to every node: all nodes of member groups.
    pub fn view(&self) -> ClusterView {
        ClusterView {
            version: self.version,
            nodes: self
                .nodes
                .iter()
                .filter(|n| self.members.contains(&n.ring))
                .cloned()
                .collect(),
        }
    }

    /// Admin addresses of every node of the group at `ring`.
    pub fn admins_of(&self, ring: &HostPort) -> Vec<HostPort> {
        let admins: Vec<HostPort> = self
            .nodes
            .iter()
            .filter(|n| &n.ring == ring)
            .map(|n| n.admin.clone())
            .collect();
        if admins.is_empty() {
            vec![ring.clone()]
        } else {
            admins
        }
    }

    /// Takes `done` from `from` (the sender's ring address, if it said) of join `tag`
    /// (`None`: the current join). A `done` of an older join never moves the current one.
    pub fn on_done(
        &mut self,
        from: Option<&HostPort>,
        tag: Option<u64>,
    ) -> Result<DoneOutcome, String> {
        let current = self.joins;
        match tag {
            Some(j) if j > current => {
                return Err(format!("done of join {j}, but only {current} began"))
            }
            Some(j) if j < current || self.join.is_none() => return Ok(DoneOutcome::AlreadyKnown),
            _ => {}
        }
        let Some(join) = self.join.as_mut() else {
            return Err("no join in progress".into());
        };
        if let (Some(from), Some(pred)) = (from, &join.predecessor) {
            if from != pred {
                return Err(format!("done from {from}, but the transfer is {pred}'s"));
            }
        }
        match join.step {
            JoinStep::Transfer => {
                join.step = JoinStep::Broadcast;
                tracing::info!(group = %join.newcomer.ring, "transfer done");
                Ok(DoneOutcome::Advanced)
            }
            s if s > JoinStep::Transfer => Ok(DoneOutcome::AlreadyKnown),
            s => Err(format!("no transfer requested yet (join is at {s})")),
        }
    }

    /// Starts the next queued join, assigning node ids to the newcomer's members.
    /// Returns false if none is waiting or one is already running.
    pub fn start_next_join(&mut self) -> bool {
        if self.join.is_some() {
            return false;
        }
        // A group queued again while it was joining (a member restarted) and admitted
        // since has nothing left to do.
        while self
            .queue
            .front()
            .is_some_and(|r| self.members.contains(&r.ring))
        {
            self.queue.pop_front();
        }
        let Some(newcomer) = self.queue.pop_front() else {
            return false;
        };
        for m in &newcomer.members {
            if !self.nodes.iter().any(|n| n.admin == m.admin) {
                self.nodes.push(NodeEntry {
                    id: self.nodes.len() as u32,
                    ring: newcomer.ring.clone(),
                    admin: m.admin.clone(),
                    client: m.client.clone(),
                });
            }
        }
        let ring = self.ring();
        let (predecessor, successor) = match ring.neighbours_of(&newcomer.ring) {
            Some((p, s)) => (Some(p), s),
            None => (None, newcomer.ring.clone()),
        };
        self.join = Some(Join {
            newcomer,
            predecessor,
            successor,
            step: JoinStep::TellNewcomerNext,
        });
        self.joins += 1;
        true
    }

    /// Writes the state file's text.
    pub fn to_text(&self) -> String {
        let mut out = String::from("# ECS state; rewritten whole after every change\n");
        out.push_str(&format!("version {}\n", self.version));
        out.push_str(&format!("joins {}\n", self.joins));
        for n in &self.nodes {
            out.push_str(&format!("node {n}\n"));
        }
        for m in &self.members {
            out.push_str(&format!("member {m}\n"));
        }
        for r in &self.queue {
            out.push_str(&format!(
                "queued {}\n",
                Request::Register(r.clone()).to_line()
            ));
        }
        if let Some(j) = &self.join {
            let pred = j
                .predecessor
                .as_ref()
                .map_or("-".to_string(), |p| p.to_string());
            out.push_str(&format!(
                "join {} {} {} {}\n",
                j.step,
                pred,
                j.successor,
                Request::Register(j.newcomer.clone()).to_line()
            ));
        }
        out
    }

    /// Reads a state file's text.
    pub fn from_text(text: &str) -> Result<EcsState, StateFileError> {
        let mut state = EcsState::default();
        for (i, line) in text.lines().enumerate() {
            let err = |reason: String| StateFileError {
                line: i + 1,
                reason,
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
            match word {
                "version" => {
                    state.version = rest
                        .parse()
                        .map_err(|_| err(format!("bad version {rest:?}")))?
                }
                "joins" => {
                    state.joins = rest
                        .parse()
                        .map_err(|_| err(format!("bad join count {rest:?}")))?
                }
                "node" => state
                    .nodes
                    .push(NodeEntry::from_token(rest).map_err(|e| err(e.to_string()))?),
                "member" => state
                    .members
                    .push(rest.parse().map_err(|e| err(format!("{e}")))?),
                "queued" => state.queue.push_back(register(rest).map_err(err)?),
                "join" => {
                    let mut parts = rest.splitn(4, ' ');
                    let mut next = || parts.next().unwrap_or("");
                    let step = next();
                    let step = JoinStep::from_name(step)
                        .ok_or_else(|| err(format!("unknown step {step:?}")))?;
                    let pred = next();
                    let predecessor = if pred == "-" {
                        None
                    } else {
                        Some(pred.parse().map_err(|e| err(format!("{e}")))?)
                    };
                    let successor = next().parse().map_err(|e| err(format!("{e}")))?;
                    let newcomer = register(next()).map_err(err)?;
                    state.join = Some(Join {
                        newcomer,
                        predecessor,
                        successor,
                        step,
                    });
                }
                other => return Err(err(format!("unknown entry {other:?}"))),
            }
        }
        if state.join.is_some() && state.joins == 0 {
            // A file from before joins were numbered: its join in progress is the first.
            state.joins = 1;
        }
        Ok(state)
    }
}

fn register(line: &str) -> Result<Register, String> {
    match Request::parse(line) {
        Ok(Request::Register(r)) => Ok(r),
        Ok(other) => Err(format!(
            "expected a register line, found {}",
            other.keyword()
        )),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::ecs::Member;

    fn reg(ring: &str, admin: &str, client: &str) -> Register {
        Register {
            ring: ring.parse().unwrap(),
            members: vec![Member {
                admin: admin.parse().unwrap(),
                client: client.parse().unwrap(),
            }],
        }
    }

    /// Found by `sim explore` (split-transfer-receiver-crash, seed 1): a newcomer that
    /// restarted during its join registered again, was told ok as "joining", and after the
    /// join was abandoned at its deadline was never admitted. Its registration is queued
    /// again; a join that succeeds makes the copy moot.
    #[test]
    fn a_group_queued_again_during_its_join_is_retried_only_if_not_admitted() {
        let mut s = EcsState::default();
        s.queue.push_back(reg("a:1", "a:1", "a:2"));
        assert!(s.start_next_join());
        s.members.push("a:1".parse().unwrap());
        s.join = None;
        s.queue.push_back(reg("b:1", "b:1", "b:2"));
        assert!(s.start_next_join());
        // b restarts mid-join and registers again; a's late duplicate is in the queue too.
        s.queue.push_back(reg("a:1", "a:1", "a:2"));
        s.queue.push_back(reg("b:1", "b:1", "b:2"));
        // b's join is abandoned: the next join is b again, a's copy is skipped.
        s.join = None;
        assert!(s.start_next_join());
        assert_eq!(s.join.as_ref().unwrap().newcomer.ring.to_string(), "b:1");
        assert!(s.queue.is_empty());
        // Admitted this time: nothing is left to start.
        s.members.push("b:1".parse().unwrap());
        s.join = None;
        s.queue.push_back(reg("b:1", "b:1", "b:2"));
        assert!(!s.start_next_join());
        assert!(s.queue.is_empty());
    }

    #[test]
    fn state_survives_its_text_form() {
        let mut s = EcsState::default();
        s.queue.push_back(reg("a:1", "a:1", "a:2"));
        s.queue.push_back(reg("b:1", "b:1", "b:2"));
        assert!(s.start_next_join());
        s.join.as_mut().unwrap().step = JoinStep::Broadcast;
        s.members.push("a:1".parse().unwrap());
        s.version = 4;
        let back = EcsState::from_text(&s.to_text()).unwrap();
        assert_eq!(back, s);
        // An abandonment in progress is resumed after a restart too.
        s.join.as_mut().unwrap().step = JoinStep::Abort;
        assert_eq!(EcsState::from_text(&s.to_text()).unwrap(), s);
    }

    #[test]
    fn the_first_group_is_its_own_successor_and_ids_grow() {
        let mut s = EcsState::default();
        s.queue.push_back(reg("a:1", "a:1", "a:2"));
        assert!(s.start_next_join());
        let j = s.join.clone().unwrap();
        assert_eq!(j.predecessor, None);
        assert_eq!(j.successor, j.newcomer.ring);
        assert_eq!(s.nodes[0].id, 0);
        assert!(!s.start_next_join(), "one join at a time");
    }

    /// A `done` whose `ok` was lost is resent; by then the next join may be at its
    /// transfer step. The resend must not finish that join before any part was sent.
    #[test]
    fn a_done_of_a_finished_join_is_ok_and_moves_nothing() {
        let mut s = EcsState::default();
        for (ring, client) in [("a:1", "a:2"), ("b:1", "b:2"), ("c:1", "c:2")] {
            s.queue.push_back(reg(ring, ring, client));
        }
        assert!(s.start_next_join());
        s.members.push("a:1".parse().unwrap());
        s.join = None;
        assert!(s.start_next_join());
        let pred: HostPort = s.join.as_ref().unwrap().predecessor.clone().unwrap();
        s.join.as_mut().unwrap().step = JoinStep::Transfer;
        assert_eq!(s.joins, 2);
        assert_eq!(s.on_done(Some(&pred), Some(2)), Ok(DoneOutcome::Advanced));
        s.members.push("b:1".parse().unwrap());
        s.join = None;
        // Join 3 waits at its transfer step; join 2's done arrives again.
        assert!(s.start_next_join());
        s.join.as_mut().unwrap().step = JoinStep::Transfer;
        let pred3 = s.join.as_ref().unwrap().predecessor.clone();
        assert_eq!(
            s.on_done(pred3.as_ref(), Some(2)),
            Ok(DoneOutcome::AlreadyKnown)
        );
        assert_eq!(s.join.as_ref().unwrap().step, JoinStep::Transfer);
        assert!(s.on_done(pred3.as_ref(), Some(4)).is_err());
        assert_eq!(
            s.on_done(pred3.as_ref(), Some(3)),
            Ok(DoneOutcome::Advanced)
        );
        // The join count survives the state file.
        assert_eq!(EcsState::from_text(&s.to_text()).unwrap().joins, 3);
    }

    #[test]
    fn a_bad_state_file_names_the_line() {
        let e = EcsState::from_text("version 1\nbogus x\n").unwrap_err();
        assert_eq!(e.line, 2);
    }
}
