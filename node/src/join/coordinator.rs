//! The ECS side of a join, and of a removal, as a sans-I/O state machine: [`Coordinator::step`] takes one
//! [`Input`] (an answer to what it asked for, a timer, or a request from a group or an
//! operator) and returns the [`Output`]s to carry out, in order.
//!
//! It owns every decision of the join: which join starts next, which step comes next
//! and what it sends, when to resend `transfer_range`, when to abandon, which `done` to
//! accept and what to answer. It never touches a socket, a file or a clock; its host (the
//! ECS's driver and admin port, or the exhaustive tests) does, and feeds the results back.
//!
//! # Driving it
//!
//! The driver feeds [`Input::Poll`] first. Every input of the driver's (`Poll`, `Acked`,
//! `TimedOut`, `DoneSeen`, `DeadlinePassed`, `AbortWoken`) is answered with outputs that
//! end in exactly one thing to do next: [`Output::Send`] (answer with `Acked`),
//! [`Output::AwaitDone`] (answer with `DoneSeen` once [`Coordinator::transfer_pending`] is
//! false, or `TimedOut`) or [`Output::Idle`] (answer with `Poll` once woken). An
//! [`Output::Begin`] before it starts a new step: if it is `abandonable`, race everything
//! up to the next `Begin` against the join's deadline (`DeadlinePassed`) and the abort
//! signal (`AbortWoken`).
//!
//! The admin port feeds `Register`, `Done` and `AbortJoin`; their outputs end in an
//! [`Output::Reply`], possibly after a `Persist` (whose failure is answered instead) and a
//! `Wake` or `SignalAbort` for the driver.
//!
//! A removal ([`Input::RemoveGroup`], see [`crate::join::step::Removal`]) is a second kind
//! of reconfiguration run by the same machine with the same steps, lines and waits
//! (its own parts are in `removal.rs`): one reconfiguration at a time, numbered from one
//! count, removals queued before joins.
//!
//! Every [`Output::Persist`] must be carried out before the outputs after it. A restart is
//! a new machine over the stored state: the step in progress is redone from its start,
//! which every receiver tolerates (each step is idempotent there).

use std::collections::VecDeque;

use protocol::ecs::{HostPort, NodeEntry, Register, Reply};

use super::plan::{hand_over, plan, plan_removal, transfer_range, Line, Next, Then};
use super::step::{Join, JoinStep};
use crate::ecs::state::EcsState;

mod removal;

/// An event the machine reacts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Driver: look for work (at start, and after [`Output::Idle`] once woken).
    Poll,
    /// Driver: the line of the last [`Output::Send`] was answered `ok`.
    Acked,
    /// Driver: the wait of [`Output::AwaitDone`] ran out.
    TimedOut,
    /// Driver: during [`Output::AwaitDone`], the transfer stopped being pending.
    DoneSeen,
    /// Driver: the deadline of the join in an abandonable step passed.
    DeadlinePassed,
    /// Driver: the abort signal ([`Output::SignalAbort`]) woke it in an abandonable step.
    AbortWoken,
    /// Admin port: a group asks to join.
    Register(Register),
    /// Admin port: a predecessor reports its hand-off done.
    Done {
        /// The sender's ring address, if it said.
        from: Option<HostPort>,
        /// The join it names (`None`: untagged, the current join).
        join: Option<u64>,
    },
    /// Admin port: an operator asks to abandon the join in progress.
    AbortJoin,
    /// Admin port: an operator asks to take the group at this ring address off the ring.
    RemoveGroup(HostPort),
}

/// What to do if writing the state fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persist {
    /// Stop the ECS: it must not act on a step it could not record.
    Fatal,
    /// Log it and go on (a later fatal write records the same).
    BestEffort,
    /// Answer the request `error could not record <what>: <why>` instead of its reply.
    OrRefuse(&'static str),
}

/// How a join (or a removal) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The newcomer is on the ring and the predecessor unlocked.
    Finished,
    /// The predecessor is unlocked and keeps its range; the newcomer is not on the ring.
    Abandoned,
    /// A removal: the leaving group is off the ring (its range is its predecessor's) and
    /// unlocked.
    Removed,
}

/// Something for the host to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Write [`Coordinator::state`] durably before anything after this.
    Persist(Persist),
    /// The driver starts performing `step` of join `join`.
    Begin {
        /// The join's number.
        join: u64,
        /// The step.
        step: JoinStep,
        /// The step may be cut short by the deadline or an operator's abort.
        abandonable: bool,
    },
    /// Send `request` to the group at `to` until one of its nodes (`admins`) answers `ok`;
    /// then feed [`Input::Acked`].
    Send {
        /// The group's ring address.
        to: HostPort,
        /// Its nodes' admin addresses, in the order to try them.
        admins: Vec<String>,
        /// The line.
        request: protocol::ecs::Request,
    },
    /// Wait for the predecessor's `done`, at most the transfer timeout.
    AwaitDone,
    /// Nothing to do until a group registers.
    Idle,
    /// Wake the driver if it is idle or awaiting `done`.
    Wake,
    /// Interrupt the driver's abandonable step with [`Input::AbortWoken`].
    SignalAbort,
    /// The answer to the admin port's request.
    Reply(Reply),
    /// A join or a removal ended (already recorded in the state).
    Closed {
        /// Its number.
        join: u64,
        /// The group that was joining (or leaving, for [`Closed::Removed`]).
        newcomer: HostPort,
        /// How.
        how: Closed,
    },
}

/// The step the driver is performing: not stored, since a restarted ECS redoes the
/// recorded step from its start.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    /// The step as it was when the driver began it; the recorded step may have moved on
    /// since (a `done` during the transfer step).
    step: JoinStep,
    /// Lines not yet answered `ok`; the first is in flight.
    lines: VecDeque<Line>,
    /// What follows the last.
    then: Then,
}

/// What a `done` did to the join or removal in progress.
enum DoneOutcome {
    /// The join moved from its transfer step to the broadcast.
    Advanced,
    /// Nothing to do: the transfer was already known done, or the `done` is of a join
    /// that finished (its sender resends until it sees `ok`).
    AlreadyKnown,
}

/// The ECS's join machine, over the ECS's whole state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coordinator {
    state: EcsState,
    run: Option<Run>,
    /// The number of the join an operator asked to abandon, so a request that arrives as
    /// one join ends cannot abandon the next.
    abort_requested: Option<u64>,
}

impl Coordinator {
    /// A machine over `state` as stored (or the default, at first start).
    pub fn new(state: EcsState) -> Coordinator {
        Coordinator {
            state,
            run: None,
            abort_requested: None,
        }
    }

    /// The state to persist.
    pub fn state(&self) -> &EcsState {
        &self.state
    }

    /// Whether the join or removal in progress still waits for its sender's `done`.
    pub fn transfer_pending(&self) -> bool {
        self.current_step() == Some(JoinStep::Transfer)
    }

    /// The step of the reconfiguration in progress (at most one is).
    fn current_step(&self) -> Option<JoinStep> {
        let removal = self.state.removal.as_ref().map(|r| r.step);
        removal.or(self.state.join.as_ref().map(|j| j.step))
    }

    /// Takes one input; returns what to carry out, in order (see the module docs).
    pub fn step(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Poll => self.begin(&mut out),
            Input::Acked => self.acked(&mut out),
            Input::TimedOut => self.timed_out(&mut out),
            Input::DoneSeen => {
                if self.transfer_pending() && self.awaiting_done() {
                    out.push(Output::AwaitDone);
                } else {
                    self.begin(&mut out);
                }
            }
            Input::DeadlinePassed => {
                if self.run_abandonable() {
                    tracing::warn!(
                        join = self.state.joins,
                        "join deadline passed; abandoning it"
                    );
                    self.advance(Next::Step(JoinStep::Abort), &mut out);
                } else {
                    self.begin(&mut out);
                }
            }
            Input::AbortWoken => {
                let asked = self.abort_requested.take();
                if asked == Some(self.state.joins) && self.run_abandonable() {
                    tracing::warn!(join = self.state.joins, "abandoning the join, as asked");
                    self.advance(Next::Step(JoinStep::Abort), &mut out);
                } else {
                    // A request for an earlier join: redo this step.
                    self.begin(&mut out);
                }
            }
            Input::Register(r) => self.register(r, &mut out),
            Input::Done { from, join } => match self.on_done(from.as_ref(), join) {
                Ok(DoneOutcome::Advanced) => out.extend([
                    Output::Persist(Persist::OrRefuse("done")),
                    Output::Wake,
                    Output::Reply(Reply::Ok),
                ]),
                Ok(DoneOutcome::AlreadyKnown) => out.push(Output::Reply(Reply::Ok)),
                Err(reason) => out.push(Output::Reply(Reply::Error(reason))),
            },
            Input::AbortJoin => out.extend(self.abort_join()),
            Input::RemoveGroup(group) => self.remove_group(group, &mut out),
        }
        out
    }

    /// Whether the step being run, and the step recorded, may still be abandoned: a
    /// `done` accepted while the driver was still resending `transfer_range` moved the
    /// recorded join to the broadcast, and a finished hand-off must not be thrown away.
    fn run_abandonable(&self) -> bool {
        self.run.as_ref().is_some_and(|r| r.step.abandonable())
            && self
                .state
                .join
                .as_ref()
                .is_some_and(|j| j.step.abandonable())
    }

    fn awaiting_done(&self) -> bool {
        self.run
            .as_ref()
            .is_some_and(|r| r.lines.is_empty() && r.then == Then::AwaitDone)
    }

    /// The head line of the step was answered `ok`: send the next, or finish the step.
    fn acked(&mut self, out: &mut Vec<Output>) {
        let Some(run) = self.run.as_mut() else {
            return self.begin(out);
        };
        run.lines.pop_front();
        if let Some(line) = run.lines.front().cloned() {
            return out.push(self.send(line));
        }
        let then = run.then;
        match then {
            // A `done` that came while the lines went out is taken at once.
            Then::AwaitDone if self.transfer_pending() => out.push(Output::AwaitDone),
            Then::AwaitDone => self.begin(out),
            Then::Advance(next) => self.advance(next, out),
        }
    }

    /// No `done` within the transfer timeout: resend `transfer_range`.
    fn timed_out(&mut self, out: &mut Vec<Output>) {
        let id = self.state.joins;
        let resend = match (&self.state.join, &self.state.removal) {
            _ if !(self.awaiting_done() && self.transfer_pending()) => None,
            (_, Some(removal)) => Some(hand_over(removal, id)),
            (Some(join), None) => join
                .predecessor
                .as_ref()
                .map(|p| transfer_range(p, join, id)),
            (None, None) => None,
        };
        match (resend, self.run.as_mut()) {
            (Some(line), Some(run)) => {
                tracing::warn!(group = %line.to, "no done yet; resending transfer_range");
                run.lines.push_back(line.clone());
                out.push(self.send(line));
            }
            _ => self.begin(out),
        }
    }

    /// Records where the join goes after a step, then begins what comes next.
    fn advance(&mut self, next: Next, out: &mut Vec<Output>) {
        self.record(next, out);
        self.begin(out);
    }

    fn record(&mut self, next: Next, out: &mut Vec<Output>) {
        self.run = None;
        let id = self.state.joins;
        match next {
            Next::Step(step) => {
                if let Some(r) = self.state.removal.as_mut() {
                    r.step = step;
                } else if let Some(j) = self.state.join.as_mut() {
                    j.step = step;
                }
            }
            Next::Removed => self.close_removal(id, out),
            Next::Finished | Next::Abandoned => {
                if let Some(join) = self.state.join.take() {
                    let how = if next == Next::Finished {
                        tracing::info!(group = %join.newcomer.ring, "join finished");
                        Closed::Finished
                    } else {
                        tracing::warn!(group = %join.newcomer.ring, "join abandoned; the group is not on the ring (it may register again)");
                        Closed::Abandoned
                    };
                    out.push(Output::Closed {
                        join: id,
                        newcomer: join.newcomer.ring,
                        how,
                    });
                }
            }
        }
        out.push(Output::Persist(Persist::Fatal));
    }

    /// Starts the recorded step of the join in progress (starting the next queued join
    /// first if none is), or idles.
    fn begin(&mut self, out: &mut Vec<Output>) {
        loop {
            self.run = None;
            if self.start_next_removal() || self.start_next_join() {
                out.push(Output::Persist(Persist::Fatal));
            }
            let id = self.state.joins;
            let (step, abandonable, plan) = if let Some(removal) = self.state.removal.clone() {
                tracing::info!(group = %removal.leaving, step = %removal.step, "removal step");
                if removal.step == JoinStep::Broadcast && self.drop_member(&removal.leaving) {
                    out.push(Output::Persist(Persist::BestEffort));
                }
                let plan = plan_removal(&removal, id, &self.state);
                (removal.step, false, plan)
            } else if let Some(join) = self.state.join.clone() {
                tracing::info!(group = %join.newcomer.ring, step = %join.step, "join step");
                if join.step == JoinStep::Broadcast && self.add_member(&join.newcomer.ring) {
                    out.push(Output::Persist(Persist::BestEffort));
                }
                let plan = plan(&join, id, &self.state);
                (join.step, join.step.abandonable(), plan)
            } else {
                return out.push(Output::Idle);
            };
            let Some(first) = plan.lines.front().cloned() else {
                match plan.then {
                    Then::Advance(next) => {
                        self.record(next, out);
                        continue;
                    }
                    // Every waiting step sends first; idle rather than spin.
                    Then::AwaitDone => return out.push(Output::Idle),
                }
            };
            out.push(Output::Begin {
                join: id,
                step,
                abandonable,
            });
            self.run = Some(Run {
                step,
                lines: plan.lines,
                then: plan.then,
            });
            return out.push(self.send(first));
        }
    }

    fn send(&self, line: Line) -> Output {
        let admins = self
            .state
            .admins_of(&line.to)
            .iter()
            .map(HostPort::to_string)
            .collect();
        Output::Send {
            to: line.to,
            admins,
            request: line.request,
        }
    }

    /// Puts the newcomer on the ring (once); true if it was not yet.
    fn add_member(&mut self, newcomer: &HostPort) -> bool {
        if self.state.members.contains(newcomer) {
            return false;
        }
        self.state.members.push(newcomer.clone());
        self.state.version += 1;
        true
    }

    /// Starts the next queued join, assigning node ids to the newcomer's members.
    /// Returns false if none is waiting or one is already running.
    fn start_next_join(&mut self) -> bool {
        let state = &mut self.state;
        if state.join.is_some() || state.removal.is_some() {
            return false;
        }
        // A group queued again while it was joining and admitted since has nothing left
        // to do.
        while state
            .queue
            .front()
            .is_some_and(|r| state.members.contains(&r.ring))
        {
            state.queue.pop_front();
        }
        let Some(newcomer) = state.queue.pop_front() else {
            return false;
        };
        for m in &newcomer.members {
            if !state.nodes.iter().any(|n| n.admin == m.admin) {
                state.nodes.push(NodeEntry {
                    id: state.nodes.len() as u32,
                    ring: newcomer.ring.clone(),
                    admin: m.admin.clone(),
                    client: m.client.clone(),
                });
            }
        }
        let (predecessor, successor) = match state.ring().neighbours_of(&newcomer.ring) {
            Some((p, s)) => (Some(p), s),
            None => (None, newcomer.ring.clone()),
        };
        state.join = Some(Join {
            newcomer,
            predecessor,
            successor,
            step: JoinStep::TellNewcomerNext,
        });
        state.joins += 1;
        true
    }

    /// Takes `done` from `from` (the sender's ring address, if it said) of join `tag`
    /// (`None`: the current join). A `done` of an older join never moves the current one.
    fn on_done(
        &mut self,
        from: Option<&HostPort>,
        tag: Option<u64>,
    ) -> Result<DoneOutcome, String> {
        let current = self.state.joins;
        let idle = self.state.join.is_none() && self.state.removal.is_none();
        match tag {
            Some(j) if j > current => {
                return Err(format!("done of join {j}, but only {current} began"))
            }
            Some(j) if j < current || idle => return Ok(DoneOutcome::AlreadyKnown),
            _ => {}
        }
        if self.state.removal.is_some() {
            return self.on_removal_done(from);
        }
        let Some(join) = self.state.join.as_mut() else {
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

    /// A group's `register`: queued unless a member or queued already; refused if one of
    /// its nodes belongs to another group.
    ///
    /// A registration of the group joining now comes from a member that (re)started
    /// during the join (or asks again, see the node's `register_every`): it is queued
    /// again, so that if this join is abandoned (the newcomer was down at its deadline)
    /// the group, alive, still gets its turn. A join that succeeds makes the copy moot
    /// (`start_next_join` skips it). Found by `sim explore`
    /// (split-transfer-receiver-crash, seed 1).
    fn register(&mut self, r: Register, out: &mut Vec<Output>) {
        if r.members.is_empty() {
            return out.push(Output::Reply(Reply::Error(
                "register needs at least one member <admin host:port>/<client host:port>".into(),
            )));
        }
        if let Some(refusal) = self.refuse_removed(&r.ring) {
            return out.push(refusal);
        }
        let state = &mut self.state;
        let queued = state.queue.iter().any(|q| q.ring == r.ring);
        if state.members.contains(&r.ring) || queued {
            return out.push(Output::Reply(Reply::Ok));
        }
        if let Some(n) = state
            .nodes
            .iter()
            .find(|n| r.members.iter().any(|m| m.admin == n.admin) && n.ring != r.ring)
        {
            return out.push(Output::Reply(Reply::Error(format!(
                "node {} already belongs to group {}",
                n.admin, n.ring
            ))));
        }
        tracing::info!(group = %r.ring, queued = state.queue.len(), "group registered");
        state.queue.push_back(r);
        out.extend([
            Output::Persist(Persist::OrRefuse("the registration")),
            Output::Wake,
            Output::Reply(Reply::Ok),
        ]);
    }

    /// An operator's `abort_join`: the driver abandons the join in progress if it has not
    /// announced the new ring yet.
    fn abort_join(&mut self) -> Vec<Output> {
        if self.state.removal.is_some() {
            return vec![Output::Reply(Reply::Error(format!(
                "reconfiguration {} is a removal, which is never abandoned (the receiver may \
                 hold part of the range already); it finishes once the leaving group reports done",
                self.state.joins
            )))];
        }
        let reply = match &self.state.join {
            None => Reply::Error("no join in progress".into()),
            Some(j) if j.step == JoinStep::Abort => Reply::Ok,
            Some(j) if !j.step.abandonable() => Reply::Error(format!(
                "join {} has announced the new ring; it can only finish",
                self.state.joins
            )),
            Some(_) => {
                self.abort_requested = Some(self.state.joins);
                return vec![Output::SignalAbort, Output::Reply(Reply::Ok)];
            }
        };
        vec![Output::Reply(reply)]
    }
}
