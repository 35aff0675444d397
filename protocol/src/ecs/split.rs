//! The splitter: cuts a transfer's items into `ecs_put` parts whose lines all fit a
//! maximum length.
//!
//! The guarantee: every part's canonical line (without terminator) is at most
//! `max_line_len` bytes (the bound its tokens were pushed under, see
//! [`PartSplitter::widen`]); parts are numbered 0, 1, 2, ... with no gaps; items keep their
//! order and each appears in exactly one part; no part is empty; and the split is
//! greedy (a part is closed only when the next item does not fit in it), so for a given
//! input there is exactly one split. Lengths are computed, not measured by formatting.

use super::error::SplitError;
use super::items::{put_header_len, Item, PutPart, SessionEntry};

/// Builds the parts of one transfer item by item, for senders that stream their items
/// rather than collect them first. [`split_into_parts`] is the same thing for a whole
/// collection. Session entries ([`PartSplitter::push_session`]) are cut the same way; a
/// sender pushes them after every item, so each part's line lists its tokens in the
/// order they were pushed.
#[derive(Debug, Clone)]
pub struct PartSplitter {
    transfer_id: u64,
    max_line_len: usize,
    open: PutPart,
    line_len: usize,
}

impl PartSplitter {
    /// A splitter for transfer `transfer_id` whose lines may be `max_line_len` bytes long.
    pub fn new(transfer_id: u64, max_line_len: usize) -> PartSplitter {
        PartSplitter {
            transfer_id,
            max_line_len,
            open: PutPart {
                transfer_id,
                ..PutPart::default()
            },
            line_len: put_header_len(transfer_id, 0),
        }
    }

    /// Adds the next item. Returns the part this item closed, if it did not fit in the
    /// open one. On error nothing changes: the item is not added and the open part stays
    /// open.
    pub fn push(&mut self, item: Item) -> Result<Option<PutPart>, SplitError> {
        let sizes = (item.key.len(), item.value.len());
        self.place(item.token_len(), sizes, |part| part.items.push(item))
    }

    /// Adds a session entry, like [`PartSplitter::push`] (its sizes in an error are the
    /// key's and the answer's).
    pub fn push_session(&mut self, entry: SessionEntry) -> Result<Option<PutPart>, SplitError> {
        let sizes = (entry.key.len(), entry.answer.len());
        self.place(entry.token_len(), sizes, |part| part.sessions.push(entry))
    }

    /// Puts a token of `token_len` bytes into the open part, or closes it and opens the
    /// next with the token.
    fn place(
        &mut self,
        token_len: usize,
        (key_len, value_len): (usize, usize),
        add: impl FnOnce(&mut PutPart),
    ) -> Result<Option<PutPart>, SplitError> {
        let added = token_len.saturating_add(1);
        let too_large = |needed| SplitError::ItemTooLarge {
            key_len,
            value_len,
            needed,
            max: self.max_line_len,
        };
        let fits_open_part = self.line_len.saturating_add(added) <= self.max_line_len;
        if self.open_is_empty() || fits_open_part {
            if !fits_open_part {
                return Err(too_large(self.line_len.saturating_add(added)));
            }
            self.line_len += added;
            add(&mut self.open);
            return Ok(None);
        }
        // The token opens the next part; check it fits there before closing this one.
        let mut opened = self.next_part()?;
        let alone = put_header_len(self.transfer_id, opened.part).saturating_add(added);
        if alone > self.max_line_len {
            return Err(too_large(alone));
        }
        add(&mut opened);
        self.line_len = alone;
        Ok(Some(std::mem::replace(&mut self.open, opened)))
    }

    /// The empty part after the open one.
    fn next_part(&self) -> Result<PutPart, SplitError> {
        let part = self
            .open
            .part
            .checked_add(1)
            .ok_or(SplitError::TooManyParts)?;
        Ok(PutPart {
            transfer_id: self.transfer_id,
            part,
            ..PutPart::default()
        })
    }

    fn open_is_empty(&self) -> bool {
        self.open.items.is_empty() && self.open.sessions.is_empty()
    }

    /// Closes the open part (returned, if it holds anything) and lets the tokens pushed
    /// from now on fill lines of up to `max_line_len` bytes (a bound only ever grows): a
    /// sender packs its many small answer-less session entries into fewer, longer lines
    /// than its items, each part keeping the bound its tokens were pushed under.
    pub fn widen(&mut self, max_line_len: usize) -> Result<Option<PutPart>, SplitError> {
        let closed = if self.open_is_empty() {
            None
        } else {
            let opened = self.next_part()?;
            self.line_len = put_header_len(self.transfer_id, opened.part);
            Some(std::mem::replace(&mut self.open, opened))
        };
        self.max_line_len = self.max_line_len.max(max_line_len);
        Ok(closed)
    }

    /// Closes the open part and returns it, or `None` if it holds nothing.
    pub fn finish(self) -> Option<PutPart> {
        (!self.open_is_empty()).then_some(self.open)
    }
}

/// Splits the items of transfer `transfer_id` into `ecs_put` parts whose canonical lines
/// are at most `max_line_len` bytes each (see the module documentation for the full
/// guarantee). No items give no parts. An item that cannot fit in a line even alone is
/// [`SplitError::ItemTooLarge`].
pub fn split_into_parts(
    transfer_id: u64,
    items: impl IntoIterator<Item = Item>,
    max_line_len: usize,
) -> Result<Vec<PutPart>, SplitError> {
    let mut splitter = PartSplitter::new(transfer_id, max_line_len);
    let mut parts = Vec::new();
    for item in items {
        if let Some(part) = splitter.push(item)? {
            parts.push(part);
        }
    }
    parts.extend(splitter.finish());
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(k: &'static str, v: &'static str) -> Item {
        Item::new(k, v)
    }

    #[test]
    fn no_items_give_no_parts() {
        assert_eq!(split_into_parts(1, Vec::new(), 100), Ok(vec![]));
    }

    #[test]
    fn parts_are_greedy_and_exact_at_the_limit() {
        // "ecs_put 5 0" is 11 bytes; " aw==:dg==" adds 10.
        let items = vec![kv("k", "v"), kv("k", "v"), kv("k", "v")];
        let parts = split_into_parts(5, items.clone(), 31).unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].items.len(), 2);
        assert_eq!(parts[0].line_len(), 31);
        assert_eq!(parts[1].part, 1);
        let parts = split_into_parts(5, items, 30).unwrap();
        assert_eq!(parts.len(), 3);
    }

    #[test]
    fn too_large_item_leaves_the_splitter_unchanged() {
        let mut s = PartSplitter::new(5, 21);
        assert_eq!(s.push(kv("k", "v")), Ok(None));
        // "keys" encodes to 8 bytes: alone in part 1 the line is 11 + 1 + 8 + 1 + 4.
        assert_eq!(
            s.push(kv("keys", "v")),
            Err(SplitError::ItemTooLarge {
                key_len: 4,
                value_len: 1,
                needed: 25,
                max: 21
            })
        );
        let closed = s.push(kv("k", "v")).unwrap().unwrap();
        assert_eq!((closed.part, closed.items.len()), (0, 1));
        assert_eq!(s.finish().map(|p| p.part), Some(1));
    }

    #[test]
    fn part_number_digits_are_counted() {
        // Part 9 has a one-digit number, part 10 two: an item that fills part 9's line
        // exactly is one byte too long for part 10's.
        let mut s = PartSplitter::new(0, 21);
        for _ in 0..10 {
            s.push(kv("k", "v")).unwrap();
        }
        assert!(matches!(
            s.push(kv("k", "v")),
            Err(SplitError::ItemTooLarge { needed: 22, .. })
        ));
    }
}
