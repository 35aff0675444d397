//! The sending side of a range hand-off as a sans-I/O state machine: [`HandOff::step`]
//! decides which parts remain to send, when to record the transfer finished, when to tell
//! the ECS `done`, and when to stop. Its host (`server::transfer`) sends the parts, makes
//! the group's proposals and feeds back what happened.
//!
//! One machine serves one run of the hand-off task at the group's leader: a new leader
//! (or the same one after a restart) builds a new machine from the transfer as the log
//! recorded it, and resumes after the parts already acknowledged.
//!
//! Up to a window of parts is out at once. The receiver takes parts in any order (it
//! dedups by part number) and its leader syncs the parts that arrive together in one
//! write, so a window of `w` parts costs about one receiver commit where one part at a
//! time cost `w`: with slow disks, one part at a time made a hand-off of a few dozen
//! parts outlast the join deadline (scenarios/regressions/join-never-finishes-slow-fsync-tiny-parts-5476.toml).
//! The log records only the acknowledged prefix (`PartsAcked` counts parts from 0), so a
//! new leader resends any part past a gap.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use protocol::ecs::{HostPort, Item, PutPart, Request, SessionEntry};

use super::parts::split;
use crate::group::{GroupCommand, Transfer};

/// An event the machine reacts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Begin (once, first).
    Start,
    /// The receiving group answered `ok` to the part of this number, sent by an
    /// [`Output::SendPart`]: it is durable there.
    PartTaken(u32),
    /// Before an attempt to send a part, or before proposing the finish,
    /// [`HandOff::still_on`] said the group no longer has this transfer.
    CalledOff,
    /// What became of [`Output::ProposeFinish`].
    Finish(FinishOutcome),
    /// The ECS answered `ok` to [`Output::SendDone`].
    DoneTaken,
}

/// What became of the proposal to record the transfer finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinishOutcome {
    /// Committed and applied with outcome `ok`.
    Recorded,
    /// Applied, but the group refused it (it has no transfer any more): why.
    Refused(String),
    /// Not applied (no longer leader, storage failure): why.
    Failed(String),
}

/// Why the hand-off task ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The ECS took `done`.
    Reported,
    /// The group no longer has the transfer (released or replaced) while parts went out.
    CalledOff,
    /// The group refused to record the transfer finished.
    Ended,
    /// The finish could not be recorded here; a later leader resumes.
    FinishFailed,
}

/// Something for the host to carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Send this `ecs_put` line to the receiving group until one of its nodes answers
    /// `ok` or [`HandOff::still_on`] turns false before an attempt; feed
    /// [`Input::PartTaken`] with its part number, or [`Input::CalledOff`]. Parts already
    /// out stay out: each is answered on its own, in any order.
    SendPart {
        /// The part's number, for [`Input::PartTaken`].
        part: u32,
        /// Its `ecs_put` line, tagged with the join.
        request: Request,
    },
    /// Propose this on the side, without waiting: if it is lost, a new leader only
    /// resends more parts.
    RecordAcked(GroupCommand),
    /// Propose [`GroupCommand::FinishTransfer`] and feed [`Input::Finish`]; but if
    /// [`HandOff::still_on`] is false by now, feed [`Input::CalledOff`] instead.
    ProposeFinish,
    /// Send this `done` line to the ECS until it answers `ok`; feed [`Input::DoneTaken`].
    SendDone(Request),
    /// The task is over.
    Stop(Stop),
}

/// Where the hand-off is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Not started.
    Idle,
    /// Parts are out (`in_flight`) or remain (`unsent`).
    Sending,
    /// `FinishTransfer` is proposed.
    Finishing,
    /// `done` is out.
    Reporting,
    /// Stopped.
    Over,
}

/// One run of a hand-off at the sending group's leader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandOff {
    transfer_id: u64,
    join: Option<u64>,
    /// The sending group's ring address, named in `done`.
    from: HostPort,
    /// The log says the receiver has every part and the transfer is finished.
    finished: bool,
    /// Parts not yet sent in this run, in order.
    unsent: VecDeque<PutPart>,
    /// Parts sent and not yet acknowledged: their key and value bytes, by number.
    in_flight: BTreeMap<u32, u64>,
    /// Parts acknowledged past the first gap: recorded once the gap closes.
    taken_ahead: BTreeSet<u32>,
    /// Parts `0..acked` are acknowledged (this run or, as the log says, before it).
    acked: u32,
    /// The most parts out at once.
    window: usize,
    /// Every part of the transfer (acknowledged before this run or not), for progress
    /// logs; with `bytes_acked`, a function of the other fields, so no state of its own.
    parts_total: usize,
    /// Key and value bytes of the parts acknowledged so far in this run.
    bytes_acked: u64,
    phase: Phase,
}

impl HandOff {
    /// A run for `transfer` as the log recorded it, sending `items` and `sessions` (the
    /// range's, unchanged while the group is write-locked) with up to `window` parts out
    /// at once (at least one). `from` is the sending group's ring address.
    pub fn new(
        transfer: &Transfer,
        from: HostPort,
        items: Vec<Item>,
        sessions: Vec<SessionEntry>,
        window: usize,
    ) -> HandOff {
        let mut parts_total = 0;
        let unsent = if transfer.finished {
            VecDeque::new()
        } else {
            // The part size recorded with the transfer, so every run cuts the same parts.
            let parts = split(transfer.transfer_id, items, sessions, transfer.part_size);
            let total_items: usize = parts.iter().map(|p| p.items.len()).sum();
            tracing::info!(
                transfer = transfer.transfer_id,
                to = %transfer.target,
                parts = parts.len(),
                items = total_items,
                "handing off range"
            );
            parts_total = parts.len();
            // Parts a leader before this one saw acknowledged are durable at the receiver.
            parts.into_iter().skip(transfer.acked as usize).collect()
        };
        HandOff {
            transfer_id: transfer.transfer_id,
            join: transfer.join,
            from,
            finished: transfer.finished,
            unsent,
            in_flight: BTreeMap::new(),
            taken_ahead: BTreeSet::new(),
            acked: transfer.acked,
            window: window.max(1),
            parts_total,
            bytes_acked: 0,
            phase: Phase::Idle,
        }
    }

    /// Whether to go on sending, given the id of the transfer the group has now: the join
    /// may be abandoned (the ECS released the lock) or replaced while parts go out.
    pub fn still_on(&self, current: Option<u64>) -> bool {
        current == Some(self.transfer_id)
    }

    /// The transfer this hand-off sends (its `FinishTransfer` names it).
    pub fn transfer_id(&self) -> u64 {
        self.transfer_id
    }

    /// What to tell the ECS about this hand-off's headway, while parts go out: `progress
    /// <acked> <total>` of its join. None for a transfer of no numbered join (the ECS
    /// could not tell which join it is), outside the sending phase, and before any part
    /// was acknowledged.
    pub fn progress(&self) -> Option<Request> {
        let done = self.parts_done();
        let join = self
            .join
            .filter(|_| self.phase == Phase::Sending && done > 0)?;
        let progress = Request::Progress {
            acked: u32::try_from(done).unwrap_or(u32::MAX),
            total: u32::try_from(self.parts_total).unwrap_or(u32::MAX),
        };
        Some(progress.for_join(join))
    }

    /// Parts acknowledged so far, in this run or before it.
    fn parts_done(&self) -> usize {
        self.parts_total
            .saturating_sub(self.unsent.len() + self.in_flight.len())
    }

    /// Takes one input; returns what to carry out, in order. An input the machine did not
    /// ask for returns nothing.
    pub fn step(&mut self, input: Input) -> Vec<Output> {
        match (self.phase, input) {
            (Phase::Idle, Input::Start) if self.finished => self.report(),
            (Phase::Idle, Input::Start) => {
                self.phase = Phase::Sending;
                self.send_more(Vec::new())
            }
            (Phase::Sending, Input::PartTaken(part)) => {
                let Some(bytes) = self.in_flight.remove(&part) else {
                    return Vec::new();
                };
                self.log_progress(bytes);
                self.taken_ahead.insert(part);
                let before = self.acked;
                while self.taken_ahead.remove(&self.acked) {
                    self.acked += 1;
                }
                let mut out = Vec::new();
                if self.acked > before {
                    out.push(Output::RecordAcked(GroupCommand::PartsAcked {
                        transfer_id: self.transfer_id,
                        parts: self.acked,
                    }));
                }
                self.send_more(out)
            }
            // The group no longer has this transfer: it was released (the join was
            // abandoned), or released and replaced by the next join's, whose transfer a
            // finish must never mark done before any of its parts was sent: stop. (The
            // group refuses a FinishTransfer naming another transfer too.)
            (Phase::Sending | Phase::Finishing, Input::CalledOff) => {
                tracing::warn!(
                    transfer = self.transfer_id,
                    "the transfer was called off; no finish, no done"
                );
                self.stop(Stop::CalledOff)
            }
            (Phase::Finishing, Input::Finish(FinishOutcome::Recorded)) => self.report(),
            (Phase::Finishing, Input::Finish(FinishOutcome::Refused(why))) => {
                // The group no longer has this transfer (the join was released while the
                // parts went out): telling the ECS `done` would finish a join whose range
                // was not sent.
                tracing::warn!(outcome = %why, "the transfer ended before it finished; no done");
                self.stop(Stop::Ended)
            }
            (Phase::Finishing, Input::Finish(FinishOutcome::Failed(why))) => {
                tracing::error!(error = %why, "could not record the finished transfer");
                self.stop(Stop::FinishFailed)
            }
            (Phase::Reporting, Input::DoneTaken) => {
                tracing::info!(transfer = self.transfer_id, "hand-off reported done");
                self.stop(Stop::Reported)
            }
            _ => Vec::new(),
        }
    }

    /// Sends parts until the window is full, or proposes the finish once every part is
    /// acknowledged.
    fn send_more(&mut self, mut out: Vec<Output>) -> Vec<Output> {
        while self.in_flight.len() < self.window {
            let Some(part) = self.unsent.pop_front() else {
                break;
            };
            let bytes: usize = part.items.iter().map(|i| i.key.len() + i.value.len()).sum();
            self.in_flight.insert(part.part, bytes as u64);
            out.push(Output::SendPart {
                part: part.part,
                request: self.tagged(Request::EcsPut(part)),
            });
        }
        if self.unsent.is_empty() && self.in_flight.is_empty() {
            self.phase = Phase::Finishing;
            out.push(Output::ProposeFinish);
        }
        out
    }

    /// One line per tenth of the parts (or per part, for ten or fewer) at the default
    /// level: an operator sees a long hand-off move without a line per part.
    fn log_progress(&mut self, bytes: u64) {
        self.bytes_acked += bytes;
        let total = self.parts_total.max(1);
        let done = self.parts_done();
        if done * 10 / total > done.saturating_sub(1) * 10 / total {
            tracing::info!(
                transfer = self.transfer_id,
                parts = %format!("{done}/{total}"),
                bytes_this_run = self.bytes_acked,
                "hand-off progress"
            );
        }
    }

    fn report(&mut self) -> Vec<Output> {
        self.phase = Phase::Reporting;
        vec![Output::SendDone(
            self.tagged(Request::Done(Some(self.from.clone()))),
        )]
    }

    fn stop(&mut self, why: Stop) -> Vec<Output> {
        self.phase = Phase::Over;
        vec![Output::Stop(why)]
    }

    /// `request` tagged with the transfer's join, if it has a number.
    fn tagged(&self, request: Request) -> Request {
        match self.join {
            Some(join) => request.for_join(join),
            None => request,
        }
    }
}
