//! The joins of a run as the ECS protocol shows them: each join's steps in time, and the
//! write locks the groups held.
//!
//! Every line the ECS sends for a join carries its number (`join=3`), and so do the
//! hand-off's `ecs_put` parts and the sender's `done`; the announcements that follow
//! (`broadcast_node`, `cluster_view`) carry none and are counted to the latest join.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::checks::accepted;
use crate::scenario::names::{parse_host, HostName};
use crate::trace::{Message, Trace, What};

/// One step of a join: a run of lines of one kind (`ecs_put` parts count as one step).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    /// The request's keyword (`write_lock`, `ecs_put`, `done`, ...), or `announce` for
    /// the untagged `broadcast_node` / `cluster_view` lines.
    pub name: String,
    /// When its first line was sent.
    pub from: Duration,
    /// When the next step began (or the join's last line was read).
    pub to: Duration,
    /// How many lines it took.
    pub lines: u32,
    /// The host its first line went to.
    pub to_host: String,
}

/// One join from its first line to its last.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Join {
    /// The ECS's join number.
    pub join: u64,
    /// The host the join's first line went to: the newcomer (its leader, in groups of
    /// more than one).
    pub newcomer: String,
    /// Its steps in order.
    pub steps: Vec<Step>,
}

/// A group's write lock, from the `ok` to `write_lock` to the `ok` to `release_lock`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lock {
    /// The group (from 1).
    pub group: u64,
    /// The member that accepted `write_lock`.
    pub host: String,
    /// The join that asked for it, if the line was tagged.
    pub join: Option<u64>,
    /// When it was granted.
    pub from: Duration,
    /// When it was released (the end of the run if never).
    pub to: Duration,
    /// Whether `release_lock` was accepted.
    pub released: bool,
}

/// A node host's group number.
pub fn group_of(host: &str) -> Option<u64> {
    match parse_host(host) {
        Some(HostName::Node { group, .. }) => Some(group),
        _ => None,
    }
}

/// The joins of `trace`, by join number.
pub fn joins(trace: &Trace) -> Vec<Join> {
    let mut by_join: BTreeMap<u64, (Join, Duration)> = BTreeMap::new();
    let mut latest: Option<u64> = None;
    for e in &trace.events {
        let (sent, to, req) = match &e.what {
            What::Send {
                to,
                msg: Message::AdminRequest(r),
                ..
            } => (true, to, r),
            What::Recv {
                msg: Message::AdminRequest(r),
                host,
                ..
            } => (false, host, r),
            _ => continue,
        };
        let (tag, inner) = req.untagged();
        let (join, name) = match tag {
            Some(j) => (j, inner.keyword()),
            None if matches!(inner.keyword(), "broadcast_node" | "cluster_view") => match latest {
                Some(j) => (j, "announce"),
                None => continue,
            },
            None => continue,
        };
        let (band, last) = by_join.entry(join).or_insert_with(|| {
            (
                Join {
                    join,
                    newcomer: to.to_string(),
                    steps: Vec::new(),
                },
                e.at,
            )
        });
        *last = (*last).max(e.at);
        if !sent {
            continue;
        }
        latest = Some(latest.map_or(join, |l| l.max(join)));
        match band.steps.last_mut() {
            Some(step) if step.name == name => step.lines += 1,
            _ => {
                if let Some(prev) = band.steps.last_mut() {
                    prev.to = e.at;
                }
                band.steps.push(Step {
                    name: name.to_string(),
                    from: e.at,
                    to: e.at,
                    lines: 1,
                    to_host: to.to_string(),
                });
            }
        }
    }
    by_join
        .into_values()
        .map(|(mut band, last)| {
            if let Some(step) = band.steps.last_mut() {
                step.to = last.max(step.from);
            }
            band
        })
        .collect()
}

/// Every write lock a group held, in the order they were granted.
pub fn locks(trace: &Trace, end: Duration) -> Vec<Lock> {
    use protocol::ecs::Request;
    let mut open: BTreeMap<u64, Lock> = BTreeMap::new();
    let mut out = Vec::new();
    for a in accepted(trace) {
        let Some(group) = group_of(a.host) else {
            continue;
        };
        let at = trace.events[a.answered].at;
        match a.request {
            Request::WriteLock => {
                let join = match &trace.events[a.received].what {
                    What::Recv {
                        msg: Message::AdminRequest(r),
                        ..
                    } => r.untagged().0,
                    _ => None,
                };
                open.entry(group).or_insert(Lock {
                    group,
                    host: a.host.to_string(),
                    join,
                    from: at,
                    to: end,
                    released: false,
                });
            }
            Request::ReleaseLock => {
                if let Some(mut lock) = open.remove(&group) {
                    lock.to = at;
                    lock.released = true;
                    out.push(lock);
                }
            }
            _ => {}
        }
    }
    out.extend(open.into_values());
    out.sort_by_key(|l| (l.from, l.group));
    out
}
