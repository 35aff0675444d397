//! The sending side of a range hand-off: stream `[next, end)` to the next member in
//! `ecs_put` parts, each acknowledged only once the receiver made it durable, then record
//! the transfer finished and tell the ECS `done`.

use std::rc::Rc;

use protocol::ecs::{put_header_len, Item, PartSplitter, PutPart, Request, SessionEntry};

use super::Node;
use crate::group::{GroupCommand, Outcome, Transfer};
use crate::io::Network;

/// Starts the hand-off task unless one is running.
pub(crate) fn ensure_running<N: Network>(node: &Rc<Node<N>>) {
    let mut slot = node.transfer_task.borrow_mut();
    if slot.as_ref().is_some_and(|t| !t.is_finished()) {
        return;
    }
    let node2 = node.clone();
    *slot = Some(tokio::task::spawn_local(async move { run(&node2).await }));
}

async fn run<N: Network>(node: &Node<N>) {
    // A new leader may not have applied the whole log yet: wait until its state includes
    // every committed command, so it sees the transfer exactly as recorded.
    if node.group.read_barrier().await.is_err() {
        return;
    }
    let Some((transfer, items, sessions)) = node.group.with_state(|s| {
        let t = s.transfer.clone()?;
        let items: Vec<Item> =
            s.kv.iter()
                .filter(|(k, _)| t.arc.contains_key(k))
                .map(|(k, v)| Item::new(k.clone(), v.clone()))
                .collect();
        // The group is write-locked, so neither the items nor the sessions change while
        // they are sent, and a resend cuts the same parts.
        let sessions = s.sessions_in(&t.arc);
        Some((t, items, sessions))
    }) else {
        return;
    };
    if !transfer.finished {
        if !send_parts(node, &transfer, items, sessions).await {
            // Called off: the transfer is gone or replaced by a later join's, which this
            // task must neither finish nor report done.
            return;
        }
        let finish = GroupCommand::FinishTransfer {
            transfer_id: Some(transfer.transfer_id),
        };
        match node.group.propose(finish).await {
            Ok(Outcome::Ok) => {}
            // The group no longer has this transfer (the join was released or replaced
            // while the parts went out): telling the ECS `done` would finish a join
            // whose range was not sent.
            Ok(other) => {
                tracing::warn!(outcome = ?other, "the transfer ended before it finished; no done");
                return;
            }
            Err(e) => {
                tracing::error!(error = %e, "could not record the finished transfer");
                return;
            }
        }
    }
    let done = tagged(Request::Done(Some(node.config.ring.clone())), transfer.join);
    node.link()
        .send_until_ok(&node.config.ecs, &done, "done")
        .await;
    tracing::info!(transfer = transfer.transfer_id, "hand-off reported done");
}

/// Sends the parts not yet acknowledged; `false` if the transfer was called off first.
async fn send_parts<N: Network>(
    node: &Node<N>,
    transfer: &Transfer,
    items: Vec<Item>,
    sessions: Vec<SessionEntry>,
) -> bool {
    // The part size recorded with the transfer, so a resend after a crash or a leader
    // change cuts exactly the same parts and the receiver's dedup by part number holds.
    let parts = split(transfer.transfer_id, items, sessions, transfer.part_size);
    let total_items: usize = parts.iter().map(|p| p.items.len()).sum();
    tracing::info!(
        transfer = transfer.transfer_id,
        to = %transfer.target,
        parts = parts.len(),
        items = total_items,
        "handing off range"
    );
    let mut link = node.link();
    // The receiving group's nodes: try them in turn, and go straight to a leader one of
    // them names.
    let admins: Vec<String> = node
        .group
        .with_state(|s| s.admins_of(&transfer.target))
        .iter()
        .map(|a| a.to_string())
        .collect();
    // Each part starts at the node that took the last one (the receiver's leader).
    let mut last: Option<String> = None;

    // The join may be abandoned (the ECS released the lock) while parts go out.
    let still_on = || {
        let current = node
            .group
            .with_state(|s| s.transfer.as_ref().map(|t| t.transfer_id));
        current == Some(transfer.transfer_id)
    };
    // Parts a leader before this one saw acknowledged are durable at the receiver.
    for part in parts.into_iter().skip(transfer.acked as usize) {
        let number = part.part;
        let request = tagged(Request::EcsPut(part), transfer.join);
        let sent = link
            .send_to_group(&admins, last.as_deref(), &request, "ecs_put", still_on)
            .await;
        let Some(took) = sent else {
            tracing::warn!(
                transfer = transfer.transfer_id,
                "the transfer was called off"
            );
            return false;
        };
        last = Some(took);
        // Recorded on the side, without waiting for it to commit: if it is lost, a new
        // leader only resends more parts.
        let acked = GroupCommand::PartsAcked {
            transfer_id: transfer.transfer_id,
            parts: number + 1,
        };
        let group = node.group.clone();
        tokio::task::spawn_local(async move {
            if let Err(e) = group.propose(acked).await {
                tracing::debug!(error = %e, "could not record the acknowledged part");
            }
        });
    }
    true
}

/// `request` tagged with the transfer's join, if it has a number.
fn tagged(request: Request, join: Option<u64>) -> Request {
    match join {
        Some(join) => request.for_join(join),
        None => request,
    }
}

/// Cuts `items`, then the session entries, into parts no longer than `part_size` bytes
/// per line; a token too large for that gets a part of its own, sized to fit it.
fn split(
    transfer_id: u64,
    items: Vec<Item>,
    sessions: Vec<SessionEntry>,
    part_size: usize,
) -> Vec<PutPart> {
    let largest = items
        .iter()
        .map(Item::token_len)
        .chain(sessions.iter().map(SessionEntry::token_len))
        .max()
        .map_or(0, |len| len + 1);
    let max_line = part_size.max(put_header_len(transfer_id, u32::MAX) + largest);
    let mut splitter = PartSplitter::new(transfer_id, max_line);
    // The line was sized for the largest token, so only a transfer of more than 2^32
    // parts can fail to split.
    let cut = items
        .into_iter()
        .map(|item| splitter.push(item))
        .collect::<Result<Vec<_>, _>>()
        .and_then(|mut parts| {
            for entry in sessions {
                parts.push(splitter.push_session(entry)?);
            }
            Ok(parts)
        });
    let mut parts: Vec<PutPart> = match cut {
        Ok(closed) => closed.into_iter().flatten().collect(),
        Err(e) => {
            tracing::error!(error = %e, "cannot split the range");
            return Vec::new();
        }
    };
    parts.extend(splitter.finish());
    parts
}
