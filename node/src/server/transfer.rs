//! The sending side of a range hand-off: the async shell of [`HandOff`], which decides
//! what to send and when to stop. This task waits until the leader's state includes every
//! committed command, sends the parts the machine asks for to the receiving group (each
//! on its own connection, up to [`PARTS_IN_FLIGHT`] at once, acknowledged only once
//! durable there; an address that stops answering is probed by one of them at a time,
//! [`ProbeGate`]), makes the group's proposals, tells the ECS how far it got every
//! [`PROGRESS_EVERY`] while parts go out, and tells it `done`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use protocol::ecs::{Item, Reply, Request};
use tokio::task::JoinSet;

use super::Node;
use crate::admin_link::AdminLink;
use crate::group::{GroupCommand, Outcome};
use crate::io::Network;
use crate::join::sender::{FinishOutcome, Input, Output};
use crate::join::HandOff;
use crate::probe_gate::ProbeGate;

/// Starts the hand-off task unless one is running for the current transfer. A task still
/// sending a transfer that was called off (the join abandoned, the next join's transfer
/// begun) is stopped and replaced: it would only notice at its next attempt, and until
/// then the new `transfer_range` was answered `ok` with nothing sent (found by a hostile
/// review: the predecessor stayed locked until the ECS's next resend).
pub(crate) fn ensure_running<N: Network>(node: &Rc<Node<N>>) {
    let mut slot = node.transfer_task.borrow_mut();
    if let Some(task) = slot.as_ref().filter(|t| !t.is_finished()) {
        let current = current_transfer(node);
        match node.transfer_sending.get() {
            Some(sending) if Some(sending) != current => {
                tracing::info!(transfer = sending, "replacing a called-off hand-off");
                task.abort();
            }
            _ => return,
        }
    }
    node.transfer_sending.set(None);
    let node2 = node.clone();
    *slot = Some(tokio::task::spawn_local(run(node2)));
}

/// The most `ecs_put` parts a hand-off has out at once: enough that a receiver with a
/// slow disk syncs many parts per write (a window of 8 made a 60-part hand-off on 175-525
/// ms syncs take a few seconds instead of 25), few enough that the parts in memory stay
/// small (8 lines of the part size, 64 KiB by default).
pub(crate) const PARTS_IN_FLIGHT: usize = 8;

/// How often a hand-off that moved tells the ECS (`progress`): well inside any join
/// deadline, which the ECS counts from the last progress it heard. Without it a hand-off
/// that needed longer than the deadline was abandoned and begun again from its first part
/// at every try, and never finished (regressions hand-off-longer-than-the-join-deadline
/// and bare-majority-hand-off-outlasts-the-join-deadline-336).
pub(crate) const PROGRESS_EVERY: Duration = Duration::from_secs(1);

/// What became of one part's sending: its number, the receiving node that took it (none:
/// the transfer was called off), and the link it went on, for the next part.
type PartSent<N> = (u32, Option<String>, AdminLink<N>);

async fn run<N: Network>(node: Rc<Node<N>>) {
    // A new leader may not have applied the whole log yet: wait until its state includes
    // every committed command, so it sees the transfer exactly as recorded.
    if node.group.read_barrier().await.is_err() {
        return;
    }
    let Some((mut handoff, admins)) = node.group.with_state(|s| {
        let t = s.transfer.as_ref()?;
        let items: Vec<Item> =
            s.kv.iter()
                .filter(|(k, _)| t.arc.contains_key(k))
                .map(|(k, v)| Item::new(k.clone(), v.clone()))
                .collect();
        // The group is write-locked, so neither the items nor the sessions change while
        // they are sent, and a resend cuts the same parts.
        let sessions = s.sessions_in(&t.arc);
        // The receiving group's nodes: tried in turn, going straight to a leader one of
        // them names.
        let admins: Vec<String> = s
            .admins_of(&t.target)
            .iter()
            .map(|a| a.to_string())
            .collect();
        let handoff = HandOff::new(
            t,
            node.config.ring.clone(),
            items,
            sessions,
            PARTS_IN_FLIGHT,
        );
        Some((handoff, admins))
    }) else {
        return;
    };
    let transfer_id = handoff.transfer_id();
    node.transfer_sending.set(Some(transfer_id));
    let admins = Rc::new(admins);
    // The parts out, each its own task with its own connection; dropped (so aborted)
    // when this task ends or is aborted.
    let mut out: JoinSet<PartSent<N>> = JoinSet::new();
    // Idle links to the receiving group, closed once no part is left to send.
    let mut links: Vec<AdminLink<N>> = Vec::new();
    // Each part starts at the node that took the last one (the receiver's leader).
    let mut last: Option<String> = None;
    // The part links take turns at an address that stopped answering, so a receiver's
    // leader cut off from this one gets one connection attempt at a time, not a window's.
    let gate = Rc::new(ProbeGate::default());
    // What the progress reporter tells the ECS next; it runs (and is aborted) with this task.
    let progress = Rc::new(RefCell::new(None));
    let mut reporter = JoinSet::new();
    reporter.spawn_local(report_progress(node.clone(), progress.clone()));
    let mut outputs = handoff.step(Input::Start);
    loop {
        *progress.borrow_mut() = handoff.progress();
        // The input that answers this batch's one effect (the finish, `done`); none while
        // only parts are out.
        let mut next = None;
        for output in outputs {
            match output {
                Output::RecordAcked(command) => {
                    let group = node.group.clone();
                    tokio::task::spawn_local(async move {
                        if let Err(e) = group.propose(command).await {
                            tracing::debug!(error = %e, "could not record the acknowledged part");
                        }
                    });
                }
                Output::SendPart { part, request } => {
                    let mut link = links
                        .pop()
                        .unwrap_or_else(|| node.link().with_probe_gate(gate.clone()));
                    let (node, admins, first) = (node.clone(), admins.clone(), last.clone());
                    out.spawn_local(async move {
                        let took = link
                            .send_to_group(&admins, first.as_deref(), &request, "ecs_put", || {
                                current_transfer(&node) == Some(transfer_id)
                            })
                            .await;
                        (part, took, link)
                    });
                }
                Output::ProposeFinish => {
                    links.clear();
                    next = Some(if handoff.still_on(current_transfer(&node)) {
                        Input::Finish(finish(&node, transfer_id).await)
                    } else {
                        Input::CalledOff
                    });
                }
                Output::SendDone(request) => {
                    node.link()
                        .send_until_ok(&node.config.ecs, &request, "done")
                        .await;
                    next = Some(Input::DoneTaken);
                }
                Output::Stop(_) => return,
            }
        }
        let input = match next {
            Some(input) => input,
            None => match out.join_next().await {
                Some(Ok((part, Some(took), link))) => {
                    last = Some(took);
                    links.push(link);
                    Input::PartTaken(part)
                }
                Some(Ok((_, None, _))) => Input::CalledOff,
                // A part's task cannot panic short of a bug, and is aborted only with
                // this one; nothing is out when no effect is pending.
                Some(Err(_)) | None => return,
            },
        };
        outputs = handoff.step(input);
    }
}

/// Tells the ECS the hand-off's `progress` line every [`PROGRESS_EVERY`] when it changed
/// since the last one the ECS took. One attempt each time, on its own connection, so an
/// unreachable ECS never holds up a part.
async fn report_progress<N: Network>(node: Rc<Node<N>>, progress: Rc<RefCell<Option<Request>>>) {
    let mut link = node.link();
    let mut told: Option<Request> = None;
    loop {
        tokio::time::sleep(PROGRESS_EVERY).await;
        let Some(request) = progress.borrow().clone() else {
            continue;
        };
        if told.as_ref() == Some(&request) {
            continue;
        }
        match link.send(&node.config.ecs, &request).await {
            Ok(Reply::Ok) => told = Some(request),
            Ok(other) => {
                tracing::debug!(reply = %other.to_line(), "the ECS did not take the hand-off's progress")
            }
            Err(e) => tracing::debug!(error = %e, "could not tell the ECS the hand-off's progress"),
        }
    }
}

/// The id of the transfer the group has now, if any.
fn current_transfer<N: Network>(node: &Node<N>) -> Option<u64> {
    node.group
        .with_state(|s| s.transfer.as_ref().map(|t| t.transfer_id))
}

/// Proposes that every part of transfer `transfer_id` was acknowledged, and says what
/// came of it. The command names the transfer, so the group refuses it if a later join's
/// transfer replaced this one meanwhile (the check just before is not atomic with it).
async fn finish<N: Network>(node: &Node<N>, transfer_id: u64) -> FinishOutcome {
    let command = GroupCommand::FinishTransfer {
        transfer_id: Some(transfer_id),
    };
    match node.group.propose(command).await {
        Ok(Outcome::Ok) => FinishOutcome::Recorded,
        Ok(other) => FinishOutcome::Refused(format!("{other:?}")),
        Err(e) => FinishOutcome::Failed(e.to_string()),
    }
}
