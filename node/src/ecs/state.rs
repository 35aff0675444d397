//! What the ECS knows, and its stored form: the node table, the ring, the queue of groups
//! waiting to join, and the step the current join has reached.
//!
//! The state is written whole (atomically, synced) after every change, as lines of text a
//! person can read: `node`, `member`, `queued` and `join` lines, and for removals
//! `remove_queued`, `removal` and `removed` lines.

use std::collections::VecDeque;

use protocol::ecs::{ClusterView, HostPort, Member, NodeEntry, Register, Request};
use thiserror::Error;

pub use crate::join::step::{Join, JoinStep, Removal};
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
    /// Reconfigurations (joins and removals) begun so far; the one in progress (if any)
    /// is number `joins`. Every control line of one carries its number (`join=<n>`):
    /// joins and removals share the count, so a group can tell a line of an earlier one
    /// of either kind from the current one.
    pub joins: u64,
    /// Groups an operator asked to remove, waiting their turn. They go before queued
    /// joins: a removal is rare and asked by a person, registrations may keep coming.
    pub removals: VecDeque<HostPort>,
    /// The removal in progress (never at the same time as a join).
    pub removal: Option<Removal>,
    /// Ring addresses of removed groups: retired, so a removed group cannot join again
    /// under the same address (its nodes, restarted, would otherwise register and come
    /// back with whatever their disks still hold).
    pub removed: Vec<HostPort>,
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

    /// The group at `ring` as it registered: its nodes, from the node table.
    pub fn group(&self, ring: &HostPort) -> Register {
        Register {
            ring: ring.clone(),
            members: self
                .nodes
                .iter()
                .filter(|n| &n.ring == ring)
                .map(|n| Member {
                    admin: n.admin.clone(),
                    client: n.client.clone(),
                })
                .collect(),
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
        for r in &self.removed {
            out.push_str(&format!("removed {r}\n"));
        }
        for r in &self.removals {
            out.push_str(&format!("remove_queued {r}\n"));
        }
        if let Some(r) = &self.removal {
            out.push_str(&format!(
                "removal {} {} {} {}\n",
                r.step, r.leaving, r.receiver, r.end
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
                "removed" => state
                    .removed
                    .push(rest.parse().map_err(|e| err(format!("{e}")))?),
                "remove_queued" => state
                    .removals
                    .push_back(rest.parse().map_err(|e| err(format!("{e}")))?),
                "removal" => state.removal = Some(removal(rest).map_err(err)?),
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

/// `<step> <leaving> <receiver> <end>`.
fn removal(rest: &str) -> Result<Removal, String> {
    let words: Vec<&str> = rest.split(' ').collect();
    let [step, leaving, receiver, end] = words[..] else {
        return Err(format!("a removal needs 4 words, found {:?}", rest));
    };
    let addr = |w: &str| w.parse::<HostPort>().map_err(|e| format!("{e}"));
    Ok(Removal {
        step: JoinStep::from_name(step).ok_or_else(|| format!("unknown step {step:?}"))?,
        leaving: addr(leaving)?,
        receiver: addr(receiver)?,
        end: addr(end)?,
    })
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
    fn a_removal_survives_the_text_form() {
        let mut s = EcsState {
            members: vec!["a:1".parse().unwrap(), "b:1".parse().unwrap()],
            removed: vec!["c:1".parse().unwrap()],
            joins: 4,
            ..EcsState::default()
        };
        s.removals.push_back("a:1".parse().unwrap());
        s.removal = Some(Removal {
            leaving: "b:1".parse().unwrap(),
            receiver: "a:1".parse().unwrap(),
            end: "a:1".parse().unwrap(),
            step: JoinStep::Transfer,
        });
        assert_eq!(EcsState::from_text(&s.to_text()).unwrap(), s);
        let e = EcsState::from_text("removal transfer b:1 a:1\n").unwrap_err();
        assert_eq!(e.line, 1);
    }

    #[test]
    fn a_bad_state_file_names_the_line() {
        let e = EcsState::from_text("version 1\nbogus x\n").unwrap_err();
        assert_eq!(e.line, 2);
    }
}
