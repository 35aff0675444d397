//! The sending side of a range hand-off: the async shell of [`HandOff`], which decides
//! what to send and when to stop. This task waits until the leader's state includes every
//! committed command, sends the parts the machine asks for to the receiving group
//! (acknowledged only once durable there), makes the group's proposals and tells the ECS
//! `done`.

use std::rc::Rc;

use protocol::ecs::Item;

use super::Node;
use crate::group::{GroupCommand, Outcome};
use crate::io::Network;
use crate::join::sender::{FinishOutcome, Input, Output};
use crate::join::HandOff;

/// Starts the hand-off task unless one is running for the current transfer. A task still
/// sending a transfer that was called off (the join abandoned, the next join's transfer
/// begun) is stopped and replaced: it would only notice at its next attempt, and until
/// then the new `transfer_range` was answered `ok` with nothing sent (found by a hostile
/// review: the predecessor stayed locked until the ECS's next resend).
pub(crate) fn ensure_running<N: Network>(node: &Rc<Node<N>>) {
    let mut slot = node.transfer_task.borrow_mut();
    if let Some(task) = slot.as_ref().filter(|t| !t.is_finished()) {
        let current = node
            .group
            .with_state(|s| s.transfer.as_ref().map(|t| t.transfer_id));
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
    *slot = Some(tokio::task::spawn_local(async move { run(&node2).await }));
}

async fn run<N: Network>(node: &Node<N>) {
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
        let handoff = HandOff::new(t, node.config.ring.clone(), items, sessions);
        Some((handoff, admins))
    }) else {
        return;
    };
    node.transfer_sending.set(Some(handoff.transfer_id()));
    // The connections to the receiving group, closed once no part is left to send.
    let mut link = Some(node.link());
    // Each part starts at the node that took the last one (the receiver's leader).
    let mut last: Option<String> = None;
    let mut outputs = handoff.step(Input::Start);
    let current = || {
        node.group
            .with_state(|s| s.transfer.as_ref().map(|t| t.transfer_id))
    };
    loop {
        // The input that answers this batch's one effect (a part, the finish, `done`).
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
                Output::SendPart(request) => {
                    let link = link.get_or_insert_with(|| node.link());
                    let sent = link
                        .send_to_group(&admins, last.as_deref(), &request, "ecs_put", || {
                            handoff.still_on(current())
                        })
                        .await;
                    next = Some(match sent {
                        Some(took) => {
                            last = Some(took);
                            Input::PartTaken
                        }
                        None => Input::CalledOff,
                    });
                }
                Output::ProposeFinish => {
                    link = None;
                    next = Some(if handoff.still_on(current()) {
                        Input::Finish(finish(node, handoff.transfer_id()).await)
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
        let Some(input) = next else { return };
        outputs = handoff.step(input);
    }
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
