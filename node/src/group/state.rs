//! The replicated state of one group: its keys, its place on the ring, its lock and its
//! hand-offs. [`GroupState::apply`] is deterministic: the same commands in the same order
//! give the same state on every member, which is what lets Raft replicate it.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use protocol::client::{Command, Request, Response, RETRYABLE_PREFIX};
use protocol::ecs::{ClusterView, HostPort, PutPart, SessionEntry};

use super::command::GroupCommand;
use super::session::{Session, SessionAnswer, SessionTable};
use crate::bounds;
use crate::ring::{member_position, position_of, Arc, Ring};

/// A range this group is handing to the next member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transfer {
    /// The member receiving the range (the group's `next` when it began).
    pub target: HostPort,
    /// The member whose position ends the range.
    pub end: HostPort,
    /// Names the transfer's parts.
    pub transfer_id: u64,
    /// Longest `ecs_put` line of its parts.
    pub part_size: usize,
    /// `[target, end)`.
    pub arc: Arc,
    /// Every part was acknowledged by the receiver.
    pub finished: bool,
    /// Parts `0..acked` are durable at the receiver (recorded as they are acknowledged,
    /// so a new leader of this group resumes after them).
    pub acked: u32,
    /// The ECS's join this hand-off belongs to (`None`: started by an untagged
    /// `transfer_range`); the sender tags its `ecs_put` parts and `done` with it.
    pub join: Option<u64>,
}

/// What the group does with a client command, decided from its state alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// This group serves the key now.
    Serve,
    /// Another node serves it: 'l' with this id (-1: not known yet).
    Redirect(i32),
    /// Not now, resend later: an 'e' with the retryable prefix and this reason.
    Retry(&'static str),
}

/// The answer to applying one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A client command ran.
    Response(Response),
    /// A client command was not applied; see the route.
    Refused(Route),
    /// An ECS command was applied (or was already in effect).
    Ok,
    /// An ECS command was rejected; the reason goes into `error <reason>`.
    Rejected(String),
}

/// Everything a group knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupState {
    /// This group's ring address.
    pub own: HostPort,
    /// The keys and values this group holds.
    pub kv: BTreeMap<Bytes, Bytes>,
    /// Writes are refused while set.
    pub locked: bool,
    /// The member following this group on the ring, as the ECS last said.
    pub next: Option<HostPort>,
    /// The hand-off in progress, if any.
    pub transfer: Option<Transfer>,
    /// Parts already received, per transfer id, so a resent part is harmless.
    pub received: BTreeMap<u64, BTreeSet<u32>>,
    /// Ring members this group has heard of.
    pub ring: Ring,
    /// The latest node table from the ECS.
    pub view: Option<ClusterView>,
    /// Last command per client session, to answer resends without reapplying.
    pub sessions: SessionTable,
    /// Admin addresses of other groups' nodes, by ring address, as the ECS told them.
    pub groups: BTreeMap<HostPort, Vec<HostPort>>,
    /// The latest ECS join this group took part in (0: none yet).
    pub join: u64,
    /// That join is over here (its `release_lock` applied, or the view that admitted this
    /// group as its newcomer): its requests are stale.
    pub join_closed: bool,
}

impl GroupState {
    /// A fresh group at ring address `own`.
    pub fn new(own: HostPort) -> Self {
        GroupState {
            own,
            kv: BTreeMap::new(),
            locked: false,
            next: None,
            transfer: None,
            received: BTreeMap::new(),
            ring: Ring::default(),
            view: None,
            sessions: SessionTable::default(),
            groups: BTreeMap::new(),
            join: 0,
            join_closed: false,
        }
    }

    /// Whether this group is on the ring and serving.
    pub fn is_member(&self) -> bool {
        self.ring.contains(&self.own)
    }

    /// Whether this group was on the ring and was removed: it had a view (the ECS sends
    /// one to a group only once it is a member) that no longer names it.
    pub fn has_left(&self) -> bool {
        self.view.is_some() && !self.is_member()
    }

    /// Whether an `ecs_put` part may be taken: always while this group is not on the
    /// ring (a newcomer), and by a member only if none of its items is in the range it
    /// serves (the receiver of a removal, before it owns the range). A part that arrives
    /// late, after its range is served here, could overwrite newer writes.
    pub fn takes_part(&self, part: &PutPart) -> bool {
        if !self.is_member() {
            return true;
        }
        let owned = self.owned_arc();
        !part
            .items
            .iter()
            .any(|i| owned.is_none_or(|a| a.contains_key(&i.key)))
    }

    /// The arc this group owns: `[own, next)`, or the ring's view if no `next` was given.
    pub fn owned_arc(&self) -> Option<Arc> {
        match &self.next {
            Some(next) => Some(Arc {
                start: member_position(&self.own),
                end: member_position(next),
            }),
            None => self.ring.arc_of(&self.own),
        }
    }

    /// The global id of a node of the group at ring address `ring`: its lowest id, which
    /// redirects further if it is not the leader. -1 if unknown.
    pub fn node_id_of_group(&self, ring: &HostPort) -> i32 {
        self.view
            .as_ref()
            .and_then(|v| {
                v.nodes
                    .iter()
                    .filter(|n| &n.ring == ring)
                    .map(|n| n.id)
                    .min()
            })
            .map_or(-1, |id| id as i32)
    }

    /// Where a client command should go, judged from the current state.
    pub fn route(&self, command: &Command) -> Route {
        if !self.is_member() {
            return Route::Redirect(-1);
        }
        let key = command.key();
        let p = position_of(key);
        // Before the owned arc: a removal hands over the whole owned arc, and from the
        // moment every part is acknowledged the receiver may be told to serve it.
        if let Some(t) = &self.transfer {
            if t.arc.contains(p) {
                // The range is still here until the receiver has all of it; nobody else
                // writes it before the new ring is announced, so reads stay correct. A
                // hand-over's arc starts at the receiver, before this group's own
                // position: only `[own, end)` was ever held here.
                let held = Arc {
                    start: member_position(&self.own),
                    end: t.arc.end,
                };
                if !command.is_write() && !t.finished && held.contains(p) {
                    return Route::Serve;
                }
                return Route::Retry("range is being handed off");
            }
        }
        if self.owned_arc().is_some_and(|a| a.contains(p)) {
            if command.is_write() && self.locked {
                return Route::Retry("write-locked for a range hand-off");
            }
            return Route::Serve;
        }
        match self.ring.owner_of(p) {
            Some(owner) if owner != &self.own => Route::Redirect(self.node_id_of_group(owner)),
            _ => Route::Retry("ring is changing"),
        }
    }

    /// Where to reach the group at ring address `ring`: its nodes' admin addresses if the
    /// ECS named them, else the ring address itself.
    pub fn admins_of(&self, ring: &HostPort) -> Vec<HostPort> {
        match self.groups.get(ring) {
            Some(admins) if !admins.is_empty() => admins.clone(),
            _ => vec![ring.clone()],
        }
    }

    /// Answers a read from the current state.
    pub fn read(&self, key: &[u8]) -> Response {
        Response::Value(self.kv.get(key).cloned())
    }

    /// Applies one command.
    pub fn apply(&mut self, command: &GroupCommand) -> Outcome {
        match command {
            GroupCommand::ForJoin { join, command } => self.apply_for_join(*join, command),
            GroupCommand::Client(req) => self.apply_client(req),
            GroupCommand::WriteLock => {
                self.locked = true;
                Outcome::Ok
            }
            GroupCommand::ReleaseLock => {
                if let Some(t) = self.transfer.take() {
                    // The range lives at the receiver only if it confirmed every part
                    // durable and the new ring (with the receiver) was committed here;
                    // otherwise the join was abandoned and the keys stay ours.
                    if t.finished && self.ring.contains(&t.target) {
                        self.kv.retain(|k, _| !t.arc.contains_key(k));
                    }
                }
                // An abandoned join's newcomer never made the ring: the range up to it is
                // still ours, so the arc goes back to the ring's. (Found by `sim explore`:
                // the keys between it and the old successor were refused as "ring is
                // changing" for good.)
                if self.next.as_ref().is_some_and(|n| !self.ring.contains(n)) {
                    self.next = None;
                }
                self.locked = false;
                Outcome::Ok
            }
            GroupCommand::SetNext(next) => {
                self.next = Some(next.clone());
                Outcome::Ok
            }
            GroupCommand::BeginTransfer {
                end,
                transfer_id,
                part_size,
            } => match self.next.clone() {
                Some(target) => self.begin_transfer(target, end, *transfer_id, *part_size),
                None => Outcome::Rejected("transfer_range before next_addr".into()),
            },
            GroupCommand::HandOver {
                to,
                end,
                transfer_id,
                part_size,
            } => self.begin_transfer(to.clone(), end, *transfer_id, *part_size),
            GroupCommand::PartsAcked { transfer_id, parts } => {
                if let Some(t) = self
                    .transfer
                    .as_mut()
                    .filter(|t| t.transfer_id == *transfer_id)
                {
                    t.acked = t.acked.max(*parts);
                }
                Outcome::Ok
            }
            GroupCommand::FinishTransfer { transfer_id } => match &mut self.transfer {
                Some(t) if transfer_id.is_none_or(|id| id == t.transfer_id) => {
                    t.finished = true;
                    Outcome::Ok
                }
                Some(t) => Outcome::Rejected(format!(
                    "transfer {:016x} is not the current one ({:016x})",
                    transfer_id.unwrap_or_default(),
                    t.transfer_id
                )),
                None => Outcome::Rejected("no transfer in progress".into()),
            },
            GroupCommand::ReceivePart(part) => {
                if self.received.len() >= bounds::MAX_OPEN_TRANSFERS
                    && !self.received.contains_key(&part.transfer_id)
                {
                    let e = bounds::BoundsError::TooManyTransfers {
                        transfer_id: part.transfer_id,
                    };
                    return Outcome::Rejected(e.to_string());
                }
                let seen = self.received.entry(part.transfer_id).or_default();
                if seen.insert(part.part) {
                    for item in &part.items {
                        self.kv.insert(item.key.clone(), item.value.clone());
                    }
                    for entry in &part.sessions {
                        self.merge_session(entry);
                    }
                }
                Outcome::Ok
            }
            GroupCommand::AddMember(member) => {
                let was_member = self.is_member();
                // Once a view is held, views alone change the ring: they carry a version,
                // a `broadcast_node` carries none, so a stale one (held on the wire while
                // the ECS asked again elsewhere) cannot be told from a fresh one, and
                // applied after a removal it put the removed group back on the ring
                // (review-retry-stale-broadcast-node-after-removal). The ECS sends every
                // `broadcast_node` with the `cluster_view` that names the newcomer right
                // after it, so a group with a view misses nothing.
                if self.view.is_none() {
                    self.ring.insert(member.clone());
                }
                self.close_join_if_admitted(was_member);
                Outcome::Ok
            }
            GroupCommand::LearnGroup(group) => {
                let admins = group.members.iter().map(|m| m.admin.clone()).collect();
                self.groups.insert(group.ring.clone(), admins);
                Outcome::Ok
            }
            GroupCommand::SetView(view) => {
                let held = self.view.as_ref().map(|v| v.version);
                if let Err(e) = bounds::check_view_step(held, view.version) {
                    return Outcome::Rejected(e.to_string());
                }
                let was_member = self.is_member();
                if self.view.as_ref().is_none_or(|v| v.version <= view.version) {
                    // The view names every member: a removed one drops off the ring here.
                    let ring = Ring::new(view.nodes.iter().map(|n| n.ring.clone()));
                    let old = std::mem::replace(&mut self.ring, ring);
                    // The member this group pointed to left (a removal): its range is this
                    // group's now, up to the ring's next member. A `next` not yet on the
                    // ring (a newcomer mid-join) stays.
                    if self
                        .next
                        .as_ref()
                        .is_some_and(|n| old.contains(n) && !self.ring.contains(n))
                    {
                        self.next = None;
                    }
                    self.view = Some(view.clone());
                }
                self.close_join_if_admitted(was_member);
                Outcome::Ok
            }
        }
    }

    /// Closes the join this group is at if the command just applied put the group on the
    /// ring: that join admitted it, and the ECS sends a newcomer no tagged line of its
    /// join after announcing it, nor ever a `release_lock` (which closes a join at the
    /// predecessor). Left open, a copy of the join's `next_addr` held on the wire was
    /// applied whenever it came: after a removal had moved this group's `next` past a
    /// group that left the ring, it pointed `next` back at that group, and the keys
    /// between it and the real next member were refused "ring is changing" by every
    /// group for good (found by review:
    /// review-newcomers-held-next-addr-after-a-quiet-removal).
    fn close_join_if_admitted(&mut self, was_member: bool) {
        if !was_member && self.is_member() {
            self.join_closed = true;
        }
    }

    /// A request of ECS join `join`. Joins are numbered in the order the ECS runs them, one
    /// at a time, so a request of an older join than this group's latest, or of its latest
    /// once that one closed (its `release_lock`, or the view that admitted a newcomer), is
    /// a line that was delayed or resent: refused without effect (a repeated
    /// `release_lock` of the closed join is answered `ok`, in case the ECS missed the
    /// first answer).
    fn apply_for_join(&mut self, join: u64, command: &GroupCommand) -> Outcome {
        let closed = join == self.join && self.join_closed;
        if closed && matches!(command, GroupCommand::ReleaseLock) {
            return Outcome::Ok;
        }
        if join < self.join || closed {
            return Outcome::Rejected(format!(
                "stale request of join {join}: this group is at join {}{}",
                self.join,
                if self.join_closed { ", closed" } else { "" }
            ));
        }
        if join > self.join {
            if let Err(e) = bounds::check_join(join) {
                return Outcome::Rejected(e.to_string());
            }
            self.join = join;
            self.join_closed = false;
            // The parts received so far belong to older joins, whose requests (their
            // parts included) are refused as stale from now on: nothing is left to tell
            // apart. A member that receives one removal's range after another would
            // otherwise keep every transfer id and, at bounds::MAX_OPEN_TRANSFERS,
            // refuse every part of the next hand-over (found by review:
            // review-remove-receiver-takes-parts-after-16-hand-overs).
            self.received.clear();
            if !self.is_member() {
                // A group not on the ring holds only what an earlier, abandoned join
                // sent it: those keys may have changed or gone at their owner since.
                self.kv.clear();
            }
        }
        let outcome = self.apply(command);
        match command {
            GroupCommand::ReleaseLock if outcome == Outcome::Ok => self.join_closed = true,
            GroupCommand::BeginTransfer { .. } | GroupCommand::HandOver { .. }
                if outcome == Outcome::Ok =>
            {
                if let Some(t) = self.transfer.as_mut() {
                    t.join = Some(join);
                }
            }
            _ => {}
        }
        outcome
    }

    /// Starts sending `[target, end)` to `target` (a repeat of the transfer running is a
    /// no-op).
    fn begin_transfer(
        &mut self,
        target: HostPort,
        end: &HostPort,
        transfer_id: u64,
        part_size: u32,
    ) -> Outcome {
        let part_size = part_size as usize;
        if !self.locked {
            return Outcome::Rejected("transfer_range needs write_lock first".into());
        }
        if let Some(t) = &self.transfer {
            if t.target == target && &t.end == end {
                return Outcome::Ok;
            }
        }
        self.transfer = Some(Transfer {
            arc: Arc {
                start: member_position(&target),
                end: member_position(end),
            },
            target,
            end: end.clone(),
            transfer_id,
            part_size,
            finished: false,
            acked: 0,
            join: None,
        });
        Outcome::Ok
    }

    /// Takes a session entry that came with a hand-off, unless this group already knows a
    /// later command of that session (or the same one, with its answer).
    fn merge_session(&mut self, entry: &SessionEntry) {
        let incoming = Session::from_stored(entry.sequence, entry.key.clone(), &entry.answer);
        if self
            .sessions
            .get(entry.client_id)
            .is_none_or(|held| incoming.supersedes(held))
        {
            self.sessions.merge(entry.client_id, incoming);
        }
    }

    /// The session entries to move with a hand-off of `arc`: every session, since the
    /// receiver must refuse a client's older commands whatever key they name, but with its
    /// answer only when `arc` holds its key (a resend of that command goes where the key
    /// goes).
    pub fn sessions_in(&self, arc: &Arc) -> Vec<SessionEntry> {
        self.sessions
            .iter_by_use()
            .rev()
            .map(|(client_id, s)| s.to_entry(client_id, arc.contains_key(&s.key)))
            .collect()
    }

    /// The answer a session already decided for `req`: the recorded answer of a resent
    /// command, or a refusal of a command older than the session's last. `None` for a new
    /// command (or one without a session). Consulted before any lock or routing refusal,
    /// so a resend is never refused and then applied a second time elsewhere.
    pub fn session_answer(&self, req: &Request) -> Option<Outcome> {
        let tag = req.session?;
        let session = self.sessions.get(tag.client_id)?;
        let seq = session.sequence;
        if seq == tag.sequence {
            return match (session.resend_answer(&req.command), &session.answer) {
                (Some(answer), _) => Some(Outcome::Response(answer)),
                // Decided from the state where it is applied: see `unswapped_resend`.
                (None, SessionAnswer::NotSwapped) => None,
                // Applied, its answer is at the key's owner (or nowhere): send the client
                // there, or have it try again, but never apply it a second time.
                (None, _) => Some(Outcome::Refused(match self.route(&req.command) {
                    Route::Serve => Route::Retry("the answer of this command is not kept here"),
                    elsewhere => elsewhere,
                })),
            };
        }
        // A command the client gave up on, arriving after a newer one: applying it now
        // would undo a write the client already saw acknowledged.
        (seq > tag.sequence).then(|| {
            Outcome::Rejected(format!(
                "stale request: sequence {} after {seq} from client {}",
                tag.sequence, tag.client_id
            ))
        })
    }

    /// The answer to a resend of a compare-and-set that did not swap (see
    /// [`SessionAnswer::NotSwapped`]), decided at apply time on a key this group serves:
    /// "not swapped" with the value now while it differs from the expected one, else a
    /// retryable refusal. `None` when `req` is no such resend.
    fn unswapped_resend(&self, req: &Request) -> Option<Outcome> {
        let tag = req.session?;
        let session = self.sessions.get(tag.client_id)?;
        if session.sequence != tag.sequence || session.answer != SessionAnswer::NotSwapped {
            return None;
        }
        let refused = Outcome::Refused(Route::Retry(
            "a compare-and-set that did not swap is not run again once it would",
        ));
        let Command::CompareAndSet { key, expected, .. } = &req.command else {
            return Some(refused);
        };
        let current = self.kv.get(key);
        Some(if current == expected.as_ref() {
            refused
        } else {
            Outcome::Response(Response::CompareAndSet {
                swapped: false,
                current: current.cloned(),
            })
        })
    }

    fn apply_client(&mut self, req: &Request) -> Outcome {
        if let Some(decided) = self.session_answer(req) {
            return decided;
        }
        // Re-checked at apply time: a lock or ring change may have landed since the
        // command was admitted.
        match self.route(&req.command) {
            Route::Serve => {}
            refused => return Outcome::Refused(refused),
        }
        if let Some(decided) = self.unswapped_resend(req) {
            return decided;
        }
        let answer = match &req.command {
            Command::Get { key } => self.read(key),
            Command::Put { key, value } => {
                self.kv.insert(key.clone(), value.clone());
                Response::Stored
            }
            Command::Delete { key } => Response::Deleted(self.kv.remove(key).is_some()),
            Command::CompareAndSet { key, expected, new } => {
                let current = self.kv.get(key);
                if current == expected.as_ref() {
                    self.kv.insert(key.clone(), new.clone());
                    Response::CompareAndSet {
                        swapped: true,
                        current: Some(new.clone()),
                    }
                } else {
                    Response::CompareAndSet {
                        swapped: false,
                        current: current.cloned(),
                    }
                }
            }
        };
        if let Some(tag) = req.session {
            let session = Session::after(tag.sequence, req.command.key().clone(), &answer);
            self.sessions.record(tag.client_id, session);
        }
        Outcome::Response(answer)
    }
}

/// The text of a retryable 'e' message for `reason`.
pub fn retry_message(reason: &str) -> String {
    format!("{RETRYABLE_PREFIX}{reason}")
}
