//! What the ECS knows, and its stored form: the node table, the ring, the queue of groups
//! waiting to join, and the step the current join has reached.
//!
//! The state is written whole (atomically, synced) after every change, as lines of text a
//! person can read: `node`, `member`, `queued` and `join` lines.

use std::collections::VecDeque;

use protocol::ecs::{ClusterView, HostPort, NodeEntry, Register, Request};
use thiserror::Error;

pub use crate::join::step::{Join, JoinStep};
use crate::ring::Ring;

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

    #[test]
    fn state_survives_its_text_form() {
        let mut s = EcsState::default();
        s.nodes.push(NodeEntry {
            id: 0,
            ring: "b:1".parse().unwrap(),
            admin: "b:1".parse().unwrap(),
            client: "b:2".parse().unwrap(),
        });
        s.queue.push_back(reg("a:1", "a:1", "a:2"));
        s.join = Some(Join {
            newcomer: reg("b:1", "b:1", "b:2"),
            predecessor: Some("a:1".parse().unwrap()),
            successor: "a:1".parse().unwrap(),
            step: JoinStep::Broadcast,
        });
        s.joins = 2;
        s.members.push("a:1".parse().unwrap());
        s.version = 4;
        let back = EcsState::from_text(&s.to_text()).unwrap();
        assert_eq!(back, s);
        // An abandonment in progress is resumed after a restart too.
        s.join.as_mut().unwrap().step = JoinStep::Abort;
        assert_eq!(EcsState::from_text(&s.to_text()).unwrap(), s);
        // The first group's join has no predecessor.
        s.join.as_mut().unwrap().predecessor = None;
        assert_eq!(EcsState::from_text(&s.to_text()).unwrap(), s);
    }

    /// A file as the ECS wrote it before the join machine existed still loads, and is
    /// written back the same.
    #[test]
    fn a_stored_file_still_loads() {
        let text = "# ECS state; rewritten whole after every change\n\
                    version 3\n\
                    joins 2\n\
                    node 0/a:1/a:1/a:2\n\
                    node 1/b:1/b:1/b:2\n\
                    member a:1\n\
                    queued register c 1 c:1/c:2\n\
                    join transfer a:1 a:1 register b 1 b:1/b:2\n";
        let s = EcsState::from_text(text).unwrap();
        assert_eq!(s.version, 3);
        assert_eq!(s.joins, 2);
        assert_eq!(s.nodes.len(), 2);
        assert_eq!(s.queue.len(), 1);
        let join = s.join.clone().unwrap();
        assert_eq!(join.step, JoinStep::Transfer);
        assert_eq!(join.predecessor, Some("a:1".parse().unwrap()));
        assert_eq!(s.to_text(), text);
        // Before joins were numbered, the join in progress is the first.
        let old =
            EcsState::from_text("join lock-predecessor a:1 a:1 register b 1 b:1/b:2\n").unwrap();
        assert_eq!(old.joins, 1);
        assert_eq!(old.join.unwrap().step, JoinStep::LockPredecessor);
    }

    #[test]
    fn a_bad_state_file_names_the_line() {
        let e = EcsState::from_text("version 1\nbogus x\n").unwrap_err();
        assert_eq!(e.line, 2);
    }
}
