//! The hand-off sender explored exhaustively: for transfers of 0 to 4 parts, resumed
//! from every recorded acknowledgement, with windows of 1 to 3 parts out at once, every
//! interleaving of the machine's progress (parts answered in any order, acknowledgement
//! records committing in any order) with up to `FAULTS` faults (an acknowledgement record
//! lost, the finish failing, a new leader taking over mid-way, the ECS releasing the
//! lock, the next join replacing the transfer) at every point. The group's log and the
//! receiver are modelled, and the invariants checked at every output.

use std::collections::{BTreeMap, BTreeSet};

use protocol::ecs::{HostPort, Item, Request};

use crate::group::{GroupCommand, Transfer};
use crate::join::parts::split;
use crate::join::sender::{FinishOutcome, HandOff, Input, Output, Stop};
use crate::ring::{member_position, Arc};

/// The most faults on one path.
const FAULTS: usize = 5;

fn hp(s: &str) -> HostPort {
    s.parse().unwrap()
}

/// The transfer as the sending group's log records it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Recorded {
    id: u64,
    acked: u32,
    finished: bool,
    parts: u32,
}

/// A fault the explorer may inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    /// A `PartsAcked` proposal never commits.
    LoseRecord,
    /// The finish is not recorded (leadership lost while it was proposed).
    FinishFails,
    /// The leader changes: this run ends, a new leader's run starts from the log.
    NewLeader,
    /// The ECS abandons the join: `release_lock` takes the transfer away.
    Release,
    /// The ECS abandons the join and the next join begins a new transfer here (another
    /// id, nothing acknowledged) while this run still sends.
    Replace,
}

const ALL_FAULTS: [Fault; 5] = [
    Fault::LoseRecord,
    Fault::FinishFails,
    Fault::NewLeader,
    Fault::Release,
    Fault::Replace,
];

#[derive(Debug, Clone)]
struct World {
    /// The group's transfer now (`None`: released).
    group: Option<Recorded>,
    /// Parts durable at the receiver, per transfer id.
    received: BTreeMap<u64, BTreeSet<u32>>,
    /// The running task's machine and the outputs it has not carried out yet, other than
    /// its parts and acknowledgement records (carried out at once, answered later).
    run: Option<(HandOff, Vec<Output>)>,
    /// The most parts a run may have out at once.
    window: usize,
    /// The run's parts out, not yet answered.
    out: BTreeSet<u32>,
    /// `PartsAcked` proposals not yet committed or lost that would still change the log
    /// (they outlive the run that made them: an old leader's proposal may still commit).
    records: BTreeSet<(u64, u32)>,
    /// The run's first part: parts below it are acknowledged in the log.
    floor: u32,
    /// The parts the receiver took in this run.
    run_taken: BTreeSet<u32>,
    /// The most parts this run recorded acknowledged (from `floor`).
    run_recorded: u32,
    /// The last part the run sent.
    last_sent: Option<u32>,
    /// The run was called off: it may send nothing more.
    called_off: bool,
    /// The transfer the run sends.
    run_id: u64,
    /// `done`s the ECS took, per transfer id.
    reported: BTreeSet<u64>,
    /// Transfer ids whose finish the log recorded.
    finished_ids: BTreeSet<u64>,
    history: super::Trail<Move>,
}

fn transfer(rec: &Recorded) -> (Transfer, Vec<Item>) {
    let target = hp("n:1");
    let transfer = Transfer {
        arc: Arc {
            start: member_position(&target),
            end: member_position(&hp("e:1")),
        },
        target,
        end: hp("e:1"),
        transfer_id: rec.id,
        part_size: 1,
        finished: rec.finished,
        acked: rec.acked,
        join: Some(7),
    };
    let items = (0..rec.parts)
        .map(|i| Item::new(format!("key{i}"), format!("value{i}")))
        .collect();
    (transfer, items)
}

impl World {
    fn new(parts: u32, acked: u32, window: usize) -> World {
        let mut w = World {
            group: Some(Recorded {
                id: 1,
                acked,
                finished: false,
                parts,
            }),
            received: BTreeMap::from([(1, (0..acked).collect())]),
            run: None,
            window,
            out: BTreeSet::new(),
            records: BTreeSet::new(),
            floor: 0,
            run_taken: BTreeSet::new(),
            run_recorded: 0,
            last_sent: None,
            called_off: false,
            run_id: 1,
            reported: BTreeSet::new(),
            finished_ids: BTreeSet::new(),
            history: super::Trail::default(),
        };
        w.start_run();
        w
    }

    fn fail(&self, what: String) -> ! {
        panic!("{what}\npath:\n  {}", self.history.join("\n  "))
    }

    /// A leader starts the hand-off task: it reads the transfer from its log.
    fn start_run(&mut self) {
        // The old run's parts are aborted with it.
        self.out.clear();
        let Some(rec) = self.group.clone() else {
            self.run = None;
            return;
        };
        let (t, items) = transfer(&rec);
        let mut machine = HandOff::new(&t, hp("p:1"), items, Vec::new(), self.window);
        self.floor = rec.acked;
        self.run_taken.clear();
        self.run_recorded = rec.acked;
        self.run_id = rec.id;
        self.last_sent = None;
        self.called_off = false;
        let outputs = machine.step(Input::Start);
        self.run = Some((machine, Vec::new()));
        self.take(outputs);
    }

    /// Everything but the trail, which does not change what follows.
    fn key(&self, faults_left: usize) -> u64 {
        super::fingerprint(&[
            &self.group,
            &self.received,
            &self.run,
            &self.out,
            &self.records,
            &self.floor,
            &self.run_taken,
            &self.run_recorded,
            &self.last_sent,
            &self.called_off,
            &self.run_id,
            &self.reported,
            &self.finished_ids,
            &faults_left,
        ])
    }

    fn our_id(&self) -> u64 {
        self.run_id
    }

    /// Checks each new output as the machine gives it; parts go out and records are
    /// proposed at once, the rest waits its turn.
    fn take(&mut self, outputs: Vec<Output>) {
        for o in outputs {
            if self.called_off && !matches!(o, Output::Stop(_)) {
                self.fail(format!(
                    "{} after the transfer was called off",
                    describe(&o)
                ));
            }
            match &o {
                Output::SendPart {
                    part: number,
                    request: Request::ForJoin { join: 7, request },
                } => {
                    let Request::EcsPut(part) = &**request else {
                        self.fail("a part that is not ecs_put".into())
                    };
                    if part.part < self.floor {
                        self.fail(format!(
                            "resent part {} below the acknowledged {}",
                            part.part, self.floor
                        ));
                    }
                    if part.part != *number {
                        self.fail(format!("part {} sent as {number}", part.part));
                    }
                    if self.last_sent.is_some_and(|l| part.part <= l) {
                        self.fail(format!(
                            "part {} after part {:?}",
                            part.part, self.last_sent
                        ));
                    }
                    self.last_sent = Some(part.part);
                    self.out.insert(part.part);
                    if self.out.len() > self.window {
                        self.fail(format!(
                            "{} parts out, window {}",
                            self.out.len(),
                            self.window
                        ));
                    }
                    continue;
                }
                Output::SendPart { request, .. } => {
                    self.fail(format!("an untagged part {request:?}"))
                }
                Output::RecordAcked(GroupCommand::PartsAcked { transfer_id, parts }) => {
                    // Only parts the receiver holds may be recorded: a new leader resumes
                    // after them and never sends them again.
                    let held = self.received.get(transfer_id).cloned().unwrap_or_default();
                    if *transfer_id != self.our_id() || !(0..*parts).all(|p| held.contains(&p)) {
                        self.fail(format!(
                            "recorded {parts} parts of {transfer_id} acknowledged; the receiver holds {held:?}"
                        ));
                    }
                    // And exactly the parts taken without a gap: a new leader should not
                    // resend what the receiver has.
                    if *parts != self.taken_prefix() {
                        self.fail(format!(
                            "recorded {parts} parts acknowledged; the run's receiver took {:?} from {}",
                            self.run_taken, self.floor
                        ));
                    }
                    self.run_recorded = *parts;
                    self.records.insert((*transfer_id, *parts));
                    self.drop_moot_records();
                    continue;
                }
                Output::RecordAcked(other) => self.fail(format!("recorded {other:?}")),
                Output::SendDone(request) => {
                    if !self.finished_ids.contains(&self.our_id()) {
                        self.fail("done before the finish was recorded".into());
                    }
                    if request.untagged().0 != Some(7) {
                        self.fail("done without its join".into());
                    }
                }
                Output::ProposeFinish | Output::Stop(_) => {}
            }
            if let Some((_, pending)) = self.run.as_mut() {
                pending.push(o);
            }
        }
        self.check_progress();
    }

    /// What the run would tell the ECS now (`progress`) claims no part the receiver does
    /// not hold durably for this transfer, and names the transfer's join and size: the
    /// ECS keeps a join from its deadline on it.
    fn check_progress(&self) {
        let Some((machine, _)) = &self.run else {
            return;
        };
        let Some(request) = machine.progress() else {
            return;
        };
        let (join, Request::Progress { acked, total }) = request.untagged() else {
            self.fail(format!("progress reported as {request}"));
        };
        let held = self.received.get(&self.run_id).map_or(0, |r| r.len());
        let parts = self.group.as_ref().map(|g| g.parts);
        if join != Some(7) || *acked as usize > held || *acked == 0 {
            self.fail(format!("{request} while the receiver holds {held} parts"));
        }
        if self.group.as_ref().map(|g| g.id) == Some(self.run_id) && Some(*total) != parts {
            self.fail(format!("{request} of a transfer of {parts:?} parts"));
        }
    }

    /// Carries out the run's next output (progress), or `None` if it has none.
    fn moves(&self, faults_left: usize) -> Vec<Move> {
        let mut moves = Vec::new();
        // A record commits whenever (or is lost, below).
        moves.extend(
            self.records
                .iter()
                .map(|&(id, parts)| Move::Record(id, parts)),
        );
        match self.run.as_ref().map(|(_, p)| p.first()) {
            Some(Some(_)) => moves.push(Move::Next),
            // The task waits for its parts' answers, in any order.
            Some(None) if !self.out.is_empty() => {
                for &part in &self.out {
                    moves.push(Move::Taken(part));
                    if !self.still_on() {
                        moves.push(Move::CalledOff(part));
                    }
                }
            }
            Some(None) => self.fail("a run waits for nothing".into()),
            // The task ended: the ECS resends transfer_range until done, which starts
            // another run while the group still has an unreported transfer.
            None => {
                if self
                    .group
                    .as_ref()
                    .is_some_and(|g| !self.reported.contains(&g.id))
                {
                    moves.push(Move::Resume);
                }
            }
        }
        if faults_left > 0 && self.run.is_some() {
            for f in ALL_FAULTS {
                let pending = self.run.as_ref().and_then(|(_, p)| p.first());
                let possible = match f {
                    Fault::LoseRecord => !self.records.is_empty(),
                    Fault::FinishFails => matches!(pending, Some(Output::ProposeFinish)),
                    Fault::NewLeader => true,
                    Fault::Release => self.group.is_some(),
                    Fault::Replace => self.group.as_ref().is_some_and(|g| g.id == 1),
                };
                if possible {
                    moves.push(Move::Fault(f));
                }
            }
        }
        moves
    }

    fn still_on(&self) -> bool {
        let current = self.group.as_ref().map(|g| g.id);
        self.run.as_ref().is_some_and(|(m, _)| m.still_on(current))
    }

    fn feed(&mut self, input: Input) {
        let Some((machine, _)) = self.run.as_mut() else {
            return;
        };
        let outputs = machine.step(input);
        // Fed only inputs it asked for, the machine must answer each with its next effect
        // or a Stop while no other part is out: an empty answer leaves the shell's task
        // ending without saying why, or a run that neither goes on nor stops.
        if self.out.is_empty() && !outputs.iter().any(is_effect_or_stop) {
            self.fail(format!(
                "an awaited input got no effect and no stop: {outputs:?}"
            ));
        }
        self.take(outputs);
    }

    fn pop(&mut self) -> Output {
        let (_, pending) = self.run.as_mut().unwrap();
        pending.remove(0)
    }

    /// The parts acknowledged without a gap: the log's before the run, then the run's.
    fn taken_prefix(&self) -> u32 {
        (self.floor..)
            .find(|p| !self.run_taken.contains(p))
            .unwrap_or(self.floor)
    }

    /// Forgets records that can no longer change the log (their transfer is gone or
    /// already records as much), so equal states look equal.
    fn drop_moot_records(&mut self) {
        let group = self.group.clone();
        self.records.retain(|&(id, parts)| {
            group
                .as_ref()
                .is_some_and(|g| g.id == id && g.acked < parts)
        });
    }

    fn play(&mut self, m: Move) {
        self.history.push(m);
        match m {
            Move::Taken(part) => {
                self.out.remove(&part);
                self.received.entry(self.run_id).or_default().insert(part);
                self.run_taken.insert(part);
                self.feed(Input::PartTaken(part));
                if self.run.is_some() && self.run_recorded != self.taken_prefix() {
                    self.fail(format!(
                        "took part {part}: {} parts acknowledged without a gap, {} recorded",
                        self.taken_prefix(),
                        self.run_recorded
                    ));
                }
            }
            Move::CalledOff(part) => {
                self.out.remove(&part);
                self.called_off = true;
                self.feed(Input::CalledOff);
            }
            Move::Record(transfer_id, parts) => {
                self.records.remove(&(transfer_id, parts));
                if let Some(g) = self.group.as_mut().filter(|g| g.id == transfer_id) {
                    g.acked = g.acked.max(parts);
                }
            }
            Move::Next => match self.pop() {
                Output::ProposeFinish if !self.still_on() => {
                    self.called_off = true;
                    self.feed(Input::CalledOff);
                }
                Output::ProposeFinish => {
                    // FinishTransfer names no transfer: it finishes whichever the group has.
                    if let Some(g) = &self.group {
                        let all: BTreeSet<u32> = (0..g.parts).collect();
                        let held = self.received.get(&g.id).cloned().unwrap_or_default();
                        if !held.is_superset(&all) {
                            self.fail(format!(
                                "transfer {} finished before the receiver had every part",
                                g.id
                            ));
                        }
                    }
                    let outcome = match self.group.as_mut() {
                        Some(g) => {
                            g.finished = true;
                            self.finished_ids.insert(g.id);
                            FinishOutcome::Recorded
                        }
                        None => FinishOutcome::Refused("no transfer in progress".into()),
                    };
                    self.feed(Input::Finish(outcome));
                }
                Output::SendDone(_) => {
                    self.reported.insert(self.our_id());
                    self.feed(Input::DoneTaken);
                }
                Output::Stop(why) => {
                    if why == Stop::Reported && !self.reported.contains(&self.our_id()) {
                        self.fail("stopped as reported without a done".into());
                    }
                    self.run = None;
                    // Its parts' tasks end with it.
                    self.out.clear();
                }
                other => self.fail(format!("unexpected pending {other:?}")),
            },
            Move::Resume => self.start_run(),
            Move::Fault(Fault::LoseRecord) => {
                self.records.pop_first();
            }
            Move::Fault(Fault::FinishFails) => {
                self.pop();
                self.feed(Input::Finish(FinishOutcome::Failed("not leader".into())));
            }
            Move::Fault(Fault::NewLeader) => self.start_run(),
            Move::Fault(Fault::Release) => {
                // release_lock drops the range only if the transfer finished and the ring
                // names the receiver; here it is abandoned, so the range stays.
                self.group = None;
            }
            Move::Fault(Fault::Replace) => {
                let parts = self.group.as_ref().map_or(0, |g| g.parts);
                self.group = Some(Recorded {
                    id: 2,
                    acked: 0,
                    finished: false,
                    parts,
                });
            }
        }
        self.drop_moot_records();
    }

    /// At quiescence: a transfer still held was finished with every part received and
    /// reported; a released one was never reported unfinished.
    fn check_end(&self) {
        if let Some(g) = &self.group {
            if !g.finished || !self.reported.contains(&g.id) {
                self.fail(format!(
                    "transfer {} held but not finished and reported",
                    g.id
                ));
            }
        }
    }
}

fn describe(o: &Output) -> String {
    match o {
        Output::SendPart { part, .. } => format!("send part {part}"),
        other => format!("{other:?}"),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Move {
    /// The receiver took this part out.
    Taken(u32),
    /// The attempt to send this part found the transfer gone.
    CalledOff(u32),
    /// This acknowledgement record (transfer, parts) committed.
    Record(u64, u32),
    /// The run's next pending output is carried out.
    Next,
    Resume,
    Fault(Fault),
}

/// Explores every path from `world`; returns the number of complete paths. `seen` holds
/// the count below every state already explored.
fn explore(world: &World, faults_left: usize, depth: usize, seen: &mut BTreeMap<u64, u64>) -> u64 {
    let key = world.key(faults_left);
    if let Some(&paths) = seen.get(&key) {
        return paths;
    }
    let moves = world.moves(faults_left);
    if moves.is_empty() {
        world.check_end();
        seen.insert(key, 1);
        return 1;
    }
    if depth > 200 {
        world.fail("no quiescence".into());
    }
    let mut paths: u64 = 0;
    for m in moves {
        let mut next = world.clone();
        next.play(m);
        let left = faults_left - usize::from(matches!(m, Move::Fault(_)));
        paths = paths.saturating_add(explore(&next, left, depth + 1, seen));
    }
    seen.insert(key, paths);
    paths
}

#[test]
fn every_interleaving_keeps_the_hand_off_invariants() {
    let mut total: u64 = 0;
    let mut states = 0;
    for (parts, window) in (0..=3u32).flat_map(|p| (1..=3usize).map(move |w| (p, w))) {
        let (t, items) = transfer(&Recorded {
            id: 1,
            acked: 0,
            finished: false,
            parts,
        });
        // One item per part, so the model's part count is the machine's.
        assert_eq!(split(1, items, Vec::new(), t.part_size).len() as u32, parts);
        for acked in 0..=parts {
            let mut seen = BTreeMap::new();
            total = total.saturating_add(explore(
                &World::new(parts, acked, window),
                FAULTS,
                0,
                &mut seen,
            ));
            states += seen.len();
        }
    }
    println!("hand-off: {total} paths ({states} distinct states)");
    assert!(total > 1_000, "the exploration shrank: {total} paths");
}

/// A run that starts from a finished transfer only reports `done`; one that starts
/// after some acknowledged parts sends only the rest.
#[test]
fn a_resumed_hand_off_skips_what_the_log_says() {
    let rec = Recorded {
        id: 1,
        acked: 2,
        finished: false,
        parts: 3,
    };
    let (t, items) = transfer(&rec);
    let mut m = HandOff::new(&t, hp("p:1"), items.clone(), Vec::new(), 4);
    let out = m.step(Input::Start);
    assert!(matches!(&out[..], [Output::SendPart { part: 2, .. }]));
    let (t, _) = transfer(&Recorded {
        finished: true,
        ..rec
    });
    let mut m = HandOff::new(&t, hp("p:1"), items, Vec::new(), 4);
    assert!(matches!(&m.step(Input::Start)[..], [Output::SendDone(_)]));
}

fn is_effect_or_stop(o: &Output) -> bool {
    matches!(
        o,
        Output::SendPart { .. } | Output::ProposeFinish | Output::SendDone(_) | Output::Stop(_)
    )
}
