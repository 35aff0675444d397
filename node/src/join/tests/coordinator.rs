//! The ECS's join machine explored exhaustively: from a few starting states, every
//! interleaving of the driver's progress with up to `faults` faults (a timeout, the
//! deadline, an operator's abort, a `done` that is stale, duplicated, early, of a join
//! not begun or from the wrong group, an ECS restart) at every point, each path run on
//! to quiescence with no more faults. Every output is checked against the protocol's
//! invariants as it is produced, and liveness at the end of every path.
//!
//! Removals run through the same explorer: an operator's `remove_group` (and a group's
//! `register`) may arrive at any point of a path, so a removal is explored queued behind
//! a join at every one of its steps and the other way round, with the same faults. The
//! lines of a removal are checked in their order too, and at the end the leaving group
//! must be off the ring, unlocked, retired, and its range handed to the member before
//! it.

use std::collections::{BTreeMap, BTreeSet};

use protocol::ecs::{HostPort, Member, NodeEntry, Register, Reply, Request};

use crate::ecs::state::EcsState;
use crate::join::coordinator::{Closed, Coordinator, Input, Output};
use crate::join::JoinStep;

/// The kinds of control line of one join, in the seed's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    TellNewcomerNext,
    Lock,
    TellPredecessorNext,
    Members,
    TransferRange,
    Announce,
    View,
    Release,
}

/// What the driver is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Effect {
    Send(HostPort, Request),
    AwaitDone,
    Idle,
}

/// A fault or race the explorer may inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    TimedOut,
    Deadline,
    OperatorAbort,
    /// `done` of the current join again (its sender missed the `ok`).
    DuplicateDone,
    /// `done` of an older join, resent.
    StaleDone,
    /// `done` naming a join not begun.
    FutureDone,
    /// `done` of the current join from a group that is not its predecessor.
    WrongSender,
    /// An untagged `done` (an old sender).
    UntaggedDone,
    Restart,
    /// The newcomer registers again during its own join (a member restarted, or it asks
    /// again after `register_every`): queued for another try should this one be
    /// abandoned.
    Reregister,
}

const FAULTS: [Fault; 10] = [
    Fault::TimedOut,
    Fault::Deadline,
    Fault::OperatorAbort,
    Fault::DuplicateDone,
    Fault::StaleDone,
    Fault::FutureDone,
    Fault::WrongSender,
    Fault::UntaggedDone,
    Fault::Restart,
    Fault::Reregister,
];

/// The machine, its stored state, the driver and what the groups saw.
#[derive(Debug, Clone)]
struct World {
    machine: Coordinator,
    /// The state file: the text written at the last `Persist`.
    disk: String,
    effect: Effect,
    /// The step begun last: its join, step and whether it is abandonable.
    begun: Option<(u64, JoinStep, bool)>,
    /// `abort.notify_one()` with no waiter leaves a permit (lost in a restart).
    abort_permit: bool,
    /// Per join: the kinds of line answered `ok` (in any life of the ECS).
    acked: BTreeMap<u64, BTreeSet<Kind>>,
    /// Per join: its predecessor and newcomer, as it began.
    preds: BTreeMap<u64, Option<HostPort>>,
    newcomers: BTreeMap<u64, HostPort>,
    /// Joins whose `done` moved them to the broadcast.
    done_accepted: BTreeSet<u64>,
    /// Joins whose newcomer was named to some group (`broadcast_node`, `cluster_view`).
    announced: BTreeSet<u64>,
    closed: BTreeMap<u64, Closed>,
    /// Joins whose newcomer registered again while they ran.
    reregistered: BTreeSet<u64>,
    /// The numbers that are removals, with their receiver and end as the test expects
    /// them (computed apart from the machine's ring code).
    removals: BTreeMap<u64, (HostPort, HostPort)>,
    /// Requests an operator or a group will make at some point of the path, once each.
    to_ask: Vec<Input>,
    /// Lines sent in this path, for failure messages.
    history: super::Trail<Move>,
}

/// The member before `leaving` and the one after it, in ring order, among `members`:
/// what a removal must hand its range to, found by sorting positions (not with the
/// ring code the machine uses).
fn ring_neighbours(members: &[HostPort], leaving: &HostPort) -> (HostPort, HostPort) {
    let mut sorted: Vec<(u128, HostPort)> = members
        .iter()
        .map(|m| (crate::ring::member_position(m), m.clone()))
        .collect();
    sorted.sort();
    let i = sorted.iter().position(|(_, m)| m == leaving).unwrap();
    let n = sorted.len();
    (
        sorted[(i + n - 1) % n].1.clone(),
        sorted[(i + 1) % n].1.clone(),
    )
}

fn hp(s: &str) -> HostPort {
    s.parse().unwrap()
}

fn reg(ring: &str) -> Register {
    Register {
        ring: hp(ring),
        members: vec![Member {
            admin: hp(ring),
            client: hp(&ring.replace(":1", ":2")),
        }],
    }
}

fn node(id: u32, ring: &str) -> NodeEntry {
    NodeEntry {
        id,
        ring: hp(ring),
        admin: hp(ring),
        client: hp(&ring.replace(":1", ":2")),
    }
}

/// The starting states: the first group; a second group with one member on the ring;
/// two groups queued behind a finished join, so `done`s of the first reach the second.
fn starts() -> Vec<(&'static str, EcsState, usize)> {
    let mut first = EcsState::default();
    first.queue.push_back(reg("a:1"));
    let mut second = EcsState {
        nodes: vec![node(0, "a:1")],
        members: vec![hp("a:1")],
        version: 1,
        joins: 1,
        ..EcsState::default()
    };
    second.queue.push_back(reg("b:1"));
    let mut two = second.clone();
    two.queue.push_back(reg("c:1"));
    vec![
        ("first group", first, 6),
        ("second group", second, 6),
        ("two queued", two, 5),
    ]
}

/// Three members on the ring.
fn three_members() -> EcsState {
    EcsState {
        nodes: vec![node(0, "a:1"), node(1, "b:1"), node(2, "c:1")],
        members: vec![hp("a:1"), hp("b:1"), hp("c:1")],
        version: 3,
        joins: 3,
        ..EcsState::default()
    }
}

/// The starting states of removals, with what is asked during the path: a removal
/// alone; a removal asked at any point of a join (and a join queued behind it); a
/// removal of two groups one after the other.
fn removal_starts() -> Vec<(&'static str, EcsState, Vec<Input>, usize)> {
    let mut join_first = three_members();
    join_first.queue.push_back(reg("d:1"));
    vec![
        (
            "remove one of three",
            three_members(),
            vec![Input::RemoveGroup(hp("b:1"))],
            6,
        ),
        (
            "removal and join",
            join_first,
            vec![Input::RemoveGroup(hp("a:1")), Input::Register(reg("e:1"))],
            4,
        ),
        (
            "two removals",
            three_members(),
            vec![Input::RemoveGroup(hp("c:1")), Input::RemoveGroup(hp("a:1"))],
            4,
        ),
    ]
}

impl World {
    fn new(state: EcsState) -> World {
        let mut w = World {
            disk: state.to_text(),
            machine: Coordinator::new(state),
            effect: Effect::Idle,
            begun: None,
            abort_permit: false,
            acked: BTreeMap::new(),
            preds: BTreeMap::new(),
            newcomers: BTreeMap::new(),
            done_accepted: BTreeSet::new(),
            announced: BTreeSet::new(),
            closed: BTreeMap::new(),
            reregistered: BTreeSet::new(),
            removals: BTreeMap::new(),
            to_ask: Vec::new(),
            history: super::Trail::default(),
        };
        w.drive(Input::Poll);
        w
    }

    /// Everything but the trail, which does not change what follows.
    fn key(&self, faults_left: usize) -> u64 {
        super::fingerprint(&[
            &self.machine,
            &self.disk,
            &self.effect,
            &self.begun,
            &self.abort_permit,
            &self.acked,
            &self.preds,
            &self.newcomers,
            &self.done_accepted,
            &self.announced,
            &self.closed,
            &self.reregistered,
            &self.removals,
            &self.to_ask,
            &faults_left,
        ])
    }

    fn current(&self) -> u64 {
        self.machine.state().joins
    }

    fn fail(&self, what: String) -> ! {
        panic!("{what}\npath:\n  {}", self.history.join("\n  "))
    }

    /// Feeds a driver input and takes the one effect that must end its outputs.
    fn drive(&mut self, input: Input) {
        let outputs = self.machine.step(input);
        let effects = outputs
            .iter()
            .filter(|o| matches!(o, Output::Send { .. } | Output::AwaitDone | Output::Idle))
            .count();
        if effects != 1 || !is_effect(outputs.last()) {
            self.fail(format!(
                "a driver input must end in one effect: {outputs:?}"
            ));
        }
        for output in outputs {
            self.take(output);
        }
    }

    /// Feeds an admin-port request and returns its reply.
    fn request(&mut self, input: Input) -> Reply {
        let outputs = self.machine.step(input);
        let mut reply = None;
        let mut woken = false;
        for output in outputs {
            match output {
                Output::Reply(r) => reply = Some(r),
                Output::Wake => woken = true,
                Output::Persist(_) | Output::SignalAbort => self.take(output),
                other => self.fail(format!("a request produced a driver output {other:?}")),
            }
        }
        let reply = reply.unwrap_or_else(|| self.fail("a request without a reply".into()));
        // The driver, idle, wakes and looks for work.
        if woken && self.effect == Effect::Idle {
            self.drive(Input::Poll);
        }
        reply
    }

    fn take(&mut self, output: Output) {
        match output {
            Output::Persist(_) => {
                let text = self.machine.state().to_text();
                let back = EcsState::from_text(&text).unwrap();
                if &back != self.machine.state() {
                    self.fail(format!("the state does not survive its file: {text}"));
                }
                self.disk = text;
            }
            Output::Begin {
                join,
                step,
                abandonable,
            } => {
                if join != self.current() {
                    self.fail(format!(
                        "began join {join} while {} is current",
                        self.current()
                    ));
                }
                let state = self.machine.state();
                if let Some(r) = state.removal.clone() {
                    let before = self.removals.get(&join).cloned();
                    let mut members = state.members.clone();
                    if !members.contains(&r.leaving) {
                        members.push(r.leaving.clone());
                    }
                    let expected = before.unwrap_or_else(|| ring_neighbours(&members, &r.leaving));
                    if (r.receiver.clone(), r.end.clone()) != expected {
                        self.fail(format!(
                            "removal {join} of {} hands to {} up to {}, expected {expected:?}",
                            r.leaving, r.receiver, r.end
                        ));
                    }
                    self.removals.insert(join, expected);
                    self.preds.entry(join).or_insert(Some(r.leaving.clone()));
                    self.newcomers.entry(join).or_insert(r.leaving);
                } else {
                    let j = state.join.clone().unwrap();
                    self.preds.entry(join).or_insert(j.predecessor.clone());
                    self.newcomers
                        .entry(join)
                        .or_insert(j.newcomer.ring.clone());
                }
                self.begun = Some((join, step, abandonable));
            }
            Output::Send { to, request, .. } => {
                self.check_send(&to, &request);
                self.effect = Effect::Send(to, request);
            }
            Output::AwaitDone => self.effect = Effect::AwaitDone,
            Output::Idle => self.effect = Effect::Idle,
            Output::Closed { join, how, .. } => {
                if how == Closed::Abandoned && self.announced.contains(&join) {
                    self.fail(format!(
                        "join {join} abandoned after its newcomer was announced"
                    ));
                }
                if self.closed.insert(join, how).is_some() {
                    self.fail(format!("join {join} closed twice"));
                }
            }
            Output::Wake => {}
            Output::SignalAbort => self.abort_permit = true,
            Output::Reply(_) => {}
        }
    }

    fn kind(&self, to: &HostPort, request: &Request) -> Kind {
        let j = self.current();
        let pred = self.preds.get(&j).cloned().flatten();
        match request.untagged().1 {
            Request::NextAddr(_) if Some(to) == pred.as_ref() => Kind::TellPredecessorNext,
            Request::NextAddr(_) => Kind::TellNewcomerNext,
            Request::WriteLock => Kind::Lock,
            Request::GroupMembers(_) => Kind::Members,
            Request::TransferRange(_) => Kind::TransferRange,
            Request::BroadcastNode(_) => Kind::Announce,
            Request::ClusterView(_) => Kind::View,
            Request::ReleaseLock => Kind::Release,
            Request::HandOver { .. } => Kind::TransferRange,
            other => self.fail(format!("the ECS sent a group {other:?}")),
        }
    }

    /// The seed's order, checked as each line goes out.
    fn check_send(&mut self, to: &HostPort, request: &Request) {
        let j = self.current();
        if let (Some(tag), _) = request.untagged() {
            if tag != j {
                self.fail(format!("a line of join {tag} during join {j}"));
            }
        }
        let kind = self.kind(to, request);
        if self.removals.contains_key(&j) {
            return self.check_removal_send(j, kind, to, request);
        }
        let acked = self.acked.get(&j).cloned().unwrap_or_default();
        let pred = self.preds.get(&j).cloned().flatten();
        let aborting = matches!(self.begun, Some((_, JoinStep::Abort, _)));
        if kind == Kind::Release && aborting {
            // An abandonment unlocks whatever the join reached; the range stays, since
            // the ring never named the newcomer.
            if self.announced.contains(&j) {
                self.fail(format!("join {j} abandoned after announcing its newcomer"));
            }
            return;
        }
        let needed: &[Kind] = match (kind, pred.is_some()) {
            (Kind::TellNewcomerNext, _) => &[],
            (Kind::Lock, _) => &[Kind::TellNewcomerNext],
            (Kind::TellPredecessorNext, _) => &[Kind::TellNewcomerNext, Kind::Lock],
            (Kind::Members | Kind::TransferRange, _) => &[
                Kind::TellNewcomerNext,
                Kind::Lock,
                Kind::TellPredecessorNext,
            ],
            (Kind::Announce | Kind::View, true) => &[
                Kind::TellNewcomerNext,
                Kind::Lock,
                Kind::TellPredecessorNext,
                Kind::Members,
                Kind::TransferRange,
            ],
            (Kind::Announce | Kind::View, false) => &[Kind::TellNewcomerNext],
            (Kind::Release, _) => &[
                Kind::TellNewcomerNext,
                Kind::Lock,
                Kind::TellPredecessorNext,
                Kind::Members,
                Kind::TransferRange,
                Kind::Announce,
                Kind::View,
            ],
        };
        if let Some(missing) = needed.iter().find(|k| !acked.contains(k)) {
            self.fail(format!(
                "join {j}: {kind:?} before {missing:?} was answered ok"
            ));
        }
        if kind == Kind::View && !acked.contains(&Kind::Announce) {
            self.fail(format!("join {j}: cluster_view before broadcast_node"));
        }
        let after_done = pred.is_none() || self.done_accepted.contains(&j);
        if matches!(kind, Kind::Announce | Kind::View | Kind::Release) && !after_done {
            self.fail(format!("join {j}: {kind:?} before its done was accepted"));
        }
        if matches!(kind, Kind::Announce | Kind::View) {
            self.announced.insert(j);
        }
    }

    /// A removal's order: lock, the receiver's members and `hand_over`, then (after its
    /// `done`) the ring without the leaving group, the receiver and the leaving group
    /// first, the release, and the view to the others.
    fn check_removal_send(&mut self, j: u64, kind: Kind, to: &HostPort, request: &Request) {
        let acked = self.acked.get(&j).cloned().unwrap_or_default();
        let (receiver, end) = self.removals[&j].clone();
        let leaving = self.newcomers[&j].clone();
        let needed: &[Kind] = match kind {
            Kind::Lock => &[],
            Kind::Members | Kind::TransferRange => &[Kind::Lock],
            Kind::View => &[Kind::Lock, Kind::Members, Kind::TransferRange],
            Kind::Release => &[Kind::Lock, Kind::Members, Kind::TransferRange, Kind::View],
            other => self.fail(format!("removal {j} sent {other:?}")),
        };
        if let Some(missing) = needed.iter().find(|k| !acked.contains(k)) {
            self.fail(format!(
                "removal {j}: {kind:?} before {missing:?} was answered ok"
            ));
        }
        let to_leaving = matches!(
            kind,
            Kind::Lock | Kind::Members | Kind::TransferRange | Kind::Release
        );
        if to_leaving && *to != leaving {
            self.fail(format!(
                "removal {j}: {kind:?} to {to}, not the leaving group"
            ));
        }
        match request.untagged().1 {
            Request::GroupMembers(g) if g.ring != receiver || g.members.is_empty() => {
                self.fail(format!("removal {j}: group_members of {}", g.ring))
            }
            Request::HandOver { to: r, end: e } if (r, e) != (&receiver, &end) => self.fail(
                format!("removal {j}: hand_over to {r} up to {e}, expected {receiver} up to {end}"),
            ),
            Request::ClusterView(v) => {
                if !self.done_accepted.contains(&j) {
                    self.fail(format!("removal {j}: cluster_view before its done"));
                }
                if v.nodes.iter().any(|n| n.ring == leaving) {
                    self.fail(format!("removal {j}: a view still naming {leaving}"));
                }
                if !v.nodes.iter().any(|n| n.ring == receiver) {
                    self.fail(format!(
                        "removal {j}: a view without the receiver {receiver}"
                    ));
                }
                // The receiver hears first: until it does, the range has no server.
                let first = !acked.contains(&Kind::View);
                if first && *to != receiver {
                    self.fail(format!("removal {j}: the first view went to {to}"));
                }
            }
            _ => {}
        }
    }

    /// The moves available: progress of the driver and the groups, and the faults.
    fn moves(&self, faults_left: usize) -> Vec<Move> {
        let mut moves = Vec::new();
        let abandonable = matches!(self.begun, Some((_, _, true)));
        match &self.effect {
            Effect::Send(..) => moves.push(Move::Ack),
            Effect::AwaitDone if self.machine.transfer_pending() => moves.push(Move::Done),
            Effect::AwaitDone => moves.push(Move::DoneSeen),
            Effect::Idle => {}
        }
        let busy = self.effect != Effect::Idle;
        if self.abort_permit && abandonable && busy {
            moves.push(Move::AbortWoken);
        }
        moves.extend((0..self.to_ask.len()).map(Move::Ask));
        if faults_left == 0 {
            return moves;
        }
        let j = self.current();
        for fault in FAULTS {
            let possible = match fault {
                Fault::TimedOut => {
                    self.effect == Effect::AwaitDone && self.machine.transfer_pending()
                }
                Fault::Deadline => abandonable && busy,
                Fault::OperatorAbort => self.machine.state().join.is_some(),
                Fault::DuplicateDone | Fault::WrongSender | Fault::UntaggedDone => {
                    self.transfer_asked(j)
                }
                Fault::StaleDone => j > 1 && self.transfer_asked(j - 1),
                Fault::FutureDone => true,
                Fault::Restart => true,
                Fault::Reregister => {
                    self.machine.state().join.is_some() || self.machine.state().removal.is_some()
                }
            };
            if possible {
                moves.push(Move::Fault(fault));
            }
        }
        moves
    }

    /// Whether join `j`'s predecessor was asked to transfer (so it may send `done`).
    fn transfer_asked(&self, j: u64) -> bool {
        self.acked
            .get(&j)
            .is_some_and(|k| k.contains(&Kind::TransferRange))
    }

    fn done_of(&mut self, j: u64, from: Option<HostPort>, tag: Option<u64>) -> Reply {
        let before = self.machine.clone();
        let state = self.machine.state();
        let removal = state.removal.as_ref().map(|x| x.step);
        let step = removal.or(state.join.as_ref().map(|x| x.step));
        let reply = self.request(Input::Done { from, join: tag });
        let moved = self.machine != before;
        let state = self.machine.state();
        let running = state.join.is_some() || state.removal.is_some();
        let current = tag.is_none_or(|t| t == self.current()) && running;
        if moved {
            if !current || step != Some(JoinStep::Transfer) {
                self.fail(format!(
                    "a done ({tag:?}) of join {j} moved join {}",
                    self.current()
                ));
            }
            self.done_accepted.insert(j);
        }
        reply
    }

    fn play(&mut self, m: Move) {
        let j = self.current();
        let pred = self.preds.get(&j).cloned().flatten();
        match m {
            Move::Ack => {
                let Effect::Send(to, request) = self.effect.clone() else {
                    unreachable!()
                };
                let kind = self.kind(&to, &request);
                self.acked.entry(j).or_default().insert(kind);
                self.drive(Input::Acked);
            }
            Move::Done => {
                let reply = self.done_of(j, pred, Some(j));
                if reply != Reply::Ok {
                    self.fail(format!(
                        "the done of the current join was refused: {reply:?}"
                    ));
                }
            }
            Move::DoneSeen => self.drive(Input::DoneSeen),
            Move::AbortWoken => {
                self.abort_permit = false;
                self.drive(Input::AbortWoken);
            }
            Move::Fault(fault) => self.fault(fault, j, pred),
            Move::Ask(i) => {
                let input = self.to_ask.remove(i);
                let reply = self.request(input.clone());
                if reply != Reply::Ok {
                    self.fail(format!("{input:?} was refused: {reply:?}"));
                }
            }
        }
    }

    fn fault(&mut self, fault: Fault, j: u64, pred: Option<HostPort>) {
        match fault {
            Fault::TimedOut => self.drive(Input::TimedOut),
            Fault::Deadline => self.drive(Input::DeadlinePassed),
            Fault::OperatorAbort => {
                let before = self.machine.clone();
                let reply = self.request(Input::AbortJoin);
                let removing = self.machine.state().removal.is_some();
                if removing && (self.machine != before || reply == Reply::Ok) {
                    self.fail(format!("abort_join acted on a removal: {reply:?}"));
                }
            }
            Fault::DuplicateDone => {
                let _ = self.done_of(j, pred, Some(j));
            }
            Fault::UntaggedDone => {
                let _ = self.done_of(j, pred, None);
            }
            Fault::WrongSender => {
                let before = self.machine.clone();
                let reply = self.request(Input::Done {
                    from: Some(hp("z:1")),
                    join: Some(j),
                });
                let in_progress = self.machine.state().join.is_some();
                let taken = self.machine != before || (in_progress && reply == Reply::Ok);
                if pred.is_some() && taken {
                    self.fail(format!("a done from the wrong group was taken: {reply:?}"));
                }
            }
            Fault::StaleDone => self.stale_done(j - 1),
            Fault::FutureDone => {
                let before = self.machine.clone();
                let reply = self.request(Input::Done {
                    from: pred,
                    join: Some(j + 1),
                });
                if !matches!(reply, Reply::Error(_)) || self.machine != before {
                    self.fail("a done of a join not begun was taken".into());
                }
            }
            Fault::Reregister => {
                if let Some(r) = self.machine.state().removal.clone() {
                    // The leaving group's nodes ask to join again (one restarted): refused.
                    let before = self.machine.clone();
                    let reply = self.request(Input::Register(reg(&r.leaving.to_string())));
                    if !matches!(reply, Reply::Error(_)) || self.machine != before {
                        self.fail(format!("the leaving group registering got {reply:?}"));
                    }
                    return;
                }
                let Some(join) = self.machine.state().join.clone() else {
                    return;
                };
                self.reregistered.insert(j);
                let reply = self.request(Input::Register(join.newcomer));
                if reply != Reply::Ok {
                    self.fail(format!("a newcomer registering again got {reply:?}"));
                }
            }
            Fault::Restart => {
                let state = EcsState::from_text(&self.disk).unwrap();
                self.machine = Coordinator::new(state);
                self.begun = None;
                self.abort_permit = false;
                self.drive(Input::Poll);
            }
        }
    }

    /// A `done` of an older join is answered `ok` and changes nothing.
    fn stale_done(&mut self, old: u64) {
        let before = self.machine.clone();
        let from = self.preds.get(&old).cloned().flatten();
        let reply = self.request(Input::Done {
            from,
            join: Some(old),
        });
        if reply != Reply::Ok || self.machine != before {
            self.fail(format!(
                "a done of older join {old} was not a no-op: {reply:?}"
            ));
        }
    }

    /// Whether a join after `j` with `j`'s newcomer finished.
    fn readmitted(&self, j: u64) -> bool {
        let newcomer = &self.newcomers[&j];
        self.closed
            .iter()
            .any(|(&k, &how)| k > j && how == Closed::Finished && &self.newcomers[&k] == newcomer)
    }

    /// Whether a join after `j` began with `j`'s newcomer.
    fn retried(&self, j: u64) -> bool {
        let newcomer = &self.newcomers[&j];
        self.newcomers.iter().any(|(&k, n)| k > j && n == newcomer)
    }

    /// At quiescence: every join closed, every lock released, every finished join's
    /// `done` answered `ok` without effect.
    fn check_end(&mut self) {
        if self.effect != Effect::Idle || self.machine.state().join.is_some() {
            self.fail("not quiescent".into());
        }
        let state = self.machine.state();
        if !state.queue.is_empty() || !state.removals.is_empty() || state.removal.is_some() {
            self.fail("groups left queued".into());
        }
        if !self.to_ask.is_empty() {
            self.fail("requests never asked".into());
        }
        for (&j, kinds) in &self.acked.clone() {
            if kinds.contains(&Kind::Lock) && !kinds.contains(&Kind::Release) {
                self.fail(format!(
                    "join {j} locked its predecessor and never released it"
                ));
            }
            if !self.closed.contains_key(&j) {
                self.fail(format!("join {j} never closed"));
            }
        }
        for (&j, &how) in &self.closed.clone() {
            let member = self.machine.state().members.contains(&self.newcomers[&j]);
            let retired = self.machine.state().removed.contains(&self.newcomers[&j]);
            if self.removals.contains_key(&j) != (how == Closed::Removed) {
                self.fail(format!("{j} closed as {how:?}"));
            }
            match how {
                Closed::Removed if member || !retired || !self.done_accepted.contains(&j) => self
                    .fail(format!(
                        "removal {j}: on the ring {member}, retired {retired}, done {}",
                        self.done_accepted.contains(&j)
                    )),
                Closed::Finished if !member => {
                    self.fail(format!("finished join {j} not on the ring"))
                }
                Closed::Abandoned if self.done_accepted.contains(&j) => self.fail(format!(
                    "join {j} was abandoned after its done was accepted"
                )),
                // Unless it registered again and a later join admitted it.
                Closed::Abandoned if member && !self.readmitted(j) => {
                    self.fail(format!("abandoned join {j} on the ring"))
                }
                // Alive again, it asked during the join: it must get another try.
                Closed::Abandoned if self.reregistered.contains(&j) && !self.retried(j) => self
                    .fail(format!(
                        "join {j}'s newcomer registered again but got no other join"
                    )),
                _ => {}
            }
            if self.transfer_asked(j) {
                self.stale_done(j);
            }
        }
    }
}

fn is_effect(o: Option<&Output>) -> bool {
    matches!(
        o,
        Some(Output::Send { .. } | Output::AwaitDone | Output::Idle)
    )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Move {
    Ack,
    Done,
    DoneSeen,
    AbortWoken,
    Fault(Fault),
    /// The request `to_ask[i]` arrives.
    Ask(usize),
}

/// Longest path; the slowest happy path is a few dozen moves.
const MAX_MOVES: usize = 120;

/// Explores every path from `world`; returns the number of complete paths. `seen` holds
/// the count below every state already explored.
fn explore(world: &World, faults_left: usize, depth: usize, seen: &mut BTreeMap<u64, u64>) -> u64 {
    let key = world.key(faults_left);
    if let Some(&paths) = seen.get(&key) {
        return paths;
    }
    let moves = world.moves(faults_left);
    if moves.is_empty() {
        let mut end = world.clone();
        end.check_end();
        seen.insert(key, 1);
        return 1;
    }
    if depth >= MAX_MOVES {
        world.fail(format!("no quiescence within {MAX_MOVES} moves"));
    }
    let mut paths = 0;
    for m in moves {
        let mut next = world.clone();
        next.history.push(m);
        next.play(m);
        let left = faults_left - usize::from(matches!(m, Move::Fault(_)));
        paths += explore(&next, left, depth + 1, seen);
    }
    seen.insert(key, paths);
    paths
}

#[test]
fn every_interleaving_keeps_the_join_invariants() {
    let mut total = 0;
    for (name, state, faults) in starts() {
        let mut seen = BTreeMap::new();
        let paths = explore(&World::new(state), faults, 0, &mut seen);
        println!(
            "{name}: {paths} paths with up to {faults} faults ({} distinct states)",
            seen.len()
        );
        total += paths;
    }
    println!("coordinator: {total} paths");
    assert!(total > 10_000, "the exploration shrank: {total} paths");
}

/// The happy path, line by line, in the seed's order.
#[test]
fn a_join_sends_the_seeds_lines_in_order() {
    let (_, state, _) = starts().swap_remove(1);
    let mut w = World::new(state);
    let mut lines = Vec::new();
    loop {
        match w.effect.clone() {
            Effect::Send(to, request) => {
                let (tag, _) = request.untagged();
                lines.push((to.to_string(), request.keyword(), tag));
                w.play(Move::Ack);
            }
            Effect::AwaitDone if w.machine.transfer_pending() => w.play(Move::Done),
            Effect::AwaitDone => w.play(Move::DoneSeen),
            Effect::Idle => break,
        }
    }
    let expected = [
        ("b:1", "next_addr", Some(2)),
        ("a:1", "write_lock", Some(2)),
        ("a:1", "next_addr", Some(2)),
        ("a:1", "group_members", None),
        ("a:1", "transfer_range", Some(2)),
        ("a:1", "broadcast_node", None),
        ("a:1", "cluster_view", None),
        ("a:1", "release_lock", Some(2)),
        ("b:1", "broadcast_node", None),
        ("b:1", "cluster_view", None),
    ];
    let got: Vec<(&str, &str, Option<u64>)> = lines
        .iter()
        .map(|(to, k, t)| (to.as_str(), *k, *t))
        .collect();
    assert_eq!(got, expected);
    w.check_end();
}

/// After the lock is released the newcomer hears the new ring before any other member:
/// nobody serves the moved range until it does (the predecessor stopped when its transfer
/// finished), and each member told first costs a commit at that group. Told last, a
/// newcomer on 1200 ms syncs left its range unread for ~22 s and failed liveness
/// (`explore-join-steps-1200ms-syncs-seed1523`).
#[test]
fn the_newcomer_hears_the_new_ring_before_the_other_members() {
    let mut state = three_members();
    state.queue.push_back(reg("d:1"));
    let mut w = World::new(state);
    let mut lines = Vec::new();
    loop {
        match w.effect.clone() {
            Effect::Send(to, request) => {
                lines.push((to.to_string(), request.keyword()));
                w.play(Move::Ack);
            }
            Effect::AwaitDone if w.machine.transfer_pending() => w.play(Move::Done),
            Effect::AwaitDone => w.play(Move::DoneSeen),
            Effect::Idle => break,
        }
    }
    w.check_end();
    let release = lines
        .iter()
        .position(|(_, k)| *k == "release_lock")
        .expect("the lock is released");
    let predecessor = lines[release].0.clone();
    let after: Vec<(&str, &str)> = lines[release + 1..]
        .iter()
        .map(|(to, k)| (to.as_str(), *k))
        .collect();
    let others: Vec<&str> = ["a:1", "b:1", "c:1"]
        .into_iter()
        .filter(|m| *m != predecessor)
        .collect();
    let mut expected = vec![("d:1", "broadcast_node"), ("d:1", "cluster_view")];
    expected.extend(others.iter().map(|m| (*m, "broadcast_node")));
    expected.extend(others.iter().map(|m| (*m, "cluster_view")));
    assert_eq!(after, expected);
}

/// An operator's `abort_join` of a join that has not announced its newcomer abandons it:
/// the driver is signalled, and once woken the join ends abandoned (its lock released),
/// while a second `abort_join` of a join already abandoning is answered `ok` too. The
/// exhaustive explorer only checks what an abort must not do; this checks that it does.
#[test]
fn an_operators_abort_join_abandons_the_join() {
    let (_, state, _) = starts().swap_remove(1);
    let mut w = World::new(state);
    // One line out (the first of the join), then the operator asks.
    assert!(matches!(w.effect, Effect::Send(..)), "{:?}", w.effect);
    let j = w.current();
    assert_eq!(w.request(Input::AbortJoin), Reply::Ok);
    assert!(w.abort_permit, "the driver must be signalled");
    w.drive(Input::AbortWoken);
    assert_eq!(
        w.request(Input::AbortJoin),
        Reply::Ok,
        "asked again while abandoning"
    );
    // Carry out whatever the abandonment sends (release_lock to the predecessor).
    let mut lines = Vec::new();
    while let Effect::Send(to, request) = w.effect.clone() {
        lines.push((to.to_string(), request.keyword()));
        w.play(Move::Ack);
    }
    assert_eq!(
        w.closed.get(&j),
        Some(&Closed::Abandoned),
        "join {j} was not abandoned; it sent {lines:?}"
    );
    assert!(lines.iter().any(|(_, k)| *k == "release_lock"), "{lines:?}");
}

#[test]
fn every_interleaving_keeps_the_removal_invariants() {
    let mut total = 0;
    for (name, state, asks, faults) in removal_starts() {
        let mut world = World::new(state);
        world.to_ask = asks;
        let mut seen = BTreeMap::new();
        let paths = explore(&world, faults, 0, &mut seen);
        println!(
            "{name}: {paths} paths with up to {faults} faults ({} distinct states)",
            seen.len()
        );
        total += paths;
    }
    println!("removals: {total} paths");
    assert!(total > 10_000, "the exploration shrank: {total} paths");
}

/// Runs `w` on the happy path to quiescence; the lines sent, as (to, keyword, tag).
fn happy_path(w: &mut World) -> Vec<(String, &'static str, Option<u64>)> {
    let mut lines = Vec::new();
    loop {
        match w.effect.clone() {
            Effect::Send(to, request) => {
                let (tag, _) = request.untagged();
                lines.push((to.to_string(), request.keyword(), tag));
                w.play(Move::Ack);
            }
            Effect::AwaitDone if w.machine.transfer_pending() => w.play(Move::Done),
            Effect::AwaitDone => w.play(Move::DoneSeen),
            Effect::Idle => return lines,
        }
    }
}

/// A removal, line by line: the leaving group is locked, told the receiver's nodes and
/// to hand over, the receiver and the leaving group hear the ring without it, the lock
/// is released, and the last member hears too.
#[test]
fn a_removal_sends_its_lines_in_order() {
    let mut w = World::new(three_members());
    assert_eq!(w.request(Input::RemoveGroup(hp("b:1"))), Reply::Ok);
    let members: Vec<HostPort> = w.machine.state().members.clone();
    let (receiver, end) = ring_neighbours(&members, &hp("b:1"));
    let other = members
        .iter()
        .find(|m| **m != receiver && m.to_string() != "b:1")
        .unwrap()
        .to_string();
    let lines = happy_path(&mut w);
    let r = receiver.to_string();
    let expected = [
        ("b:1", "write_lock", Some(4)),
        ("b:1", "group_members", None),
        ("b:1", "hand_over", Some(4)),
        (r.as_str(), "cluster_view", None),
        ("b:1", "cluster_view", None),
        ("b:1", "release_lock", Some(4)),
        (other.as_str(), "cluster_view", None),
    ];
    let got: Vec<(&str, &str, Option<u64>)> = lines
        .iter()
        .map(|(to, k, t)| (to.as_str(), *k, *t))
        .collect();
    assert_eq!(got, expected, "receiver {receiver}, end {end}");
    let state = w.machine.state();
    assert!(!state.members.contains(&hp("b:1")));
    assert_eq!(state.removed, vec![hp("b:1")]);
    assert_eq!(state.version, 4);
    assert_eq!(w.closed.get(&4), Some(&Closed::Removed));
    w.check_end();
    // Retired: the removed group cannot register again, nor be removed twice.
    assert!(matches!(
        w.request(Input::Register(reg("b:1"))),
        Reply::Error(_)
    ));
    assert!(matches!(
        w.request(Input::RemoveGroup(hp("b:1"))),
        Reply::Error(_)
    ));
}

/// What a removal refuses, and what it answers `ok` without queueing twice.
#[test]
fn a_removal_refuses_the_last_group_an_unknown_one_and_one_not_yet_joined() {
    let refused = |w: &mut World, ring: &str| -> String {
        let before = w.machine.clone();
        match w.request(Input::RemoveGroup(hp(ring))) {
            Reply::Error(reason) => {
                assert_eq!(w.machine, before, "a refusal changed the state");
                reason
            }
            other => panic!("removing {ring}: {other:?}"),
        }
    };
    // The first group joins; it is the last, and the second is not on the ring yet.
    let (_, state, _) = starts().swap_remove(1);
    let mut w = World::new(state);
    assert!(refused(&mut w, "a:1").contains("last group"));
    assert!(refused(&mut w, "b:1").contains("not on the ring yet"));
    assert!(refused(&mut w, "z:1").contains("no group z:1"));
    // Two of three queued for removal: the third is the last one left.
    let mut w = World::new(three_members());
    assert_eq!(w.request(Input::RemoveGroup(hp("a:1"))), Reply::Ok);
    assert_eq!(w.request(Input::RemoveGroup(hp("b:1"))), Reply::Ok);
    assert_eq!(
        w.request(Input::RemoveGroup(hp("b:1"))),
        Reply::Ok,
        "asked again"
    );
    // The first began at once; the second waits for it.
    assert_eq!(w.machine.state().removals.len(), 1);
    assert!(w.machine.state().removal.is_some());
    assert!(refused(&mut w, "c:1").contains("last group"));
    // A removal is never abandoned.
    assert!(matches!(w.request(Input::AbortJoin), Reply::Error(_)));
}
