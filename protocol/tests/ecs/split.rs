//! The splitter's guarantee, as properties: lines within the limit, parts numbered from 0
//! without gaps, items kept whole and in order, greedy parts, every part parses back,
//! and `ItemTooLarge` exactly when an item cannot fit.

use bytes::Bytes;
use proptest::prelude::*;
use protocol::ecs::{put_header_len, split_into_parts, Item, Request, SplitError};

use super::props::item;

fn items() -> impl Strategy<Value = Vec<Item>> {
    proptest::collection::vec(item(), 0..40)
}

proptest! {
    #[test]
    fn parts_fit_and_carry_every_item_in_order(
        transfer_id in any::<u64>(),
        items in items(),
        max_line_len in 0usize..700,
    ) {
        match split_into_parts(transfer_id, items.clone(), max_line_len) {
            Ok(parts) => {
                for (n, part) in parts.iter().enumerate() {
                    let line = Request::EcsPut(part.clone()).to_line();
                    prop_assert!(line.len() <= max_line_len, "{} > {}", line.len(), max_line_len);
                    prop_assert_eq!(part.line_len(), line.len());
                    prop_assert_eq!(part.transfer_id, transfer_id);
                    prop_assert_eq!(part.part as usize, n);
                    prop_assert!(!part.items.is_empty());
                    prop_assert_eq!(Request::parse(&line), Ok(Request::EcsPut(part.clone())));
                }
                // Greedy: the first item of each part did not fit in the part before.
                for pair in parts.windows(2) {
                    let first = &pair[1].items[0];
                    prop_assert!(pair[0].line_len() + 1 + first.token_len() > max_line_len);
                }
                let carried: Vec<Item> = parts.into_iter().flat_map(|p| p.items).collect();
                prop_assert_eq!(carried, items);
            }
            Err(SplitError::ItemTooLarge { key_len, value_len, needed, max }) => {
                prop_assert_eq!(max, max_line_len);
                prop_assert!(needed > max_line_len);
                // Some item of these sizes, alone in some part, needs exactly `needed`.
                let found = items.iter().enumerate().any(|(i, it)| {
                    it.key.len() == key_len
                        && it.value.len() == value_len
                        && (0..=i as u32)
                            .any(|p| put_header_len(transfer_id, p) + 1 + it.token_len() == needed)
                });
                prop_assert!(found, "no item matches the error");
            }
            Err(e) => prop_assert!(false, "unexpected {e}"),
        }
    }

    #[test]
    fn a_limit_that_fits_every_item_alone_never_fails(
        transfer_id in any::<u64>(),
        items in items(),
        slack in 0usize..300,
    ) {
        let widest = items.iter().map(Item::token_len).max().unwrap_or(0);
        let last_part = items.len().saturating_sub(1) as u32;
        let max = put_header_len(transfer_id, last_part) + 1 + widest + slack;
        let parts = split_into_parts(transfer_id, items.clone(), max);
        prop_assert!(parts.is_ok(), "{:?}", parts);
    }

    #[test]
    fn an_item_too_large_to_fit_alone_is_reported(
        transfer_id in any::<u64>(),
        before in proptest::collection::vec(item(), 0..5),
        big_len in 300usize..600,
    ) {
        // Every small item fits alone in a 400-byte line; the big one cannot.
        let max = 400;
        let big = Item { key: Bytes::from(vec![7u8; big_len]), value: Bytes::new() };
        let mut all = before;
        all.push(big);
        let needed = put_header_len(transfer_id, 0) + 1 + all[all.len() - 1].token_len();
        prop_assert!(needed > max);
        match split_into_parts(transfer_id, all, max) {
            Err(SplitError::ItemTooLarge { key_len, value_len, needed: got, max: m }) => {
                prop_assert_eq!((key_len, value_len, m), (big_len, 0, max));
                prop_assert!(got >= needed);
            }
            other => prop_assert!(false, "expected ItemTooLarge, got {other:?}"),
        }
    }
}

#[test]
fn zero_items_give_zero_parts() {
    assert_eq!(split_into_parts(9, Vec::new(), 0), Ok(vec![]));
}

#[test]
fn hand_computed_split() {
    // "ecs_put 1 0" = 11 bytes and each " aw==:dg==" 10 more: a 41-byte limit takes
    // exactly 3 items in part 0, and the remaining 2 make a 31-byte part 1.
    let items: Vec<Item> = (0..5).map(|_| Item::new("k", "v")).collect();
    let parts = split_into_parts(1, items, 41).expect("fits");
    let lines: Vec<String> = parts
        .into_iter()
        .map(|p| Request::EcsPut(p).to_line())
        .collect();
    assert_eq!(
        lines,
        [
            "ecs_put 1 0 aw==:dg== aw==:dg== aw==:dg==",
            "ecs_put 1 1 aw==:dg== aw==:dg==",
        ]
    );
}
