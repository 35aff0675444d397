//! Each key has one owner: a write is acknowledged only by the group that owns the key in
//! the ring it has accepted, and once the ring settles the groups split the keys exactly.
//!
//! **What a group has accepted** is what one of its members answered `ok` (the leader,
//! after the command was committed and applied; see [`super::accepted`]): `next_addr`,
//! `broadcast_node`, `cluster_view`, `write_lock`, `release_lock`. From those, a group owns
//! `[own, end)`, where `own` is its ring address and `end` the nearest ring position after
//! it among the `next_addr`s it accepted (its own address, when it is alone: the whole
//! ring), or, before it accepted any, among the other members of the `broadcast_node`s and
//! `cluster_view`s it accepted. That is the node's own rule (`GroupState::owned_arc`:
//! `[own, next)`, else the ring's arc) read from the wire. Joins only ever shrink a
//! group's range, so the nearest `next_addr` is also the newest; one farther than an
//! earlier one could only come from a stale message, and a range grown back that way is
//! exactly what this check is for. The one exception: a `next_addr` of a newer join (by
//! its tag) replaces one that is on no ring the group knows (the newcomer of an abandoned
//! join, or a group removed since), as the node's does. The predecessor of a join accepts its new `next_addr`
//! before the transfer and before the ECS announces the new ring, so from then on it owns
//! only what it keeps; the newcomer owns the range it was given (`next_addr` of its
//! successor), and only once it is on the ring. A `release_lock` accepted while its
//! `next_addr` is not on the ring the group heard of (the join was abandoned) drops that
//! `next_addr`: the range reverts to the ring's, as the node's does. A `release_lock` also
//! counts without an `ok` once the group's leaders' frames show it committed, from when
//! its creator received it (a leader cut off mid-way answers "leadership changed" and the
//! next one commits it: see `committed_releases`). A request of the released join answered
//! `ok` only after that was ahead of the release in the log (the node refuses a closed
//! join's requests; a leader in a slow sync answers late), so it takes its place just ahead
//! of the release, which acts on it, and not on what a newer join set since.
//!
//! **Removals.** A `cluster_view` replaces the ring the group knows (a newer or equal
//! version only, as the node keeps the newer): a member it does not name is off the ring.
//! When the group's `next_addr` was on the ring and the view drops it (its successor was
//! removed), the `next_addr` is forgotten and the range runs to the ring's next member:
//! that is how the receiver of a removal grows. A group that accepts a view without
//! itself after one with itself has left: from then on it owns nothing, and any write it
//! acknowledges for a request received after that is flagged.
//!
//! **(a) The ring settles.** At the end, every group's last accepted `cluster_view` (the
//! highest version any member accepted) is the same version, and every key the workload
//! touched lies in exactly one group's range, that of its owner in that view. A group
//! that never accepted a view of itself owns nothing; a group that left takes no part in
//! the agreement (the ECS sends it no later view) and owns nothing.
//!
//! **(b) No write acknowledged outside the owner's range.** A write acknowledgement is a
//! 'c' answering a put, delete or compare-and-set. The trace names hosts, not connections,
//! and a client may hold several connections to one node (one per lane, or a new one after
//! an attempt timed out, while the node still works on the old one), so answers cannot be
//! paired with requests from the trace alone. The history can: a record of an
//! acknowledged write gives its key, its session tag and the instant its client read the
//! answer, and the client's `Recv` of that 'c' at that instant names the node that
//! answered. (Several matching answers from different nodes at one instant: the write is
//! flagged only if every candidate breaks the rule.)
//!
//! The rule must allow what a correct node does, and judging at the instant of the 'c'
//! would not: a write committed just before `write_lock` may be answered just after it,
//! and a group that applied `release_lock` serves writes before its `ok` reaches the
//! trace. So the write is judged by what the group had accepted when it **received** the
//! request: a command committed before the request arrived precedes the write in the log
//! (a committed prefix never changes), so it was in force when the write applied. The
//! acknowledgement breaks the rule when, for every receipt of that command (same client,
//! session tag and key) by a member of the group before the answer:
//!
//! - the key lay outside the range the group had accepted by then, or
//! - the group had accepted a `write_lock` by then, and no member received a
//!   `release_lock` after that `write_lock` arrived and before the answer (a release
//!   applied but not yet answered counts as received);
//!
//! or when no member of the group had received a `broadcast_node` or `cluster_view`
//! naming it before the answer (a node serves nothing before it is on the ring).
//! Any receipt is enough because a resend of a command already applied is answered from
//! the group's session table without being applied again: its answer is legitimate if the
//! first copy arrived while the group owned the key.
//!
//! Assumptions: a client records a write's completion at the instant it reads the answer
//! (`workload::perform` does), and a leader proposes an ECS request when it receives it
//! (the admin port does), so a `release_lock` received before a `write_lock` arrived
//! cannot follow it in the log.
//!
//! Limitations: writes the node answered but the client never read (the client had given
//! up on that connection) are not judged; keys are those of the client requests in the
//! trace; requests and `ok`s on an admin connection are paired per pair of hosts, like
//! the other checks do.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use node::ring::{member_position, position_of, Position, Ring};
use protocol::client::{Packet, Request as ClientRequest, Response, SessionTag};
use protocol::ecs::{ClusterView, HostPort, Reply, Request};
use protocol::Limits;

use node::group::GroupCommand;

use super::committed_entries::{committed_log, CommittedEntry};
use super::joins::group_name;
use super::{accepted_in, exchanges, Accepted, Exchange, Failure};
use crate::trace::{printable, Message, Trace, What};
use crate::workload::{History, Op, Outcome, Record};

/// The check's name, as in `[checks]`.
const NAME: &str = "ring_ownership";

/// At most this many keys are named in one failure of the settled ring.
const MAX_KEYS_NAMED: usize = 5;

/// At most this many wrong acknowledgements are reported one by one (a broken node makes
/// thousands); the rest are counted.
const MAX_ACKS_NAMED: usize = 10;

/// Clockwise distance on the ring from `from` to `to`.
fn distance(from: Position, to: Position) -> u128 {
    to.wrapping_sub(from)
}

/// The end of a group's range as far as it had accepted, and what said so.
#[derive(Debug, Clone)]
struct End {
    /// Distance from the group's position to the end; 0 is the whole ring.
    distance: u128,
    /// The address at the end.
    addr: HostPort,
    /// The accepted request that set it.
    source: &'static str,
    /// When that request was answered `ok`.
    at: Duration,
    /// The join tag of that request (a `next_addr`'s), if it had one.
    join: Option<u64>,
}

impl End {
    /// The range's length for comparing ends: the whole ring is the longest.
    fn length(&self) -> u128 {
        self.distance.wrapping_sub(1)
    }
}

/// What a group had accepted before some point of the trace.
#[derive(Debug, Default)]
struct Known<'a> {
    /// The end of its range: the nearest `next_addr` it accepted, or without one the
    /// nearest other ring member it heard of; `None` while it knew no successor at all.
    end: Option<End>,
    /// Whether an accepted `broadcast_node` or `cluster_view` put it on the ring.
    on_ring: bool,
    /// The `write_lock` in force, if the last lock request it accepted was one.
    lock: Option<Accepted<'a>>,
    /// The highest `cluster_view` it accepted.
    view: Option<&'a ClusterView>,
    /// Set once it accepted a `cluster_view` without itself after being on the ring (it
    /// was removed): that view's version, and when it was accepted.
    left: Option<(u64, Duration)>,
}

/// One started group and what the trace shows of it.
struct Group<'a> {
    /// 1-based, in join order.
    number: usize,
    members: &'a [String],
    /// Its ring address: its first member's admin address.
    own: HostPort,
    pos: Position,
    /// The requests its members accepted, in the order of their `ok`s.
    accepted: Vec<Accepted<'a>>,
    /// The ECS-protocol requests its members received: (event index, request).
    received: Vec<(usize, &'a Request)>,
    /// The `release_lock`s its leaders' frames show committed and in effect, by the
    /// event from which each counts (its creation, see [`committed_releases`]), with
    /// their join tags.
    releases: Vec<(usize, Option<u64>)>,
}

impl<'a> Group<'a> {
    fn name(&self) -> String {
        format!("group {} ({})", self.number, group_name(self.members))
    }

    /// Whether `addr` is this group's ring address.
    fn is_own(&self, addr: &HostPort) -> bool {
        *addr == self.own
    }

    /// What the group had accepted with an `ok` sent before event `before`, and the
    /// `cluster_view`s it accepted at any time that a member had received before `before`.
    ///
    /// A view is counted from its first receipt because a member may apply it long before
    /// any `ok` for it is traced: a leader that takes it and replicates it, then loses
    /// power, leaves it in the log its successor commits, with no `ok` ever sent for that
    /// copy (found by `sim explore`, remove-group-faults seeds 2, 106 and 184: the
    /// receiver of a removal served its new range after such a view, or in the tick
    /// between applying a view and sending its `ok`). Counting it early only ever grants
    /// a receiver its new range sooner, and the ECS sends that view only after the
    /// leaving group's `done`, once the receiver holds every part.
    fn known(&self, trace: &Trace, before: usize) -> Known<'a> {
        let mut k = Known::default();
        let mut next: Option<End> = None;
        // The ring as the group knows it (itself included once it is on it), and what
        // put each member there: `broadcast_node` adds one while no view is held, a
        // `cluster_view` replaces the whole ring (`GroupState::apply`), so a removed
        // member drops off.
        let mut ring: BTreeMap<&'a HostPort, (&'static str, Duration)> = BTreeMap::new();
        let in_force = |a: &&Accepted<'a>| {
            a.answered < before
                || matches!(a.request, Request::ClusterView(_))
                    && self
                        .received
                        .iter()
                        .take_while(|(i, _)| *i < before)
                        .any(|(_, r)| *r == a.request)
        };
        /// One thing that changed what the group had accepted.
        enum Step<'s, 'a> {
            /// A request answered `ok`.
            Accepted(&'s Accepted<'a>),
            /// A `release_lock` the frames show committed, with its join tag.
            Released(Option<u64>),
        }
        // The accepted requests and the committed releases, in the order they took
        // effect: an `ok` at its event, a committed release from its creation. A request
        // of a join whose release took effect already, answered `ok` after it, was applied
        // before it: the node refuses a closed join's requests
        // (`GroupState::apply_for_join`), so only an entry ahead of the release in the log
        // can be answered `ok`, late when its leader's sync was slow. It takes its place
        // just ahead of that release, so the release acts on it and on nothing a newer
        // join set since (found by `sim explore`, seed 417 of
        // review-ring-ownership-release-inherited-then-resent-5224: an abandoned join's
        // `next_addr` answered after the release a new leader committed from its creation
        // held the group to the newcomer's range for good; a review then found that
        // releasing again at the late `ok` wiped a newer join's lock).
        let mut steps: Vec<(usize, Step<'_, 'a>)> = self
            .accepted
            .iter()
            .filter(in_force)
            .map(|a| (a.answered, Step::Accepted(a)))
            .chain(
                self.releases
                    .iter()
                    .filter(|&&(created, _)| created < before)
                    .map(|&(created, join)| (created, Step::Released(join))),
            )
            .collect();
        let mut first_release: BTreeMap<u64, usize> = BTreeMap::new();
        for (event, step) in &steps {
            let join = match step {
                Step::Released(join) => *join,
                Step::Accepted(a) if *a.request == Request::ReleaseLock => a.join,
                Step::Accepted(_) => None,
            };
            if let Some(join) = join {
                let first = first_release.entry(join).or_insert(*event);
                *first = (*first).min(*event);
            }
        }
        // Sorted by the event it takes effect at; ahead of a release at the same event.
        steps.sort_by_key(|(event, step)| match step {
            Step::Accepted(a) if *a.request != Request::ReleaseLock => {
                match a.join.and_then(|join| first_release.get(&join)) {
                    Some(&release) if release < *event => (release, 0),
                    _ => (*event, 1),
                }
            }
            _ => (*event, 1),
        });
        for (event, step) in steps {
            let at = trace.events[event].at;
            let a = match step {
                Step::Accepted(a) => a,
                Step::Released(_) => {
                    release(&mut k, &mut next, &ring);
                    continue;
                }
            };
            match a.request {
                Request::NextAddr(addr) => {
                    let end = End {
                        distance: distance(self.pos, member_position(addr)),
                        addr: addr.clone(),
                        source: "next_addr",
                        at,
                        join: a.join,
                    };
                    // The nearest wins: a farther one only comes from a stale line, except
                    // from a newer join while the current end is on no ring the group
                    // knows (its newcomer's join was abandoned, or it was removed since):
                    // the node takes the newer join's (explore found a group that joined
                    // again after a removal flagged for the range its second join gave it).
                    let superseded = |e: &End| {
                        end.join.zip(e.join).is_some_and(|(new, old)| new > old)
                            && !ring.contains_key(&e.addr)
                    };
                    if next
                        .as_ref()
                        .is_none_or(|e| end.length() < e.length() || superseded(e))
                    {
                        next = Some(end);
                    }
                }
                // A group that holds a view takes ring changes from views only
                // (GroupState::apply): a stale `broadcast_node` must not count.
                Request::BroadcastNode(m) if k.view.is_none() => {
                    k.on_ring |= self.is_own(m);
                    ring.insert(m, ("broadcast_node", at));
                }
                Request::BroadcastNode(_) => {}
                Request::ClusterView(v) => {
                    // An older view than one applied already changes nothing (the node
                    // keeps the newer).
                    if k.view.is_some_and(|old| old.version > v.version) {
                        continue;
                    }
                    let old = std::mem::take(&mut ring);
                    for n in &v.nodes {
                        ring.insert(&n.ring, ("cluster_view", at));
                    }
                    // Its successor left (a removal): the range up to the ring's next
                    // member is this group's now. A successor not yet on the ring (a
                    // newcomer mid-join) stays.
                    if next
                        .as_ref()
                        .is_some_and(|e| old.contains_key(&e.addr) && !ring.contains_key(&e.addr))
                    {
                        next = None;
                    }
                    let named = ring.contains_key(&self.own);
                    let was_member = k
                        .view
                        .is_some_and(|old| old.nodes.iter().any(|n| self.is_own(&n.ring)));
                    if named {
                        k.on_ring = true;
                    } else if was_member {
                        // This group was removed: it owns nothing from here on.
                        k.left = Some((v.version, at));
                        k.on_ring = false;
                    }
                    k.view = Some(v);
                }
                Request::WriteLock => k.lock = Some(*a),
                Request::ReleaseLock => release(&mut k, &mut next, &ring),
                _ => {}
            }
        }
        // The nearest other member of the ring it knows; itself (the whole ring: distance
        // 0 is the longest range) when it is alone.
        let ring_end = ring
            .iter()
            .map(|(m, &(source, at))| End {
                distance: distance(self.pos, member_position(m)),
                addr: (*m).clone(),
                source,
                at,
                join: None,
            })
            .min_by_key(End::length);
        // The node's rule (`GroupState::owned_arc`): its `next` once it has one, else the
        // ring it knows.
        k.end = next.or(ring_end);
        k
    }

    /// Whether a member received, before event `before`, a request that puts the group on
    /// the ring (applied, it makes the node serve; answered or not).
    fn heard_of_itself(&self, before: usize) -> bool {
        self.received
            .iter()
            .take_while(|(i, _)| *i < before)
            .any(|(_, r)| match r {
                Request::BroadcastNode(m) => self.is_own(m),
                Request::ClusterView(v) => v.nodes.iter().any(|n| self.is_own(&n.ring)),
                _ => false,
            })
    }

    /// Whether a member received a `release_lock` strictly between events `after` and
    /// `before`.
    fn release_received(&self, after: usize, before: usize) -> bool {
        self.received
            .iter()
            .any(|&(i, r)| after < i && i < before && *r == Request::ReleaseLock)
    }

    /// Whether the range in `k` holds position `p`; `None` when nothing bounds it yet. A
    /// group that left the ring holds nothing.
    fn holds(&self, k: &Known<'_>, p: Position) -> Option<bool> {
        if k.left.is_some() {
            return Some(false);
        }
        let end = k.end.as_ref()?;
        Some(end.distance == 0 || distance(self.pos, p) < end.distance)
    }
}

/// What an applied `release_lock` does to what a group had accepted: the lock goes, and
/// an abandoned join's newcomer, which never made the ring, gives back the range up to it
/// (`GroupState::apply`, `ReleaseLock`).
fn release<'a>(
    k: &mut Known<'a>,
    next: &mut Option<End>,
    ring: &BTreeMap<&'a HostPort, (&'static str, Duration)>,
) {
    k.lock = None;
    if next.as_ref().is_some_and(|e| !ring.contains_key(&e.addr)) {
        *next = None;
    }
}

/// A `release_lock` a member received: (event, host, its join tag).
type ReleaseReceipt<'a> = (usize, &'a str, Option<u64>);

/// Per group, the `release_lock`s its members received from the ECS and did not answer
/// `not_leader` (answered otherwise, or not at all: those may have been proposed).
fn release_receipts<'a>(
    exchanges: &[Exchange<'a>],
    group_of: &BTreeMap<&str, usize>,
    groups: usize,
) -> Vec<Vec<ReleaseReceipt<'a>>> {
    let mut out: Vec<Vec<ReleaseReceipt<'a>>> = vec![Vec::new(); groups];
    for x in exchanges {
        let refused = matches!(x.reply, Some((_, Reply::NotLeader(_))));
        if let (Some(&g), (join, Request::ReleaseLock), "ecs", false) =
            (group_of.get(x.host), x.request.untagged(), x.from, refused)
        {
            out[g].push((x.received, x.host, join));
        }
    }
    out
}

/// The `release_lock`s of a group's committed log that took effect, each as the trace
/// event from which it counts, in order.
///
/// A release can take effect with no `ok` ever traced: a leader proposes it, is cut off
/// and answers "leadership changed", and the next leader commits it with its own first
/// entry (found by review, `review-ring-ownership-resurrected-release-lock`: the group
/// served its restored range while this check still held it to the abandoned join's).
/// Counted from its creation, not its commit: the committed log up to the release is
/// exactly its creator's log when it appended it, so a write received after that, by any
/// leader, can only be committed after the release (and the node re-checks ownership when
/// it applies a write). A leader proposes an ECS request when it receives it, so the
/// release was created at its creator's receipt of it: the earliest receipt from the ECS
/// by the creator of a `release_lock` of that join since it began the entry's term (its
/// vote request) and before the entry was first sent, leaving out those it answered
/// `not_leader` (a candidate's; it proposed none of them). That is never later than the
/// creation, so never too strict. Not the first sending itself: a leader whose sync
/// stalls may send nothing until a later term (found by `sim explore`,
/// review-flow-lagging-catchup seed 1937: a put received between the release's receipt
/// and its first sending, a term later, was flagged).
///
/// The node's own join rules decide which releases act: one of an older join than a
/// command before it, or a repeat of its join's, changes nothing
/// (`GroupState::apply_for_join`). A release no frame shows committed (a group of one
/// sends no frames) counts from its `ok` only; a committed command the frames miss can
/// only make this count a release that did not act.
fn committed_releases(
    log: &[CommittedEntry<'_>],
    receipts: &[ReleaseReceipt<'_>],
) -> Vec<(usize, Option<u64>)> {
    let created = |e: &CommittedEntry<'_>, join: Option<u64>| {
        receipts
            .iter()
            .find(|&&(event, host, tag)| {
                host == e.creator && tag == join && (e.term_began..=e.first_sent).contains(&event)
            })
            .map_or(e.first_sent, |&(event, ..)| event)
    };
    let (mut join, mut closed) = (0, false);
    let mut out = Vec::new();
    for e in log {
        match GroupCommand::decode(e.data) {
            Ok(GroupCommand::ReleaseLock) => out.push((created(e, None), None)),
            Ok(GroupCommand::ForJoin { join: j, command }) => {
                if j < join || (j == join && closed) {
                    continue;
                }
                if j > join {
                    (join, closed) = (j, false);
                }
                if *command == GroupCommand::ReleaseLock {
                    closed = true;
                    out.push((created(e, Some(j)), Some(j)));
                }
            }
            _ => {}
        }
    }
    out.sort_unstable();
    out
}

/// The answer a record's client read for an acknowledged write, or `None` for a read or a
/// write that was not acknowledged.
fn acknowledgement(r: &Record) -> Option<Response> {
    match (&r.op, &r.outcome) {
        (Op::Put(_), Outcome::Stored) => Some(Response::Stored),
        (Op::Delete, Outcome::Deleted(existed)) => Some(Response::Deleted(*existed)),
        (Op::Cas { .. }, Outcome::Cas { swapped, current }) => Some(Response::CompareAndSet {
            swapped: *swapped,
            current: current.clone(),
        }),
        _ => None,
    }
}

fn verb(op: &Op) -> &'static str {
    match op {
        Op::Get => "get",
        Op::Put(_) => "put",
        Op::Delete => "delete",
        Op::Cas { .. } => "cas",
    }
}

fn secs(at: Duration) -> String {
    format!("{:.3}s", at.as_secs_f64())
}

/// A 'c' a client read: (event index, the node it came from, the answer).
type Answer<'a> = (usize, &'a str, Response);

/// A command: (client host, session tag, key).
type CommandId<'a> = (&'a str, Option<SessionTag>, Bytes);

/// The client-protocol traffic the check needs, indexed.
#[derive(Default)]
struct ClientTraffic<'a> {
    /// Answers clients read, by (client host, instant).
    answers: BTreeMap<(&'a str, Duration), Vec<Answer<'a>>>,
    /// Where and when nodes received each command: (event index, node).
    requests: BTreeMap<CommandId<'a>, Vec<(usize, &'a str)>>,
    /// Every key a client asked about.
    keys: BTreeSet<Bytes>,
}

impl<'a> ClientTraffic<'a> {
    fn read(trace: &'a Trace, nodes: &BTreeMap<&str, usize>) -> Self {
        let limits = Limits::DEFAULT;
        let mut t = ClientTraffic::default();
        for (i, e) in trace.events.iter().enumerate() {
            match &e.what {
                What::Recv {
                    host,
                    from,
                    msg: Message::Client(Packet::CommandResponse(body)),
                } => {
                    if let Ok(answer) = Response::decode(body, &limits) {
                        t.answers
                            .entry((&**host, e.at))
                            .or_default()
                            .push((i, &**from, answer));
                    }
                }
                What::Recv {
                    host,
                    from,
                    msg: Message::Client(Packet::CommandRequest(body)),
                } if nodes.contains_key(&**host) => {
                    if let Ok(r) = ClientRequest::decode(body, &limits) {
                        let key = r.command.key().clone();
                        t.keys.insert(key.clone());
                        t.requests
                            .entry((&**from, r.session, key))
                            .or_default()
                            .push((i, &**host));
                    }
                }
                What::Send {
                    msg: Message::Client(Packet::CommandRequest(body)),
                    ..
                } => {
                    // Sent but perhaps never received: the key was still touched.
                    if let Ok(r) = ClientRequest::decode(body, &limits) {
                        t.keys.insert(r.command.key().clone());
                    }
                }
                _ => {}
            }
        }
        t
    }
}

/// Checks both halves. `groups` holds each started group's members.
pub fn check(groups: &[Vec<String>], trace: &Trace, history: &History) -> Vec<Failure> {
    let group_of = super::group_of(groups);
    let mut all: Vec<Group<'_>> = groups
        .iter()
        .enumerate()
        .filter_map(|(g, members)| {
            let own = super::ring_address(members)?;
            Some(Group {
                number: g + 1,
                members,
                pos: member_position(&own),
                own,
                accepted: Vec::new(),
                received: Vec::new(),
                releases: Vec::new(),
            })
        })
        .collect();
    // One pass pairs every admin request with its answer; accepted requests, receipts
    // and release receipts are all read from it.
    let exchanges = exchanges(trace);
    let release_receipts = release_receipts(&exchanges, &group_of, groups.len());
    for (g, log) in committed_log(groups, trace).iter().enumerate() {
        if let Some(group) = all.get_mut(g) {
            group.releases = committed_releases(log, &release_receipts[g]);
        }
    }
    for a in accepted_in(&exchanges) {
        if let Some(&g) = group_of.get(a.host) {
            all[g].accepted.push(a);
        }
    }
    for x in &exchanges {
        // Only the ECS and the cluster's nodes hold the cluster secret: a rogue's line is
        // refused, whatever it says (a forged `release_lock` waived the lock here).
        let trusted = x.from == "ecs" || group_of.contains_key(x.from);
        if let (Some(&g), true) = (group_of.get(x.host), trusted) {
            all[g].received.push((x.received, x.request.untagged().1));
        }
    }
    let traffic = ClientTraffic::read(trace, &group_of);
    let mut out = settled(&all, trace, &traffic.keys);
    let wrong: Vec<String> = history
        .records
        .iter()
        .filter_map(|r| judge_ack(r, &all, &group_of, trace, &traffic))
        .collect();
    for detail in wrong.iter().take(MAX_ACKS_NAMED) {
        out.push(Failure::new(NAME, detail.clone()));
    }
    if wrong.len() > MAX_ACKS_NAMED {
        out.push(Failure::new(
            NAME,
            format!(
                "{} more acknowledgements broke the rule",
                wrong.len() - MAX_ACKS_NAMED
            ),
        ));
    }
    out
}

/// (a): the groups on the ring agree on the last view, and their ranges split the touched
/// keys. A group that left the ring (removed) is not sent later views: it only has to own
/// nothing, which `holds` and `on_ring` already say.
fn settled(groups: &[Group<'_>], trace: &Trace, keys: &BTreeSet<Bytes>) -> Vec<Failure> {
    let end = trace.events.len();
    let known: Vec<Known<'_>> = groups.iter().map(|g| g.known(trace, end)).collect();
    let mut out = Vec::new();
    let versions: BTreeMap<u64, Vec<String>> = groups
        .iter()
        .zip(&known)
        .filter(|(_, k)| k.left.is_none())
        .fold(BTreeMap::new(), |mut acc, (g, k)| {
            if let Some(v) = k.view {
                acc.entry(v.version).or_insert_with(Vec::new).push(g.name());
            }
            acc
        });
    for (g, k) in groups.iter().zip(&known) {
        if k.view.is_none() {
            out.push(Failure::new(
                NAME,
                format!(
                    "{} accepted no cluster_view: the ring never settled",
                    g.name()
                ),
            ));
        }
    }
    if versions.len() > 1 {
        let listed: Vec<String> = versions
            .iter()
            .map(|(v, names)| format!("v{v}: {}", names.join(", ")))
            .collect();
        out.push(Failure::new(
            NAME,
            format!(
                "the groups ended on different cluster_views ({})",
                listed.join("; ")
            ),
        ));
    }
    if !out.is_empty() {
        return out;
    }
    let Some(view) = known
        .iter()
        .filter(|k| k.left.is_none())
        .find_map(|k| k.view)
    else {
        return out;
    };
    let ring = Ring::new(view.nodes.iter().map(|n| n.ring.clone()));
    let mut wrong: Vec<String> = Vec::new();
    for key in keys {
        let p = position_of(key);
        let owners: Vec<&Group<'_>> = groups
            .iter()
            .zip(&known)
            .filter(|(g, k)| k.on_ring && g.holds(k, p) == Some(true))
            .map(|(g, _)| g)
            .collect();
        let expected = ring.owner_of(p);
        let right = matches!(owners.as_slice(), [only] if Some(&only.own) == expected);
        if !right {
            let names: Vec<String> = owners.iter().map(|g| g.name()).collect();
            wrong.push(format!(
                "{} is owned by {} (v{} gives it to {})",
                printable(key),
                if names.is_empty() {
                    "no group".to_string()
                } else {
                    names.join(" and ")
                },
                view.version,
                expected.map_or("nobody".to_string(), |a| a.to_string())
            ));
        }
    }
    if !wrong.is_empty() {
        let more = wrong.len().saturating_sub(MAX_KEYS_NAMED);
        let mut detail = format!(
            "at the end, {} of {} keys do not have exactly their view's owner: {}",
            wrong.len(),
            keys.len(),
            wrong[..wrong.len().min(MAX_KEYS_NAMED)].join("; ")
        );
        if more > 0 {
            detail.push_str(&format!("; and {more} more"));
        }
        out.push(Failure::new(NAME, detail));
    }
    out
}

/// (b) for one history record: why its acknowledgement breaks the rule, if it does.
/// Why a group did not own a key when a request for it arrived.
enum Refusal<'a> {
    /// The key lay outside the range it had accepted.
    OutOfRange(End),
    /// It was write-locked (and no release arrived before the answer).
    Locked(Accepted<'a>),
    /// It had left the ring: (the version of the view without it, when it accepted it).
    Left((u64, Duration)),
}

/// Why group `g` could not apply a write of position `p` that reached it at event `i`
/// and was answered at event `ack`; `None` if it owned the key then.
fn owner_refusal<'a>(
    g: &Group<'a>,
    trace: &Trace,
    p: Position,
    i: usize,
    ack: usize,
) -> Option<Refusal<'a>> {
    let k = g.known(trace, i);
    if let Some(left) = k.left {
        return Some(Refusal::Left(left));
    }
    if g.holds(&k, p) == Some(false) {
        return k.end.map(Refusal::OutOfRange);
    }
    let lock = k.lock?;
    if g.release_received(lock.received, ack) {
        return None;
    }
    Some(Refusal::Locked(lock))
}

fn judge_ack(
    r: &Record,
    groups: &[Group<'_>],
    group_of: &BTreeMap<&str, usize>,
    trace: &Trace,
    traffic: &ClientTraffic<'_>,
) -> Option<String> {
    let answer = acknowledgement(r)?;
    let client = format!("c{}", r.client);
    let candidates: Vec<(usize, &str)> = traffic
        .answers
        .get(&(client.as_str(), r.completed))?
        .iter()
        .filter(|(_, _, a)| *a == answer)
        .map(|&(i, node, _)| (i, node))
        .collect();
    let key = Bytes::copy_from_slice(r.key.as_bytes());
    let receipts = traffic
        .requests
        .get(&(client.as_str(), r.session, key.clone()))?;
    let p = position_of(&key);
    // A copy that reached the key's owner (on the ring, in range, unlocked) was applied
    // there, and its session entry moves with the key: whoever holds the key later may
    // answer a resend from it, even a newcomer not yet announced (found by `sim explore`,
    // whole-group-crash seed 4). Doubled applications are the linearizability check's.
    let applied_by_owner = |before: usize| {
        groups.iter().any(|g| {
            receipts.iter().any(|&(i, host)| {
                i < before
                    && g.members.iter().any(|m| m == host)
                    && g.heard_of_itself(i)
                    && owner_refusal(g, trace, p, i, before).is_none()
            })
        })
    };
    let mut reasons = Vec::new();
    for &(ack, node) in &candidates {
        let g = &groups[*group_of.get(node)?];
        let mine: Vec<usize> = receipts
            .iter()
            .filter(|(i, host)| *i < ack && g.members.iter().any(|m| m == host))
            .map(|&(i, _)| i)
            .collect();
        // Without the request's arrival there is nothing to judge it by.
        let last = *mine.last()?;
        let what = format!(
            "{} acknowledged {} {}{} to {client} at {} (answer from {node})",
            g.name(),
            verb(&r.op),
            r.key,
            r.session
                .map(|s| format!(" #{}", s.sequence))
                .unwrap_or_default(),
            secs(r.completed)
        );
        if applied_by_owner(ack) {
            return None;
        }
        if !g.heard_of_itself(ack) {
            reasons.push(format!(
                "{what}, but none of its members had been told it is on the ring"
            ));
            continue;
        }
        let refused = |i: usize| {
            owner_refusal(g, trace, p, i, ack).map(|why| {
                let at = secs(trace.events[i].at);
                match why {
                    Refusal::OutOfRange(end) => format!(
                        "{what}, but it received the request at {at}, when {} lay outside \
                         its range [{}, {}) ({} {} accepted at {})",
                        r.key,
                        g.own,
                        end.addr,
                        end.source,
                        end.addr,
                        secs(end.at)
                    ),
                    Refusal::Left((version, left)) => format!(
                        "{what}, but it received the request at {at}, after it had left the \
                         ring (cluster_view v{version} without it accepted at {})",
                        secs(left)
                    ),
                    Refusal::Locked(lock) => format!(
                        "{what}, but it received the request at {at}, when it was \
                         write-locked (write_lock accepted by {} at {}, no release_lock \
                         received since)",
                        lock.host,
                        secs(trace.events[lock.answered].at)
                    ),
                }
            })
        };
        if mine.iter().any(|&i| refused(i).is_none()) {
            return None;
        }
        reasons.push(refused(last)?);
    }
    match reasons.len() {
        0 => None,
        1 => reasons.pop(),
        n => Some(format!(
            "{} (and {} other candidate answers at that instant, all wrong)",
            reasons.remove(0),
            n - 1
        )),
    }
}

#[cfg(test)]
mod tests {
    use protocol::client::Command;
    use protocol::ecs::{NodeEntry, Reply};

    use super::*;
    use crate::runtime::ADMIN_PORT;

    fn groups() -> Vec<Vec<String>> {
        let g = |k: u32| crate::scenario::names::group_members(k, 3);
        vec![g(1), g(2)]
    }

    fn ring(g: u32) -> HostPort {
        HostPort::new(format!("n{g}a"), ADMIN_PORT).unwrap()
    }

    fn at(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    /// A key the newcomer (group 2) takes over from group 1, or one group 1 keeps.
    fn key(moves: bool) -> String {
        let arc = Ring::new([ring(1), ring(2)]).arc_of(&ring(2)).unwrap();
        (0..)
            .map(|i| format!("c1-k{i}"))
            .find(|k| arc.contains_key(k.as_bytes()) == moves)
            .unwrap()
    }

    /// The view of the given groups, three members each.
    fn view(version: u64, groups: &[u32]) -> Request {
        let mut nodes = Vec::new();
        for &g in groups {
            for m in crate::scenario::names::group_members(g, 3) {
                nodes.push(NodeEntry {
                    id: nodes.len() as u32,
                    ring: ring(g),
                    admin: HostPort::new(m.as_str(), ADMIN_PORT).unwrap(),
                    client: HostPort::new(m.as_str(), 7001).unwrap(),
                });
            }
        }
        Request::ClusterView(ClusterView { version, nodes })
    }

    /// `host` receives `request` from the ECS at `ms` and answers `ok` at `ok_ms`.
    fn admin(t: &mut Trace, ms: u64, ok_ms: u64, host: &str, request: Request) {
        t.push(
            at(ms),
            What::Recv {
                host: host.into(),
                from: "ecs".into(),
                msg: Message::AdminRequest(request),
            },
        );
        t.push(
            at(ok_ms),
            What::Send {
                from: host.into(),
                to: "ecs".into(),
                msg: Message::AdminReply(Reply::Ok),
            },
        );
    }

    /// Groups 1 and 2 as they stand after group 2 joined (the ring of both, unlocked).
    struct Run {
        trace: Trace,
        history: History,
        sequence: u64,
    }

    impl Run {
        /// Group 1 alone on the ring.
        fn new() -> Self {
            let mut t = Trace::default();
            admin(&mut t, 0, 1, "n1a", Request::NextAddr(ring(1)));
            admin(&mut t, 2, 3, "n1a", Request::BroadcastNode(ring(1)));
            admin(&mut t, 4, 5, "n1a", view(1, &[1]));
            Run {
                trace: t,
                history: History::default(),
                sequence: 0,
            }
        }

        /// The join of group 2, per the ECS's steps, from `ms` on; returns when the lock
        /// was released. `skip` leaves out one step's acceptance.
        fn join(&mut self, ms: u64, skip: Option<&str>) {
            let t = &mut self.trace;
            let mut step = |name: &str, offset: u64, host: &str, r: Request| {
                if skip != Some(name) {
                    admin(t, ms + offset, ms + offset + 1, host, r);
                }
            };
            step("newcomer next", 0, "n2a", Request::NextAddr(ring(1)));
            step("lock", 10, "n1a", Request::WriteLock);
            step("predecessor next", 20, "n1a", Request::NextAddr(ring(2)));
            step("transfer", 30, "n1a", Request::TransferRange(ring(1)));
            step("broadcast 1", 50, "n1a", Request::BroadcastNode(ring(2)));
            step("broadcast 2", 52, "n2a", Request::BroadcastNode(ring(2)));
            step("view 1", 54, "n1b", view(2, &[1, 2]));
            step("view 2", 56, "n2a", view(2, &[1, 2]));
            step("release", 60, "n1b", Request::ReleaseLock);
        }

        /// `c1` sends a put of `key` that `node` receives at each of `received` (resends
        /// share the session tag) and answers `stored`, which `c1` reads at `acked`.
        fn put(&mut self, key: &str, node: &str, received: &[u64], acked: u64) {
            self.sequence += 1;
            let request = ClientRequest {
                session: Some(SessionTag {
                    client_id: 7,
                    sequence: self.sequence,
                }),
                command: Command::Put {
                    key: Bytes::copy_from_slice(key.as_bytes()),
                    value: Bytes::from_static(b"v"),
                },
            };
            for &ms in received {
                self.trace.push(
                    at(ms),
                    What::Recv {
                        host: node.into(),
                        from: "c1".into(),
                        msg: Message::Client(Packet::CommandRequest(request.to_bytes())),
                    },
                );
            }
            let stored = Packet::CommandResponse(Response::Stored.to_bytes());
            self.trace.push(
                at(acked),
                What::Send {
                    from: node.into(),
                    to: "c1".into(),
                    msg: Message::Client(stored.clone()),
                },
            );
            self.trace.push(
                at(acked),
                What::Recv {
                    host: "c1".into(),
                    from: node.into(),
                    msg: Message::Client(stored),
                },
            );
            self.history.records.push(Record {
                client: 1,
                process: 1,
                key: key.into(),
                op: Op::Put(Bytes::from_static(b"v")),
                session: request.session,
                invoked: at(received[0]),
                completed: at(acked),
                invoke_seq: received[0],
                complete_seq: acked,
                outcome: Outcome::Stored,
            });
        }

        /// The check, on the events in time order (they were added a write or a join
        /// at a time; at one instant, in the order added).
        fn check(&mut self) -> Vec<Failure> {
            self.trace.events.sort_by_key(|e| e.at);
            check(&groups(), &self.trace, &self.history)
        }
    }

    impl Run {
        /// The removal of group 2 (after its join), per the ECS's steps, from `ms` on:
        /// group 1 (its predecessor on a ring of two) receives its range. `skip` leaves
        /// out one step's acceptance.
        fn remove(&mut self, ms: u64, skip: Option<&str>) {
            let t = &mut self.trace;
            let mut step = |name: &str, offset: u64, host: &str, r: Request| {
                if skip != Some(name) {
                    admin(t, ms + offset, ms + offset + 1, host, r);
                }
            };
            step("lock", 0, "n2a", Request::WriteLock);
            let hand_over = Request::HandOver {
                to: ring(1),
                end: ring(1),
            };
            step("hand over", 10, "n2a", hand_over);
            step("view 1", 30, "n1a", view(3, &[1]));
            step("view 2", 32, "n2a", view(3, &[1]));
            step("release", 40, "n2a", Request::ReleaseLock);
        }
    }

    /// A newer join's `next_addr` farther than the current one replaces it only if the
    /// current one is on no ring the group knows (an abandoned newcomer, a removed
    /// group): here group 2 is on the ring, so group 1 does not grow over it.
    #[test]
    fn a_newer_joins_farther_next_addr_does_not_grow_a_range_over_a_ring_member() {
        let moved = key(true);
        let mut run = Run::new();
        let t = &mut run.trace;
        admin(t, 100, 101, "n2a", Request::NextAddr(ring(1)).for_join(2));
        admin(t, 110, 111, "n1a", Request::WriteLock.for_join(2));
        admin(t, 120, 121, "n1a", Request::NextAddr(ring(2)).for_join(2));
        admin(t, 150, 151, "n1a", view(2, &[1, 2]));
        admin(t, 152, 153, "n2a", view(2, &[1, 2]));
        admin(t, 160, 161, "n1b", Request::ReleaseLock.for_join(2));
        // A join-3 line naming group 1 itself (the whole ring) as its next.
        admin(t, 200, 201, "n1a", Request::NextAddr(ring(1)).for_join(3));
        run.put(&moved, "n1a", &[300], 301);
        let failures = run.check();
        assert!(
            failures.iter().any(|f| f.detail.contains("outside")),
            "{failures:?}"
        );
    }

    #[test]
    fn a_removal_gives_the_range_to_the_receiver() {
        let (moved, kept) = (key(true), key(false));
        let mut run = Run::new();
        run.join(100, None);
        run.put(&moved, "n2b", &[200], 201);
        run.remove(300, None);
        // Group 1 serves the whole ring once it accepted the view without group 2.
        run.put(&moved, "n1b", &[340], 341);
        run.put(&kept, "n1a", &[350], 351);
        assert_eq!(run.check(), vec![]);
    }

    #[test]
    fn the_removed_group_acknowledging_a_write_is_flagged() {
        let moved = key(true);
        let mut run = Run::new();
        run.join(100, None);
        run.remove(300, None);
        run.put(&moved, "n2b", &[400], 401);
        assert_only(run.check(), "after it had left the ring");
    }

    #[test]
    fn a_receiver_acknowledging_before_its_view_is_flagged() {
        let moved = key(true);
        let mut run = Run::new();
        run.join(100, None);
        // Received after the hand-over began, before group 1 accepted the new ring.
        run.put(&moved, "n1a", &[315], 316);
        run.remove(300, None);
        let failures = run.check();
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(failures[0].detail.contains("outside"), "{}", failures[0]);
    }

    #[test]
    fn a_write_received_after_a_member_received_the_view_is_the_receivers() {
        let moved = key(true);
        let mut run = Run::new();
        run.join(100, None);
        run.remove(300, None);
        // n1a received the view at 330 and answers its ok only at 336 (or its copy was
        // committed by a successor): n1b may serve the range from then on.
        let view_ok = run
            .trace
            .events
            .iter_mut()
            .find(|e| e.at == at(331))
            .unwrap();
        view_ok.at = at(336);
        run.put(&moved, "n1b", &[333], 337);
        assert_eq!(run.check(), vec![]);
    }

    #[test]
    fn a_removal_without_the_receivers_view_leaves_keys_unowned() {
        let moved = key(true);
        let mut run = Run::new();
        run.join(100, None);
        run.remove(300, Some("view 1"));
        run.put(&moved, "n2a", &[200], 201);
        let failures = run.check();
        assert!(
            failures
                .iter()
                .any(|f| f.detail.contains(&format!("{moved} is owned by no group"))),
            "{failures:?}"
        );
    }

    #[test]
    fn writes_during_a_normal_join_pass() {
        let (moved, kept) = (key(true), key(false));
        let mut run = Run::new();
        run.put(&moved, "n1a", &[10], 12);
        // Received before the lock, answered after it: committed before it.
        run.put(&moved, "n1a", &[99], 120);
        run.join(100, None);
        // Group 1 applied release_lock (received at 160) and serves before its ok (161).
        run.put(&kept, "n1a", &[160], 160);
        run.put(&kept, "n1b", &[170], 171);
        run.put(&moved, "n2a", &[170], 172);
        assert_eq!(run.check(), vec![]);
    }

    #[test]
    fn a_resend_answered_from_the_session_table_passes() {
        let moved = key(true);
        let mut run = Run::new();
        // First arrival while group 1 owned the key; the resend, after the new ring was
        // announced, is answered with the remembered answer.
        run.put(&moved, "n1a", &[95, 200], 201);
        run.join(100, None);
        let failures = run.check();
        assert_eq!(failures, vec![]);
    }

    #[test]
    fn the_old_owner_acknowledging_a_moved_key_after_the_new_ring_is_flagged() {
        let moved = key(true);
        let mut run = Run::new();
        run.join(100, None);
        run.put(&moved, "n1b", &[200], 201);
        let failures = run.check();
        assert_eq!(failures.len(), 1, "{failures:?}");
        let text = failures[0].to_string();
        assert!(
            text.starts_with("ring_ownership: group 1 (group n1a..n1c) acknowledged put"),
            "{text}"
        );
        assert!(
            text.contains("lay outside its range [n1a:7002, n2a:7002)"),
            "{text}"
        );
        assert!(
            text.contains("next_addr n2a:7002 accepted at 0.121s"),
            "{text}"
        );
    }

    /// The steps of group 2's join up to `transfer_range` (accepted at 131), which is
    /// then abandoned.
    fn join_until_transfer(t: &mut Trace) {
        admin(t, 100, 101, "n2a", Request::NextAddr(ring(1)));
        admin(t, 110, 111, "n1a", Request::WriteLock);
        admin(t, 120, 121, "n1a", Request::NextAddr(ring(2)));
        admin(t, 130, 131, "n1a", Request::TransferRange(ring(1)));
    }

    /// Found by `sim explore` (sender-leader-crash-between-parts, seed 4): after an
    /// abandoned join the predecessor serves its whole range again.
    #[test]
    fn an_abandoned_join_gives_the_range_back_at_its_release() {
        let moved = key(true);
        let mut run = Run::new();
        let t = &mut run.trace;
        join_until_transfer(t);
        // The deadline passes: released, no broadcast, no view naming n2a.
        admin(t, 160, 161, "n1a", Request::ReleaseLock);
        run.put(&moved, "n1b", &[200], 201);
        // (Group 2 never settled on a ring here: only that is reported.)
        let acks = |failures: Vec<Failure>| {
            failures
                .into_iter()
                .filter(|f| f.detail.contains("acknowledged"))
                .count()
        };
        assert_eq!(acks(run.check()), 0);
        // Between its next_addr and the release, the moved key was not group 1's.
        let mut run = Run::new();
        let t = &mut run.trace;
        admin(t, 110, 111, "n1a", Request::WriteLock);
        admin(t, 120, 121, "n1a", Request::NextAddr(ring(2)));
        admin(t, 125, 126, "n1a", Request::ReleaseLock);
        admin(t, 140, 141, "n1a", Request::NextAddr(ring(2)));
        run.put(&moved, "n1b", &[150], 151);
        assert_eq!(acks(run.check()), 1);
    }

    /// Leader `from` of `term` sends a follower `entries` (term, command; `None` for a
    /// no-op) after `prev` (index, term), announcing `commit`, at `ms`.
    fn frame(
        t: &mut Trace,
        ms: u64,
        from: &str,
        term: u64,
        prev: (u64, u64),
        entries: &[(u64, Option<GroupCommand>)],
        commit: u64,
    ) {
        let entries = entries
            .iter()
            .map(|(term, command)| {
                let mut data = bytes::BytesMut::new();
                if let Some(c) = command {
                    c.encode(&mut data);
                }
                (*term, data.freeze())
            })
            .collect();
        super::super::committed_entries::leader_frame(t, ms, from, term, prev, entries, commit);
    }

    fn of_join(join: u64, command: GroupCommand) -> Option<GroupCommand> {
        Some(GroupCommand::ForJoin {
            join,
            command: Box::new(command),
        })
    }

    /// An abandoned join whose `release_lock` n1b receives at 160 and proposes (index 10,
    /// term 6, sent at 161, a no-op of its own after it) but never answers `ok`; with
    /// `committed`, n1c, leading term 7, commits it with its no-op at 300 without sending
    /// it again. `before` goes into the log first (index 9).
    fn unanswered_release(before: Option<GroupCommand>, committed: bool) -> Run {
        let mut run = Run::new();
        let t = &mut run.trace;
        join_until_transfer(t);
        vote(t, 150, "n1b", 6);
        receive_release(t, 160, "n1b", 1);
        let release = of_join(1, GroupCommand::ReleaseLock);
        let entries = [(6, before), (6, release), (6, None)];
        frame(t, 161, "n1b", 6, (8, 5), &entries, 8);
        if committed {
            frame(t, 300, "n1c", 7, (11, 6), &[(7, None)], 12);
        }
        run
    }

    /// `host` asks for votes in `term` at `ms`.
    fn vote(t: &mut Trace, ms: u64, host: &str, term: u64) {
        use protocol::peer::{LogIndex, PeerId, PeerMessage, RequestVote, Term};
        let msg = PeerMessage::RequestVote(RequestVote {
            term: Term(term),
            candidate: PeerId(0),
            last_log_index: LogIndex(0),
            last_log_term: Term(0),
            pre_vote: false,
        });
        let what = What::Send {
            from: host.into(),
            to: "n1a".into(),
            msg: Message::Peer(msg),
        };
        t.push(at(ms), what);
    }

    /// `host` receives the ECS's `release_lock` of join `join` at `ms`.
    fn receive_release(t: &mut Trace, ms: u64, host: &str, join: u64) {
        receive_release_on(t, ms, host, join, 0);
    }

    /// The same on connection end `conn` (0: the host pair stands for the connection).
    fn receive_release_on(t: &mut Trace, ms: u64, host: &str, join: u64, conn: u32) {
        let what = What::Recv {
            host: host.into(),
            from: "ecs".into(),
            msg: Message::AdminRequest(Request::ReleaseLock.for_join(join)),
        };
        t.push_on(at(ms), what, conn);
    }

    /// Found by `sim explore` (review-flow-lagging-catchup, seed 1937): n1b, leading term
    /// 6, receives the release at 160 but its sync stalls and it sends nothing of term 6;
    /// leading term 7, it sends the term-6 entries first at 290 and commits them. A write
    /// received after the release arrived follows it in the log.
    #[test]
    fn a_release_counts_from_its_receipt_when_its_creator_sends_it_only_a_term_later() {
        let moved = key(true);
        let run_with = |received: u64| {
            let mut run = Run::new();
            let t = &mut run.trace;
            join_until_transfer(t);
            // A copy it received as a follower (refused: not the leader).
            receive_release(t, 140, "n1b", 1);
            vote(t, 150, "n1b", 6);
            // One it received as a candidate and refused: it created nothing.
            receive_release(t, 152, "n1b", 1);
            let refused = Message::AdminReply(Reply::NotLeader(None));
            let what = What::Send {
                from: "n1b".into(),
                to: "ecs".into(),
                msg: refused,
            };
            t.push(at(152), what);
            receive_release(t, 160, "n1b", 1);
            vote(t, 280, "n1b", 7);
            let release = of_join(1, GroupCommand::ReleaseLock);
            let entries = [(6, release), (6, None), (7, None)];
            frame(t, 290, "n1b", 7, (9, 5), &entries, 12);
            run.put(&moved, "n1b", &[received], 311);
            run.check()
        };
        assert_eq!(acks(run_with(170)), vec![]);
        // Received in term 6 before the release arrived: out of range.
        assert_one_out_of_range(run_with(155));
    }

    /// The check found exactly one failure, and it says `text`.
    fn assert_only(failures: Vec<Failure>, text: &str) {
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(failures[0].detail.contains(text), "{}", failures[0]);
    }

    /// The check flagged exactly one acknowledgement, for a key out of range.
    fn assert_one_out_of_range(failures: Vec<Failure>) {
        let failures = acks(failures);
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(failures[0].detail.contains("outside"), "{}", failures[0]);
    }

    fn acks(failures: Vec<Failure>) -> Vec<Failure> {
        failures
            .into_iter()
            .filter(|f| f.detail.contains("acknowledged"))
            .collect()
    }

    /// Found by review (review-ring-ownership-resurrected-release-lock): a release answered
    /// "leadership changed" that the next leader commits gives the range back all the same.
    #[test]
    fn a_release_committed_by_a_later_leader_gives_the_range_back_without_an_ok() {
        let moved = key(true);
        let mut run = unanswered_release(None, true);
        run.put(&moved, "n1c", &[310], 311);
        assert_eq!(acks(run.check()), vec![]);
        // Received after the release was first sent: it follows the release in the log.
        let mut run = unanswered_release(None, true);
        run.put(&moved, "n1b", &[170], 311);
        assert_eq!(acks(run.check()), vec![]);
        // Received before the release was proposed: it was still out of range.
        let mut run = unanswered_release(None, true);
        run.put(&moved, "n1b", &[150], 311);
        assert_one_out_of_range(run.check());
    }

    /// Found by `sim explore` (seed 417 of review-ring-ownership-release-inherited-then-
    /// resent-5224): n1b, leading term 6, receives join 1's `next_addr` at 140 and its
    /// `release_lock` at 160 (the join was abandoned); its sync is slow, so the `ok` to the
    /// `next_addr` leaves at 200, after the release's creation, and n1c commits both
    /// without any other `ok`. The `next_addr` is ahead of the release in the log, and the
    /// release drops it (n2a never made the ring). A newer join's `next_addr` answered
    /// then is not: it follows the release and holds.
    #[test]
    fn a_next_addr_answered_after_its_joins_release_acted_is_ahead_of_it() {
        let moved = key(true);
        let run_with = |join: u64| {
            let mut run = Run::new();
            let t = &mut run.trace;
            admin(t, 100, 101, "n2a", Request::NextAddr(ring(1)).for_join(1));
            admin(t, 110, 111, "n1a", Request::WriteLock.for_join(1));
            vote(t, 130, "n1b", 6);
            admin(
                t,
                140,
                200,
                "n1b",
                Request::NextAddr(ring(2)).for_join(join),
            );
            // On a connection of its own (the ECS redialled), so the `ok` at 200 still
            // answers the `next_addr`.
            receive_release_on(t, 160, "n1b", 1, 2);
            let next = of_join(join, GroupCommand::SetNext(ring(2)));
            let release = of_join(1, GroupCommand::ReleaseLock);
            // Join 1's `next_addr` is ahead of its release; a newer join's follows it.
            let entries = if join == 1 {
                [(6, next), (6, release), (6, None)]
            } else {
                [(6, release), (6, next), (6, None)]
            };
            frame(t, 161, "n1b", 6, (8, 5), &entries, 8);
            frame(t, 300, "n1c", 7, (11, 6), &[(7, None)], 12);
            run.put(&moved, "n1c", &[310], 311);
            run.check()
        };
        assert_eq!(acks(run_with(1)), vec![]);
        assert_one_out_of_range(run_with(2));
    }

    /// Review: the late `ok` takes its place ahead of its join's release, not at its own
    /// event. Releasing again at the `ok` (400) wiped what join 2 had set since through
    /// n1c (its `write_lock` at 321, its `next_addr` at 331), and a write n1c acknowledged
    /// under that lock, or past that `next_addr`, went unflagged.
    #[test]
    fn a_late_ok_of_a_released_join_leaves_a_newer_joins_steps_alone() {
        for moves in [false, true] {
            for late_ok in [false, true] {
                let mut run = Run::new();
                let t = &mut run.trace;
                admin(t, 100, 101, "n2a", Request::NextAddr(ring(1)).for_join(1));
                admin(t, 110, 111, "n1a", Request::WriteLock.for_join(1));
                vote(t, 130, "n1b", 6);
                let next_addr = Request::NextAddr(ring(2)).for_join(1);
                if late_ok {
                    admin(t, 140, 400, "n1b", next_addr);
                } else {
                    let what = What::Recv {
                        host: "n1b".into(),
                        from: "ecs".into(),
                        msg: Message::AdminRequest(next_addr),
                    };
                    t.push(at(140), what);
                }
                receive_release_on(t, 160, "n1b", 1, 2);
                let next = of_join(1, GroupCommand::SetNext(ring(2)));
                let release = of_join(1, GroupCommand::ReleaseLock);
                frame(
                    t,
                    161,
                    "n1b",
                    6,
                    (8, 5),
                    &[(6, next), (6, release), (6, None)],
                    8,
                );
                frame(t, 300, "n1c", 7, (11, 6), &[(7, None)], 12);
                admin(t, 310, 311, "n2a", Request::NextAddr(ring(1)).for_join(2));
                admin(t, 320, 321, "n1c", Request::WriteLock.for_join(2));
                admin(t, 330, 331, "n1c", Request::NextAddr(ring(2)).for_join(2));
                run.put(&key(moves), "n1c", &[410], 411);
                let failures = acks(run.check());
                assert_eq!(failures.len(), 1, "late ok {late_ok}: {failures:?}");
                let why = if moves {
                    "outside"
                } else {
                    "write_lock accepted by n1c"
                };
                assert!(failures[0].detail.contains(why), "{}", failures[0]);
            }
        }
    }

    #[test]
    fn a_release_never_committed_gives_nothing_back() {
        let moved = key(true);
        let mut run = unanswered_release(None, false);
        run.put(&moved, "n1c", &[310], 311);
        let failures = acks(run.check());
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(
            failures[0]
                .detail
                .contains("next_addr n2a:7002 accepted at 0.121s"),
            "{}",
            failures[0]
        );
    }

    /// Review: the term-7 leader never had the release (index 10, term 6) and commits its
    /// own no-op at index 10 instead; a frame that once carried the release commits nothing.
    #[test]
    fn a_release_overwritten_by_the_next_leader_gives_nothing_back() {
        let moved = key(true);
        let mut run = unanswered_release(None, false);
        frame(&mut run.trace, 300, "n1c", 7, (9, 6), &[(7, None)], 10);
        run.put(&moved, "n1c", &[310], 311);
        assert_one_out_of_range(run.check());
    }

    /// Review: the same release bytes proposed twice, at (10, 6) (overwritten) and again by
    /// the next leader at (11, 7) (committed, no `ok` traced). The release counts from the
    /// committed copy's creation (its receipt), not from the first copy's.
    #[test]
    fn a_resent_release_counts_from_the_committed_copy() {
        let moved = key(true);
        let run_with = |received: u64| {
            let mut run = unanswered_release(None, false);
            let t = &mut run.trace;
            vote(t, 190, "n1c", 7);
            receive_release(t, 240, "n1c", 1);
            let release = of_join(1, GroupCommand::ReleaseLock);
            frame(t, 200, "n1c", 7, (9, 6), &[(7, None)], 10);
            frame(t, 250, "n1c", 7, (10, 7), &[(7, release)], 10);
            frame(t, 260, "n1c", 7, (11, 7), &[], 11);
            run.put(&moved, "n1c", &[received], 311);
            run.check()
        };
        // Received after the first copy was sent, before the committed one was received.
        assert_one_out_of_range(run_with(220));
        // Received after the committed copy was, before or after its first sending.
        assert_eq!(acks(run_with(245)), vec![]);
        assert_eq!(acks(run_with(255)), vec![]);
    }

    /// A committed release the node refuses as stale (a later join's command precedes it
    /// in the log) changes nothing.
    #[test]
    fn a_stale_committed_release_gives_nothing_back() {
        let moved = key(true);
        let mut run = unanswered_release(of_join(2, GroupCommand::WriteLock), true);
        run.put(&moved, "n1c", &[310], 311);
        let failures = acks(run.check());
        assert_eq!(failures.len(), 1, "{failures:?}");
    }

    /// A resend answered by the newcomer from the session entry that moved with the key,
    /// before the newcomer was announced: the write was applied by its owner.
    #[test]
    fn a_moved_session_may_answer_a_resend_before_the_ring_is_announced() {
        let moved = key(true);
        let mut run = Run::new();
        run.put(&moved, "n1a", &[95, 140], 141);
        // Answered by n2a (received at 140, before group 2 is on the ring at 152).
        let last = run.history.records.last_mut().unwrap();
        last.completed = at(141);
        run.join(100, None);
        // Move the answer to n2a: rewrite the reply event's sender.
        for e in &mut run.trace.events {
            if let What::Recv { host, from, .. } = &mut e.what {
                if e.at == at(140) && &**host == "n1a" && &**from == "c1" {
                    *host = "n2a".into();
                }
            }
            if let What::Send { from, to, .. } = &mut e.what {
                if e.at == at(141) && &**from == "n1a" && &**to == "c1" {
                    *from = "n2a".into();
                }
            }
            if let What::Recv { host, from, .. } = &mut e.what {
                if e.at == at(141) && &**host == "c1" && &**from == "n1a" {
                    *from = "n2a".into();
                }
            }
        }
        assert_eq!(run.check(), vec![]);
    }

    #[test]
    fn a_write_acknowledged_while_write_locked_is_flagged() {
        let kept = key(false);
        let mut run = Run::new();
        run.join(100, None);
        // Received after write_lock was accepted (111) and before the release (160).
        run.put(&kept, "n1a", &[115], 118);
        assert_only(run.check(), "write-locked");
    }

    /// Found by review: a rogue's forged `release_lock` (refused: it lacks the cluster
    /// secret) waived the lock check for every write answered after it.
    #[test]
    fn a_rogue_release_does_not_unlock() {
        let kept = key(false);
        let mut run = Run::new();
        run.join(100, None);
        let forged = What::Recv {
            host: "n1a".into(),
            from: "rogue1".into(),
            msg: Message::AdminRequest(Request::ReleaseLock),
        };
        run.trace.push(at(116), forged);
        run.put(&kept, "n1a", &[115], 118);
        assert_only(run.check(), "write-locked");
    }

    #[test]
    fn a_newcomer_acknowledging_before_it_is_on_the_ring_is_flagged() {
        let moved = key(true);
        let mut run = Run::new();
        run.put(&moved, "n2a", &[140], 141);
        run.join(100, None);
        assert_only(run.check(), "told it is on the ring");
    }

    #[test]
    fn an_unsettled_ring_is_flagged() {
        let (moved, kept) = (key(true), key(false));
        // Group 2 never accepts the last view.
        let mut run = Run::new();
        run.join(100, Some("view 2"));
        run.put(&kept, "n1a", &[200], 201);
        assert_only(run.check(), "accepted no cluster_view");
        // Group 1 never learns its new successor: two groups own the moved keys.
        let mut run = Run::new();
        run.join(100, Some("predecessor next"));
        run.put(&moved, "n2a", &[200], 201);
        run.put(&kept, "n1a", &[202], 203);
        let failures = run.check();
        assert_eq!(failures.len(), 1, "{failures:?}");
        let text = &failures[0].detail;
        assert!(text.contains("1 of 2 keys"), "{text}");
        assert!(
            text.contains(&format!("{moved} is owned by group 1")),
            "{text}"
        );
    }
}
