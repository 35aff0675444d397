//! No acknowledged write lost, on the keys that have one writer.
//!
//! A client's own keys have one writer whose operations are sequential, so after each answered
//! operation the key's state is known exactly (a get or a compare-and-set reports it; a put
//! or delete sets it). Operations with no answer may or may not have been applied; the
//! store refuses a client's stale command once a newer one was applied, so only the
//! unanswered writes after the last answered *write* can still take effect. The final
//! read must be the last known state or the effect of one of those.
//!
//! An answered get is no such fence: the store serves it after a read barrier, outside the
//! log and the session table, so a write the client gave up on before the get may still be
//! in the leader's log and land after it (explore found this: seed 1667 of
//! `regressions/ecs-takes-a-called-off-requests-reply-912`). Every write, a
//! compare-and-set that did not swap included, goes through the log and the session. A
//! get that reads the value of an unanswered write (values are unique) shows that write
//! applied, so it fences the writes before that one, as the write's own answer would.
//!
//! The final read runs while a client's last operation may still be in flight. An
//! operation that overlaps the read (it ended after the read began) may or may not be seen
//! by it, answered or not, so it counts as one that may have taken effect; one that began
//! after the read ended cannot be seen and is left out.
//!
//! Keys that several processes use (the shared keys) have no exact expected state; the
//! linearizability check judges them. Every key must still have been read back.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::Failure;
use crate::trace::printable;
use crate::workload::{FinalRead, History, Op, Outcome, Record};

/// What a write does to its key if it takes effect, or `None` for an operation that
/// cannot change it (a get, a compare-and-set that did not swap).
fn effect(r: &Record) -> Option<Option<Bytes>> {
    match (&r.op, &r.outcome) {
        (Op::Get, _) => None,
        (Op::Cas { .. }, Outcome::Cas { swapped: false, .. }) => None,
        (Op::Put(v), _) => Some(Some(v.clone())),
        (Op::Delete, _) => Some(None),
        (Op::Cas { new, .. }, _) => Some(Some(new.clone())),
    }
}

/// The states a key may hold when read in `[from, to]`.
/// The window is in history event positions ([`Record::invoke_seq`]), which order events
/// exactly where simulated times tie or differ by a host's lead within a tick.
fn possible_finals(records: &[&Record], (from, to): (u64, u64)) -> Vec<Option<Bytes>> {
    let mut known: Option<Bytes> = None;
    let mut maybe: Vec<Option<Bytes>> = Vec::new();
    for r in records {
        if r.invoke_seq > to {
            continue;
        }
        if r.complete_seq >= from {
            // Concurrent with the read: it may or may not be seen.
            maybe.extend(effect(r));
            continue;
        }
        match (&r.op, &r.outcome) {
            (_, Outcome::Value(v)) => {
                // Known at the read, but earlier unanswered writes may still land, unless
                // the read shows one of them applied: values are unique, and once a write
                // is applied its session refuses the lane's older ones.
                if let Some(i) = maybe.iter().rposition(|m| m.is_some() && m == v) {
                    maybe.drain(..i);
                }
                known = v.clone();
                continue;
            }
            (Op::Put(v), Outcome::Stored) => known = Some(v.clone()),
            (_, Outcome::Deleted(_)) => known = None,
            (_, Outcome::Cas { current, .. }) => known = current.clone(),
            (_, Outcome::Unknown(_)) => {
                maybe.extend(effect(r));
                continue;
            }
            // A definite refusal changes nothing; an answer that does not fit its
            // operation cannot happen (the client library rejects those).
            _ => continue,
        }
        maybe.clear();
    }
    let mut all = vec![known];
    all.extend(maybe);
    all
}

fn show(v: &Option<Bytes>) -> String {
    v.as_ref().map_or("<absent>".to_string(), |b| printable(b))
}

/// Checks the final reads against each key's history.
pub fn check(history: &History) -> Vec<Failure> {
    let mut by_key: BTreeMap<&str, Vec<&Record>> = BTreeMap::new();
    for r in &history.records {
        by_key.entry(r.key.as_str()).or_default().push(r);
    }
    let mut out = Vec::new();
    for (key, records) in &by_key {
        let read = history.final_reads.get(*key);
        let first = records.first().map(|r| r.process);
        let one_writer = records.iter().all(|r| Some(r.process) == first);
        let window = read.map_or((u64::MAX, u64::MAX), |r| (r.invoke_seq, r.complete_seq));
        let allowed = possible_finals(records, window);
        match read.map(|r: &FinalRead| &r.result) {
            Some(Ok(v)) if !one_writer || allowed.contains(v) => {}
            Some(Ok(v)) => out.push(Failure::new(
                "no_lost_writes",
                format!(
                    "{key} reads {} at the end, but its history allows only {}",
                    show(v),
                    allowed.iter().map(show).collect::<Vec<_>>().join(" or ")
                ),
            )),
            Some(Err(e)) => out.push(Failure::new("liveness", format!("{key}: {e}"))),
            None => out.push(Failure::new(
                "liveness",
                format!("{key} was never read back"),
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn rec(op: Op, outcome: Outcome) -> Record {
        timed(op, outcome, 0, 0)
    }

    /// A record invoked and completed at these milliseconds.
    fn timed(op: Op, outcome: Outcome, invoked: u64, completed: u64) -> Record {
        Record {
            client: 1,
            process: 1,
            key: "k".into(),
            op,
            session: None,
            invoked: Duration::from_millis(invoked),
            completed: Duration::from_millis(completed),
            invoke_seq: invoked,
            complete_seq: completed,
            outcome,
        }
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    /// The history with a final read at 1000..1100 ms.
    fn history(records: Vec<Record>, last: Option<&str>) -> History {
        let mut h = History {
            records,
            ..History::default()
        };
        let read = FinalRead {
            result: Ok(last.map(b)),
            invoked: Duration::from_millis(1000),
            completed: Duration::from_millis(1100),
            invoke_seq: 1000,
            complete_seq: 1100,
        };
        h.final_reads.insert("k".into(), read);
        h
    }

    #[test]
    fn the_last_acknowledged_write_must_survive() {
        let records = vec![
            rec(Op::Put(b("1")), Outcome::Stored),
            rec(Op::Put(b("2")), Outcome::Stored),
        ];
        assert!(check(&history(records.clone(), Some("2"))).is_empty());
        let lost = check(&history(records, Some("1")));
        assert_eq!(lost.len(), 1);
        assert!(lost[0].detail.contains("allows only 2"), "{}", lost[0]);
    }

    #[test]
    fn an_unanswered_write_after_the_last_answer_may_or_may_not_apply() {
        let records = vec![
            rec(Op::Put(b("1")), Outcome::Stored),
            rec(Op::Put(b("2")), Outcome::Unknown("timeout".into())),
        ];
        assert!(check(&history(records.clone(), Some("1"))).is_empty());
        assert!(check(&history(records.clone(), Some("2"))).is_empty());
        assert_eq!(check(&history(records, None)).len(), 1);
    }

    #[test]
    fn an_unanswered_write_before_an_answer_cannot_apply_later() {
        let records = vec![
            rec(Op::Put(b("1")), Outcome::Unknown("timeout".into())),
            rec(Op::Delete, Outcome::Deleted(false)),
        ];
        assert!(check(&history(records.clone(), None)).is_empty());
        assert_eq!(check(&history(records, Some("1"))).len(), 1);
    }

    #[test]
    fn an_unanswered_write_before_an_answered_get_may_still_apply_after_it() {
        let records = vec![
            rec(Op::Put(b("1")), Outcome::Stored),
            rec(Op::Put(b("2")), Outcome::Unknown("timeout".into())),
            rec(Op::Get, Outcome::Value(Some(b("1")))),
        ];
        assert!(check(&history(records.clone(), Some("1"))).is_empty());
        assert!(check(&history(records.clone(), Some("2"))).is_empty());
        assert_eq!(check(&history(records.clone(), None)).len(), 1);
        // An answered write after the get fences it.
        let mut fenced = records;
        fenced.push(rec(Op::Put(b("3")), Outcome::Stored));
        assert!(check(&history(fenced.clone(), Some("3"))).is_empty());
        assert_eq!(check(&history(fenced, Some("2"))).len(), 1);
    }

    #[test]
    fn a_get_that_reads_an_unanswered_write_fences_the_writes_before_it() {
        // Found by review: the get shows put 3 applied, so put 2 can no longer land.
        let records = vec![
            rec(Op::Put(b("1")), Outcome::Stored),
            rec(Op::Put(b("2")), Outcome::Unknown("timeout".into())),
            rec(Op::Put(b("3")), Outcome::Unknown("timeout".into())),
            rec(Op::Get, Outcome::Value(Some(b("3")))),
        ];
        assert_eq!(check(&history(records.clone(), Some("2"))).len(), 1);
        assert!(check(&history(records, Some("3"))).is_empty());
        // The same with a compare-and-set that swapped.
        let cas = Op::Cas {
            expected: Some(b("1")),
            new: b("3"),
        };
        let records = vec![
            rec(Op::Put(b("1")), Outcome::Stored),
            rec(Op::Put(b("2")), Outcome::Unknown("timeout".into())),
            rec(cas, Outcome::Unknown("timeout".into())),
            rec(Op::Get, Outcome::Value(Some(b("3")))),
        ];
        assert_eq!(check(&history(records, Some("2"))).len(), 1);
    }

    #[test]
    fn a_write_still_in_flight_when_the_read_began_may_or_may_not_be_seen() {
        // Stored at 1050 ms, after the final read began at 1000 ms.
        let records = vec![
            timed(Op::Put(b("1")), Outcome::Stored, 0, 10),
            timed(Op::Put(b("2")), Outcome::Stored, 900, 1050),
        ];
        assert!(check(&history(records.clone(), Some("1"))).is_empty());
        assert!(check(&history(records.clone(), Some("2"))).is_empty());
        assert_eq!(check(&history(records, None)).len(), 1);
        // One that began after the read ended cannot be seen.
        let later = vec![
            timed(Op::Put(b("1")), Outcome::Stored, 0, 10),
            timed(Op::Put(b("2")), Outcome::Stored, 1200, 1210),
        ];
        assert!(check(&history(later.clone(), Some("1"))).is_empty());
        assert_eq!(check(&history(later, Some("2"))).len(), 1);
        // A compare-and-set that did not swap changes nothing, in flight or not.
        let cas = Op::Cas {
            expected: None,
            new: b("3"),
        };
        let refused = Outcome::Cas {
            swapped: false,
            current: Some(b("1")),
        };
        let unswapped = vec![
            timed(Op::Put(b("1")), Outcome::Stored, 0, 10),
            timed(cas, refused, 900, 1050),
        ];
        assert_eq!(check(&history(unswapped, Some("3"))).len(), 1);
    }
}
