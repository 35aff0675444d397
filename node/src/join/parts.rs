//! How a hand-off cuts its range into `ecs_put` parts. The cut depends only on the items,
//! the session entries, the transfer id and the part size recorded with the transfer, so
//! a resend after a crash or a leader change cuts exactly the same parts and the
//! receiver's dedup by part number holds.

use protocol::ecs::{put_header_len, Item, PartSplitter, PutPart, SessionEntry};

/// Cuts `items`, then the session entries, into parts no longer than `part_size` bytes
/// per line; a token too large for that gets a part of its own, sized to fit it.
pub fn split(
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
