//! No acknowledged write lost.
//!
//! Every key has one writer whose operations are sequential, so after each answered
//! operation the key's state is known exactly (a get or a compare-and-set reports it; a put
//! or delete sets it). Operations with no answer may or may not have been applied; the
//! store refuses a client's stale command once a newer one was applied, so only the
//! unanswered writes after the last answered operation can still take effect. The final
//! read must be the last known state or the effect of one of those.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::Failure;
use crate::trace::printable;
use crate::workload::{History, Op, Outcome, Record};

/// The states a key may hold at the end.
fn possible_finals(records: &[&Record]) -> Vec<Option<Bytes>> {
    let mut known: Option<Bytes> = None;
    let mut maybe: Vec<Option<Bytes>> = Vec::new();
    for r in records {
        match (&r.op, &r.outcome) {
            (_, Outcome::Value(v)) => known = v.clone(),
            (Op::Put(v), Outcome::Stored) => known = Some(v.clone()),
            (_, Outcome::Deleted(_)) => known = None,
            (_, Outcome::Cas { current, .. }) => known = current.clone(),
            (Op::Get, Outcome::Unknown(_)) => continue,
            (Op::Put(v), Outcome::Unknown(_)) => {
                maybe.push(Some(v.clone()));
                continue;
            }
            (Op::Delete, Outcome::Unknown(_)) => {
                maybe.push(None);
                continue;
            }
            (Op::Cas { new, .. }, Outcome::Unknown(_)) => {
                maybe.push(Some(new.clone()));
                continue;
            }
            // An answer that does not fit its operation: the client library rejects
            // those, so this cannot happen; keep the state as it was.
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
        let allowed = possible_finals(records);
        match history.final_reads.get(*key) {
            Some(Ok(v)) if allowed.contains(v) => {}
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
        Record {
            client: 1,
            key: "k".into(),
            op,
            invoked: Duration::ZERO,
            completed: Duration::ZERO,
            outcome,
        }
    }

    fn b(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn history(records: Vec<Record>, last: Option<&str>) -> History {
        let mut h = History {
            records,
            ..History::default()
        };
        h.final_reads.insert("k".into(), Ok(last.map(b)));
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
}
