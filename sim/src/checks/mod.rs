//! The checks that judge a run, one per file. Each reads the trace and the history and
//! returns the violations it found.
//!
//! - [`lost_writes`]: every key reads back as its last acknowledged state, or as the
//!   effect of a later unacknowledged write.
//! - [`joins`]: every started group was admitted and knows the final ring; every group
//!   whose removal the ECS accepted is off it.
//! - [`locks`]: no group is left write-locked.
//! - [`leaders`]: at most one leader per term in each group.
//! - [`committed_entries`]: no leader's frames contradict an entry known committed, and
//!   no two entries share an index and a term with different bytes; and
//!   ([`rogue_frames`]) no member answers a Raft request from outside its group.
//! - [`ring_ownership`]: only a key's owner acknowledges writes to it, and the ring the
//!   groups end on gives every key exactly one owner.
//! - [`linearizable`]: every key's history is linearizable (Wing–Gong–Lowe, per key).
//! - [`appends_not_resent`]: no leader sends a follower an entry twice in one term
//!   without a refusal in between (flow control wastes nothing).
//! - [`snapshot_chunks_paced`]: no leader resends a follower the snapshot chunk in flight
//!   more than about once per heartbeat interval.
//! - [`reaches`]: the trace shows what a scenario written for a narrow window expects.
//!
//! Checks that look at groups take `groups`: each started group's member host names.

pub mod appends_not_resent;
pub mod committed_entries;
pub mod joins;
pub mod leaders;
pub mod linearizable;
pub mod locks;
pub mod lost_writes;
pub mod reaches;
pub mod ring_ownership;
pub mod rogue_frames;
pub mod snapshot_chunks_paced;

use std::fmt;

use crate::scenario::Scenario;
use crate::trace::Trace;
use crate::workload::History;

/// One violated check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The check's name (as in the scenario's `[checks]`).
    pub check: &'static str,
    /// What went wrong, for a person.
    pub detail: String,
}

impl Failure {
    /// A failure of `check`.
    pub fn new(check: &'static str, detail: impl Into<String>) -> Self {
        Failure {
            check,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.check, self.detail)
    }
}

/// What the checks concluded about a run.
#[derive(Debug, Clone, Default)]
pub struct Judgement {
    /// The violated checks.
    pub failures: Vec<Failure>,
    /// Keys the linearizability search could not decide within its budget, with the
    /// steps it took: neither passed nor failed.
    pub undecided: Vec<(String, u64)>,
}

/// Runs every check the scenario enables.
pub fn run_all(
    scenario: &Scenario,
    groups: &[Vec<String>],
    trace: &Trace,
    history: &History,
) -> Judgement {
    let mut out = Vec::new();
    let mut undecided = Vec::new();
    if scenario.checks.linearizable {
        let config = linearizable::Config {
            max_steps_per_key: scenario.checks.linearizable_steps,
        };
        let (failures, open) = linearizable::judge(history, trace, &config);
        out.extend(failures);
        undecided = open;
    }
    if scenario.checks.no_lost_writes {
        out.extend(lost_writes::check(history));
    }
    if scenario.checks.joins_complete {
        out.extend(joins::check(groups, trace));
    }
    if scenario.checks.locks_released {
        out.extend(locks::check(groups, trace));
        out.extend(locks::check_hold(
            groups,
            trace,
            scenario.checks.max_lock_hold,
        ));
    }
    if scenario.checks.one_leader_per_term {
        out.extend(leaders::check(groups, trace));
    }
    if scenario.checks.committed_entries_stable {
        out.extend(committed_entries::check(groups, trace));
        out.extend(rogue_frames::check(groups, trace));
    }
    if scenario.checks.ring_ownership {
        out.extend(ring_ownership::check(groups, trace, history));
    }
    if scenario.checks.appends_not_resent {
        out.extend(appends_not_resent::check(groups, trace));
    }
    if scenario.checks.snapshot_chunks_paced {
        let heartbeat = scenario.node.raft_tick * scenario.node.heartbeat_ticks;
        out.extend(snapshot_chunks_paced::check(groups, trace, heartbeat));
    }
    Judgement {
        failures: out,
        undecided,
    }
}

/// Each member's group: host name -> index into `groups`.
pub(crate) fn group_of(groups: &[Vec<String>]) -> std::collections::BTreeMap<&str, usize> {
    groups
        .iter()
        .enumerate()
        .flat_map(|(g, members)| members.iter().map(move |m| (m.as_str(), g)))
        .collect()
}

/// Whether `a` and `b` are members of one group, by [`group_of`]'s map (hosts outside
/// every group, such as clients or the ECS, are in none).
pub(crate) fn same_group(
    group: &std::collections::BTreeMap<&str, usize>,
    a: &str,
    b: &str,
) -> bool {
    group.get(a).is_some_and(|g| group.get(b) == Some(g))
}

/// One ECS-protocol request a host accepted (answered `ok`).
#[derive(Debug, Clone, Copy)]
pub struct Accepted<'a> {
    /// The host that accepted it.
    pub host: &'a str,
    /// The request, without its join tag.
    pub request: &'a protocol::ecs::Request,
    /// Its join tag, if it had one.
    pub join: Option<u64>,
    /// The index in the trace of the event where the host received it.
    pub received: usize,
    /// The index in the trace of the event where the host sent its `ok`.
    pub answered: usize,
}

/// One ECS-protocol request a host received, and its answer, if it sent one.
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    /// The host that received it.
    pub host: &'a str,
    /// The host that sent it.
    pub from: &'a str,
    /// The request as received (with its join tag, if any).
    pub request: &'a protocol::ecs::Request,
    /// The index in the trace of the event where the host received it.
    pub received: usize,
    /// The answer and the index of the event where the host sent it.
    pub reply: Option<(usize, &'a protocol::ecs::Reply)>,
}

/// Every ECS-protocol request hosts received, in the order received, each with the answer
/// its host sent. Requests and replies alternate on an admin connection, so the next reply
/// a host sends on a connection answers the last request it received on it. (Pairing by
/// host and peer instead paired a reply with a request that arrived on another connection
/// meanwhile: found by a hostile review, a stale line's `error` taken for the answer to
/// the next join's `next_addr`.) Events built by hand carry no connection: their host
/// pair stands in for it.
pub fn exchanges(trace: &Trace) -> Vec<Exchange<'_>> {
    use crate::trace::{Message, What};
    use std::collections::BTreeMap;
    let mut pending = BTreeMap::new();
    let mut out: Vec<Exchange<'_>> = Vec::new();
    for (i, e) in trace.events.iter().enumerate() {
        match &e.what {
            What::Recv {
                host,
                from,
                msg: Message::AdminRequest(request),
            } => {
                pending.insert((&**host, &**from, e.conn), out.len());
                out.push(Exchange {
                    host,
                    from,
                    request,
                    received: i,
                    reply: None,
                });
            }
            What::Send {
                from,
                to,
                msg: Message::AdminReply(reply),
            } => {
                if let Some(k) = pending.remove(&(&**from, &**to, e.conn)) {
                    out[k].reply = Some((i, reply));
                }
            }
            _ => {}
        }
    }
    out
}

/// Every ECS-protocol request a host accepted (answered `ok`), in the order of the `ok`s;
/// see [`exchanges`].
pub fn accepted(trace: &Trace) -> Vec<Accepted<'_>> {
    accepted_in(&exchanges(trace))
}

/// The requests of `exchanges` answered `ok`, in the order of the `ok`s.
pub fn accepted_in<'a>(exchanges: &[Exchange<'a>]) -> Vec<Accepted<'a>> {
    let mut accepted: Vec<Accepted<'a>> = exchanges
        .iter()
        .filter_map(|x| match x.reply {
            Some((answered, protocol::ecs::Reply::Ok)) => Some(Accepted {
                host: x.host,
                // Checks judge what a request does, whichever join it names.
                request: x.request.untagged().1,
                join: x.request.untagged().0,
                received: x.received,
                answered,
            }),
            _ => None,
        })
        .collect();
    accepted.sort_by_key(|a| a.answered);
    accepted
}

/// A group's ring address: its first member's admin address.
pub fn ring_address(members: &[String]) -> Option<protocol::ecs::HostPort> {
    protocol::ecs::HostPort::new(members.first()?.as_str(), crate::runtime::ADMIN_PORT).ok()
}

/// The ring addresses the ECS accepted a `remove_group` for (answered `ok`): the groups an
/// operator asked to remove and the ECS took on. The ECS never abandons a removal it has
/// accepted, so each of them must be off the ring by the end of the run.
pub fn removed_groups(trace: &Trace) -> std::collections::BTreeSet<protocol::ecs::HostPort> {
    accepted(trace)
        .into_iter()
        .filter(|a| a.host == "ecs")
        .filter_map(|a| match a.request {
            protocol::ecs::Request::RemoveGroup(ring) => Some(ring.clone()),
            _ => None,
        })
        .collect()
}

/// Every ECS-protocol request a host accepted (answered `ok`), in trace order, as
/// (host, request); see [`accepted`].
pub fn accepted_requests(trace: &Trace) -> Vec<(&str, &protocol::ecs::Request)> {
    accepted(trace)
        .into_iter()
        .map(|a| (a.host, a.request))
        .collect()
}
