//! The splitter: cuts a transfer's items into `ecs_put` parts whose lines all fit a
//! maximum length.
//!
//! The guarantee: every part's canonical line (without terminator) is at most
//! `max_line_len` bytes; parts are numbered 0, 1, 2, ... with no gaps; items keep their
//! order and each appears in exactly one part; no part is empty; and the split is
//! greedy (a part is closed only when the next item does not fit in it), so for a given
//! input there is exactly one split. Lengths are computed, not measured by formatting.

use super::error::SplitError;
use super::items::{put_header_len, Item, PutPart};

/// Builds the parts of one transfer item by item, for senders that stream their items
/// rather than collect them first. [`split_into_parts`] is the same thing for a whole
/// collection.
#[derive(Debug, Clone)]
pub struct PartSplitter {
    transfer_id: u64,
    max_line_len: usize,
    part: u32,
    items: Vec<Item>,
    line_len: usize,
}

impl PartSplitter {
    /// A splitter for transfer `transfer_id` whose lines may be `max_line_len` bytes long.
    pub fn new(transfer_id: u64, max_line_len: usize) -> PartSplitter {
        PartSplitter {
            transfer_id,
            max_line_len,
            part: 0,
            items: Vec::new(),
            line_len: put_header_len(transfer_id, 0),
        }
    }

    /// Adds the next item. Returns the part this item closed, if it did not fit in the
    /// open one. On error nothing changes: the item is not added and the open part stays
    /// open.
    pub fn push(&mut self, item: Item) -> Result<Option<PutPart>, SplitError> {
        let added = item.token_len().saturating_add(1);
        let fits_open_part = self.line_len.saturating_add(added) <= self.max_line_len;
        if self.items.is_empty() || fits_open_part {
            if !fits_open_part {
                return Err(self.too_large(&item, self.line_len.saturating_add(added)));
            }
            self.line_len += added;
            self.items.push(item);
            return Ok(None);
        }
        // The item opens the next part; check it fits there before closing this one.
        let next = self.part.checked_add(1).ok_or(SplitError::TooManyParts)?;
        let alone = put_header_len(self.transfer_id, next).saturating_add(added);
        if alone > self.max_line_len {
            return Err(self.too_large(&item, alone));
        }
        let closed = PutPart {
            transfer_id: self.transfer_id,
            part: self.part,
            items: std::mem::replace(&mut self.items, vec![item]),
        };
        self.part = next;
        self.line_len = alone;
        Ok(Some(closed))
    }

    /// Closes the open part and returns it, or `None` if it holds no items.
    pub fn finish(self) -> Option<PutPart> {
        (!self.items.is_empty()).then_some(PutPart {
            transfer_id: self.transfer_id,
            part: self.part,
            items: self.items,
        })
    }

    fn too_large(&self, item: &Item, needed: usize) -> SplitError {
        SplitError::ItemTooLarge {
            key_len: item.key.len(),
            value_len: item.value.len(),
            needed,
            max: self.max_line_len,
        }
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
