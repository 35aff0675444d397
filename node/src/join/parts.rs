//! How a hand-off cuts its range into `ecs_put` parts. The cut depends only on the items,
//! the session entries, the transfer id and the part size recorded with the transfer, so
//! a resend after a crash or a leader change cuts exactly the same parts and the
//! receiver's dedup by part number holds.

use protocol::ecs::{put_header_len, Item, PartSplitter, PutPart, SessionEntry};

/// Shortest line that session entries without an answer are packed into. Each is about
/// 25 bytes and a hand-off carries one per client session the sender knows, so at a small
/// part size they would take one part (one receiver log entry and sync) per few clients:
/// 256 sessions at 128-byte parts held a join's lock for 10 to 15 s on slow disks (found
/// by review, `review-session-entries-slow-empty-range-join`).
pub const ANSWERLESS_LINE_MIN: usize = 16 * 1024;

/// Cuts `items`, then the session entries with an answer, into parts no longer than
/// `part_size` bytes per line (a token too large for that gets a part of its own, sized to
/// fit it), then the entries without an answer into parts of their own, of up to
/// [`ANSWERLESS_LINE_MIN`] bytes per line if that is longer.
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
    let (answered, answerless): (Vec<_>, Vec<_>) =
        sessions.into_iter().partition(|e| !e.answer.is_empty());
    // The line was sized for the largest token, so only a transfer of more than 2^32
    // parts can fail to split.
    let cut = items
        .into_iter()
        .map(|item| splitter.push(item))
        .collect::<Result<Vec<_>, _>>()
        .and_then(|mut parts| {
            for entry in answered {
                parts.push(splitter.push_session(entry)?);
            }
            parts.push(splitter.widen(ANSWERLESS_LINE_MIN)?);
            for entry in answerless {
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

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn entry(client_id: u64, answer: &'static [u8]) -> SessionEntry {
        SessionEntry {
            client_id,
            sequence: 7,
            key: Bytes::from_static(if answer.is_empty() { b"" } else { b"k" }),
            answer: Bytes::from_static(answer),
        }
    }

    #[test]
    fn answerless_session_entries_share_long_lines_and_the_rest_keeps_the_part_size() {
        let items = (0..20)
            .map(|i| Item::new(Bytes::from(format!("key{i}")), Bytes::from_static(b"value")))
            .collect();
        let answered = (0..20).map(|i| entry(i, b"K"));
        let answerless = (100..356).map(|i| entry(i, b""));
        let parts = split(9, items, answered.chain(answerless).collect(), 128);
        let line = |p: &PutPart| p.line_len();
        let with_answers: Vec<_> = parts
            .iter()
            .filter(|p| !p.items.is_empty() || p.sessions.iter().any(|e| !e.answer.is_empty()))
            .collect();
        assert!(
            with_answers.len() >= 8,
            "{} parts: items and answers are cut small",
            with_answers.len()
        );
        assert!(with_answers.iter().all(|p| line(p) <= 128));
        // 256 entries without an answer fit one line of at most ANSWERLESS_LINE_MIN bytes.
        let rest = parts.len() - with_answers.len();
        assert_eq!(rest, 1, "parts of answer-less entries");
        assert!(parts.iter().all(|p| line(p) <= ANSWERLESS_LINE_MIN));
        assert_eq!(
            parts.iter().map(|p| p.sessions.len()).sum::<usize>(),
            20 + 256
        );
        let numbers: Vec<u32> = parts.iter().map(|p| p.part).collect();
        assert_eq!(numbers, (0..parts.len() as u32).collect::<Vec<_>>());
    }
}
