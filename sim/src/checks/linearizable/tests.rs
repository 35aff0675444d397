//! The checker on hand-written anomalies (each must be flagged), on correct histories
//! (each must pass), and on generated executions of the true register.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;

use super::*;
use crate::workload::FinalRead;

fn b(s: &str) -> Bytes {
    Bytes::from(s.to_string())
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn get(v: Option<&str>) -> (Op, Outcome) {
    (Op::Get, Outcome::Value(v.map(b)))
}

fn put(v: &str) -> (Op, Outcome) {
    (Op::Put(b(v)), Outcome::Stored)
}

fn del(existed: bool) -> (Op, Outcome) {
    (Op::Delete, Outcome::Deleted(existed))
}

fn cas(expected: Option<&str>, new: &str, swapped: bool, current: Option<&str>) -> (Op, Outcome) {
    (
        Op::Cas {
            expected: expected.map(b),
            new: b(new),
        },
        Outcome::Cas {
            swapped,
            current: current.map(b),
        },
    )
}

/// The operation with no answer.
fn info((op, _): (Op, Outcome)) -> (Op, Outcome) {
    (op, Outcome::Unknown("timed out".to_string()))
}

/// The operation, definitely refused.
fn fail((op, _): (Op, Outcome)) -> (Op, Outcome) {
    (op, Outcome::Failed("refused".to_string()))
}

/// An operation on key `k` by `process` over [invoked, completed] ms.
fn on(
    key: &str,
    process: u32,
    (op, outcome): (Op, Outcome),
    invoked: u64,
    completed: u64,
) -> Record {
    Record {
        client: process + 1,
        process,
        key: key.to_string(),
        op,
        session: None,
        invoked: ms(invoked),
        completed: ms(completed),
        // Hand-made histories order events by their times; equal times are concurrent.
        invoke_seq: invoked,
        complete_seq: completed,
        outcome,
    }
}

fn r(process: u32, op: (Op, Outcome), invoked: u64, completed: u64) -> Record {
    on("k", process, op, invoked, completed)
}

fn history(records: Vec<Record>) -> History {
    History {
        records,
        final_reads: BTreeMap::new(),
        events: 0,
        in_flight: BTreeMap::new(),
    }
}

fn check(h: &History) -> Report {
    check_history(h, &Config::default())
}

/// The one violation of a history that must have exactly one.
fn violation(h: &History) -> Violation {
    let report = check(h);
    assert!(report.undecided.is_empty(), "{report:?}");
    assert_eq!(report.violations.len(), 1, "{report:?}");
    report.violations.into_iter().next().unwrap()
}

fn assert_linearizable(h: &History) {
    let report = check(h);
    assert!(
        report.violations.is_empty() && report.undecided.is_empty(),
        "{}",
        report
            .violations
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

// Anomalies that must be flagged.

#[test]
fn stale_read_from_a_deposed_leader() {
    // b was acknowledged before the read began, yet the read returns a: an old leader
    // answered from its own state.
    let h = history(vec![
        r(1, put("a"), 0, 10),
        r(1, put("b"), 20, 30),
        r(2, get(Some("a")), 40, 50),
    ]);
    let v = violation(&h);
    assert_eq!(v.key, "k");
    assert_eq!(v.records, vec![0, 1, 2]);
    assert!(!v.final_read);
    assert!(
        v.explanation.contains("p2 get -> a")
            && v.explanation.contains("leaves the key holding a")
            && v.explanation.contains("could only have answered: b"),
        "{}",
        v.explanation
    );
}

#[test]
fn lost_acknowledged_write() {
    let h = history(vec![
        r(1, put("a"), 0, 10),
        r(2, get(Some("a")), 15, 18),
        r(2, get(None), 40, 50),
    ]);
    let v = violation(&h);
    // The first read is not needed to show it.
    assert_eq!(v.records, vec![0, 2]);

    // The same through the verifier's final read.
    let mut h = history(vec![r(1, put("a"), 0, 10), r(1, put("b"), 20, 30)]);
    h.final_reads.insert(
        "k".to_string(),
        FinalRead {
            result: Ok(Some(b("a"))),
            invoked: ms(100),
            completed: ms(110),
            invoke_seq: 100,
            complete_seq: 110,
        },
    );
    let v = violation(&h);
    assert!(v.final_read);
    assert_eq!(v.records, vec![0, 1]);
    assert!(
        v.explanation.contains("final get -> a"),
        "{}",
        v.explanation
    );
}

#[test]
fn write_applied_twice() {
    // a is seen again after b replaced it, with no write of a in between.
    let h = history(vec![
        r(1, put("a"), 0, 10),
        r(2, put("b"), 20, 30),
        r(3, get(Some("b")), 40, 50),
        r(3, get(Some("a")), 60, 70),
    ]);
    let v = violation(&h);
    assert_eq!(v.records, vec![0, 1, 3]);

    // A delete that found the key present twice with no write in between.
    let h = history(vec![
        r(1, put("a"), 0, 10),
        r(2, del(true), 20, 30),
        r(3, del(true), 40, 50),
    ]);
    let v = violation(&h);
    assert_eq!(v.records, vec![0, 1, 2]);
    assert!(
        v.explanation
            .contains("could only have answered: was absent"),
        "{}",
        v.explanation
    );
}

#[test]
fn read_of_a_value_never_written() {
    let h = history(vec![
        r(1, put("a"), 0, 10),
        r(2, put("b"), 5, 30),
        r(3, get(Some("ghost")), 40, 50),
    ]);
    let v = violation(&h);
    // The read alone shows it.
    assert_eq!(v.records, vec![2]);
}

#[test]
fn compare_and_set_succeeding_twice_from_one_value() {
    let h = history(vec![
        r(1, put("x"), 0, 10),
        r(1, cas(Some("x"), "y1", true, Some("y1")), 20, 30),
        r(2, cas(Some("x"), "y2", true, Some("y2")), 40, 50),
    ]);
    let v = violation(&h);
    assert_eq!(v.records, vec![0, 1, 2]);
    assert!(
        v.explanation
            .contains("could only have answered: not swapped, current y1"),
        "{}",
        v.explanation
    );
}

#[test]
fn an_unanswered_write_cannot_be_undone() {
    // b took effect (it was read), so a cannot come back.
    let h = history(vec![
        r(1, put("a"), 0, 10),
        r(1, info(put("b")), 20, 30),
        r(2, get(Some("b")), 40, 50),
        r(2, get(Some("a")), 60, 70),
    ]);
    violation(&h);
}

#[test]
fn a_failed_write_was_not_applied() {
    let h = history(vec![
        r(1, put("a"), 0, 10),
        r(1, fail(put("b")), 20, 30),
        r(2, get(Some("b")), 40, 50),
    ]);
    violation(&h);
}

#[test]
fn an_unanswered_compare_and_set_swaps_only_from_its_expected_value() {
    let h = history(vec![
        r(1, put("a"), 0, 10),
        r(1, info(cas(Some("c"), "b", false, None)), 20, 30),
        r(2, get(Some("b")), 40, 50),
    ]);
    violation(&h);
}

#[test]
fn minimising_invents_no_anomaly() {
    // Dropping the first write would leave the unanswered cas unable to swap and the
    // next cas apparently swapping from a value never written; the anomaly here is only
    // the impossible answer at the end.
    let h = history(vec![
        r(1, cas(None, "v0", true, Some("v0")), 0, 10),
        r(2, info(cas(Some("v0"), "v1", false, None)), 20, 30),
        r(3, cas(Some("v1"), "v3", true, Some("v3")), 40, 50),
        r(1, cas(Some("v3"), "v4", true, Some("v4")), 60, 70),
        r(2, cas(Some("v4"), "v5", false, Some("ghost")), 80, 90),
    ]);
    assert_eq!(violation(&h).records, vec![4]);

    // Dropping the write between the deletes would make the second look like a delete
    // applied twice; the anomaly is the old value coming back.
    let h = history(vec![
        r(1, put("a"), 0, 10),
        r(2, del(true), 20, 30),
        r(1, put("b"), 40, 50),
        r(2, del(true), 60, 70),
        r(3, get(Some("a")), 80, 90),
    ]);
    let v = violation(&h);
    assert_eq!(v.records.len(), 3, "{v}");
    assert!(v.records.contains(&0) && v.records.contains(&4), "{v}");

    // The delete that found the key present is explained by the put, not by the
    // unanswered cas from a value nothing wrote: dropping the put would leave a delete
    // of a key never written, an anomaly this history does not have (it is the
    // compare-and-set answering a value never written). Found by the generated test
    // below in CI (its seed is kept in `proptest-regressions/`).
    let h = history(vec![
        r(1, put("a"), 0, 10),
        r(2, cas(None, "x", false, Some("ghost")), 20, 40),
        r(3, del(true), 19, 40),
        r(4, info(cas(Some("never"), "y", false, None)), 40, 50),
    ]);
    let v = violation(&h);
    assert!(v.records.contains(&1), "{v}");
}

/// Asserts that the minimal sub-history of `h`'s one violation keeps record `culprit`
/// and uses its answer.
fn assert_keeps_culprit(h: &History, culprit: usize) {
    let v = violation(h);
    assert!(v.records.contains(&culprit), "{v}");
    assert!(!v.unused_answers.contains(&culprit), "{v}");
}

#[test]
fn minimising_keeps_the_impossible_answer() {
    // Found by a hostile review with a wider generator than the one below. The initial
    // state explains each cas-from-absent on its own, but not both: dropping the delete
    // between them would leave an anomaly that is not the one here (the last read).
    let h = history(vec![
        r(1, cas(None, "a", true, Some("a")), 50, 66),
        r(2, del(true), 70, 70),
        r(3, cas(None, "b", true, Some("b")), 66, 80),
        r(4, cas(Some("a"), "a1", true, Some("a1")), 60, 96),
        r(1, info(cas(Some("b"), "c", false, None)), 100, 100),
        r(2, get(Some("c")), 120, 130),
        r(3, get(Some("ghost")), 140, 150),
    ]);
    assert_keeps_culprit(&h, 6);

    // The same with the impossible answer a cas's and a final read.
    let mut h = history(vec![
        r(0, info(del(true)), 200, 200),
        r(1, cas(None, "v1", true, Some("v1")), 210, 234),
        r(2, get(Some("v1")), 220, 234),
        r(3, get(None), 230, 234),
        r(4, cas(None, "v4", true, Some("v4")), 234, 240),
        r(0, info(put("v5")), 250, 250),
        r(3, get(Some("v5")), 280, 280),
        r(2, cas(Some("v4"), "v7", true, Some("ghost")), 270, 282),
        r(0, put("v10"), 282, 300),
    ]);
    h.records.sort_by_key(|r| r.complete_seq);
    let ghost = h
        .records
        .iter()
        .position(|r| r.process == 2 && r.complete_seq == 282);
    h.final_reads
        .insert("k".to_string(), final_read(Some("v10"), 1000));
    assert_keeps_culprit(&h, ghost.unwrap());

    // A value written by several puts and by a cas that needs the impossible answer's own
    // write: counting that cas as a writer of v0 let every put of v0 go, and the report
    // then blamed the truthful cas.
    let mut h = history(vec![
        r(0, info(put("v0")), 200, 200),
        r(1, info(del(true)), 210, 210),
        r(2, info(put("v0")), 220, 220),
        r(4, info(put("v0")), 240, 240),
        r(1, info(del(true)), 260, 260),
        r(4, cas(Some("v8"), "v0", true, Some("v0")), 279, 290),
        r(3, cas(Some("v0"), "v8", true, Some("ghost")), 280, 294),
        r(2, info(put("v0")), 270, 322),
    ]);
    h.final_reads
        .insert("k".to_string(), final_read(Some("v0"), 1000));
    assert_keeps_culprit(&h, 6);
}

/// The verifier's final read of key `k` at `at` ms.
fn final_read(v: Option<&str>, at: u64) -> FinalRead {
    FinalRead {
        result: Ok(v.map(b)),
        invoked: ms(at),
        completed: ms(at),
        invoke_seq: at,
        complete_seq: at,
    }
}

#[test]
fn precedence_is_strict() {
    // The read began the instant the write completed: they are concurrent.
    let h = history(vec![r(1, put("a"), 0, 10), r(2, get(None), 10, 20)]);
    assert_linearizable(&h);
    let h = history(vec![r(1, put("a"), 0, 10), r(2, get(None), 11, 20)]);
    violation(&h);
}

// Histories that must pass.

#[test]
fn concurrent_reads_explained_by_concurrent_writes() {
    let h = history(vec![
        // Key k: a long write with reads on both sides of its effect.
        r(1, put("a"), 0, 100),
        r(3, get(None), 5, 15),
        r(2, get(Some("a")), 10, 20),
        r(4, put("b"), 50, 150),
        r(2, get(Some("b")), 110, 120),
        r(3, get(Some("a")), 115, 130),
        r(2, cas(Some("b"), "c", true, Some("c")), 140, 160),
        r(3, del(true), 155, 170),
        r(2, get(None), 175, 180),
        // Key j, interleaved in time with k.
        on("j", 1, put("x"), 101, 200),
        on("j", 2, get(None), 181, 190),
        on("j", 3, get(Some("x")), 185, 195),
        on("j", 4, del(true), 160, 210),
        on("j", 2, get(Some("x")), 199, 205),
    ]);
    let report = check(&h);
    assert_eq!(report.keys_checked, 2);
    assert_linearizable(&h);
}

#[test]
fn unanswered_writes_that_took_effect_or_never_did() {
    // Took effect, late: after the client gave up.
    assert_linearizable(&history(vec![
        r(1, put("a"), 0, 10),
        r(1, info(put("b")), 20, 30),
        r(2, get(Some("a")), 40, 50),
        r(2, get(Some("b")), 60, 70),
    ]));
    // Never took effect.
    assert_linearizable(&history(vec![
        r(1, put("a"), 0, 10),
        r(1, info(put("b")), 20, 30),
        r(2, get(Some("a")), 40, 50),
        r(2, get(Some("a")), 60, 70),
        r(1, info(del(false)), 80, 90),
        r(2, get(Some("a")), 95, 99),
    ]));
    // An unanswered get says nothing.
    assert_linearizable(&history(vec![
        r(1, put("a"), 0, 10),
        r(2, info(get(None)), 20, 30),
    ]));
}

#[test]
fn a_failed_write_is_ignored() {
    assert_linearizable(&history(vec![
        r(1, put("a"), 0, 10),
        r(1, fail(put("b")), 20, 30),
        r(2, get(Some("a")), 40, 50),
        r(2, fail(del(false)), 60, 70),
        r(2, get(Some("a")), 80, 90),
    ]));
}

#[test]
fn unanswered_compare_and_set() {
    // It swapped.
    assert_linearizable(&history(vec![
        r(1, put("a"), 0, 10),
        r(1, info(cas(Some("a"), "b", false, None)), 20, 30),
        r(2, get(Some("b")), 40, 50),
    ]));
    // It did not (never applied).
    assert_linearizable(&history(vec![
        r(1, put("a"), 0, 10),
        r(1, info(cas(Some("a"), "b", false, None)), 20, 30),
        r(2, get(Some("a")), 40, 50),
    ]));
    // Applied after a put it was concurrent with, so it found the wrong value.
    assert_linearizable(&history(vec![
        r(1, put("a"), 0, 10),
        r(1, info(cas(Some("a"), "b", false, None)), 20, 30),
        r(2, put("c"), 25, 35),
        r(2, get(Some("c")), 40, 50),
    ]));
}

#[test]
fn a_tiny_budget_leaves_the_key_undecided() {
    let h = history(vec![
        r(1, put("a"), 0, 10),
        r(2, get(Some("a")), 20, 30),
        r(1, put("b"), 40, 50),
    ]);
    let report = check_history(
        &h,
        &Config {
            max_steps_per_key: 2,
        },
    );
    assert!(report.violations.is_empty());
    assert_eq!(report.undecided, vec![("k".to_string(), 2)]);
    let ops = &key_ops(&h)["k"];
    let config = Config {
        max_steps_per_key: 2,
    };
    assert_eq!(
        check_key("k", ops, &config),
        Verdict::Undecided { steps: 2 }
    );
    assert_eq!(
        check_key("k", ops, &Config::default()),
        Verdict::Linearizable
    );
}

#[test]
fn timeline_draws_every_operation() {
    let h = history(vec![
        r(1, put("c1-v1-abcdefghij"), 0, 10),
        r(1, put("c1-v2-abcdefghij"), 20, 30),
        r(2, info(put("c2-v1-abcdefghij")), 22, 60),
        r(3, get(Some("c1-v1-abcdefghij")), 40, 50),
    ]);
    let v = violation(&h);
    println!("{v}");
    let lines: Vec<&str> = v.timeline.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with("p1  |")),
        "{}",
        v.timeline
    );
    assert!(
        lines.iter().any(|l| l.starts_with("p3  ")),
        "{}",
        v.timeline
    );
    // The unanswered write is not needed to show the stale read.
    assert!(!v.timeline.contains("p2"), "{}", v.timeline);
    assert!(v.timeline.contains("put c1-v1-abcdef.."), "{}", v.timeline);
    assert!(v.timeline.contains("40.000ms"), "{}", v.timeline);
    assert!(lines.iter().all(|l| l.len() <= 140), "{}", v.timeline);
}

// Generated executions of the true register.

/// One generated operation: key, kind, argument choice, window around its point,
/// and how it ends (0: no answer but applied, 1: no answer and not applied, 2: refused,
/// else answered).
type Step = (usize, u8, usize, u64, u64, u8);

fn steps() -> impl Strategy<Value = Vec<Step>> {
    proptest::collection::vec(
        (0..3usize, 0..4u8, 0..8usize, 0..60u64, 0..60u64, 0..12u8),
        1..40,
    )
}

/// A history from applying `steps` in order to real registers, the i-th at 10·i + 100 ms,
/// each inside a window around that point; with a final read of each key.
fn execute(steps: &[Step]) -> History {
    let mut state: Vec<Option<Bytes>> = vec![None; 3];
    let mut written: Vec<Bytes> = Vec::new();
    let mut records = Vec::new();
    for (i, &(key, kind, arg, before, after, end)) in steps.iter().enumerate() {
        let point = 10 * i as u64 + 100;
        let s = &mut state[key];
        let new = b(&format!("c1-v{i}-padding"));
        let op = match kind {
            0 => Op::Get,
            1 => Op::Put(new.clone()),
            2 => Op::Delete,
            _ => Op::Cas {
                expected: match arg {
                    0..=2 => s.clone(),
                    3 => None,
                    _ => written.get(arg * 7 % written.len().max(1)).cloned(),
                },
                new: new.clone(),
            },
        };
        let applied = !matches!(end, 1 | 2);
        let outcome = if applied {
            super::bench::apply(&op, s)
        } else {
            Outcome::Unknown(String::new())
        };
        let outcome = match end {
            0 | 1 => Outcome::Unknown("timed out".to_string()),
            2 => Outcome::Failed("refused".to_string()),
            _ => outcome,
        };
        written.push(new);
        records.push(Record {
            client: 1,
            process: i as u32 % 5,
            key: format!("k{key}"),
            op,
            session: None,
            invoked: ms(point - before),
            completed: ms(point + after),
            invoke_seq: point - before,
            complete_seq: point + after,
            outcome,
        });
    }
    records.sort_by_key(|r| r.completed);
    let end = 10 * steps.len() as u64 + 200;
    let final_reads = (0..3)
        .map(|k| {
            let read = FinalRead {
                result: Ok(state[k].clone()),
                invoked: ms(end + k as u64),
                completed: ms(end + k as u64),
                invoke_seq: end + k as u64,
                complete_seq: end + k as u64,
            };
            (format!("k{k}"), read)
        })
        .collect();
    History {
        records,
        final_reads,
        events: 0,
        in_flight: BTreeMap::new(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn executions_of_a_register_are_linearizable(steps in steps()) {
        let h = execute(&steps);
        let report = check(&h);
        prop_assert!(report.violations.is_empty(), "{}", report.violations[0]);
        prop_assert!(report.undecided.is_empty());
        prop_assert_eq!(report.keys_checked, 3);
    }

    #[test]
    fn an_impossible_answer_is_flagged(steps in steps(), pick in 0..64usize, keys in 1..=3usize) {
        // Fewer keys, more contention on each.
        let steps: Vec<Step> = steps.into_iter().map(|s| (s.0 % keys, s.1, s.2, s.3, s.4, s.5)).collect();
        let mut h = execute(&steps);
        let ghost = b("ghost-value");
        // Make one answered read or compare-and-set report a value never written (the
        // final reads count too: they are the last resort).
        let answered: Vec<usize> = (0..h.records.len())
            .filter(|&i| matches!(h.records[i].outcome, Outcome::Value(_) | Outcome::Cas { .. }))
            .collect();
        let (key, mutated) = if answered.is_empty() {
            let read = h.final_reads.get_mut("k0").unwrap();
            read.result = Ok(Some(ghost.clone()));
            ("k0".to_string(), None)
        } else {
            let i = answered[pick % answered.len()];
            let rec = &mut h.records[i];
            // A compare-and-set keeps its verdict, so no write disappears with it.
            rec.outcome = match &rec.outcome {
                Outcome::Cas { swapped, .. } => Outcome::Cas { swapped: *swapped, current: Some(ghost.clone()) },
                _ => Outcome::Value(Some(ghost.clone())),
            };
            (rec.key.clone(), Some(i))
        };
        let report = check(&h);
        prop_assert_eq!(report.violations.len(), 1);
        let v = &report.violations[0];
        prop_assert_eq!(&v.key, &key);
        match mutated {
            Some(i) => prop_assert!(v.records.contains(&i)),
            None => prop_assert!(v.final_read),
        }

        // Minimising invents nothing: every value the sub-history observes is the ghost
        // or written inside it.
        let sub: Vec<&Record> = v.records.iter().map(|&i| &h.records[i]).collect();
        let written: Vec<&Bytes> = sub.iter().filter_map(|r| match &r.op {
            Op::Put(v) | Op::Cas { new: v, .. } => Some(v),
            _ => None,
        }).collect();
        let mut seen: Vec<&Bytes> = Vec::new();
        for (&i, r) in v.records.iter().zip(&sub) {
            if v.unused_answers.contains(&i) {
                continue;
            }
            match (&r.op, &r.outcome) {
                (_, Outcome::Value(Some(x))) => seen.push(x),
                (Op::Cas { expected: Some(x), .. }, Outcome::Cas { swapped: true, .. }) => seen.push(x),
                (_, Outcome::Cas { swapped: false, current: Some(x) }) => seen.push(x),
                _ => {}
            }
        }
        if v.final_read {
            if let Ok(Some(x)) = &h.final_reads[&key].result {
                seen.push(x);
            }
        }
        for x in seen {
            prop_assert!(*x == ghost || written.contains(&x), "{}", v);
        }

        // And the sub-history fails on its own.
        let mut alone = history(sub.into_iter().cloned().collect());
        if v.final_read {
            alone.final_reads.insert(key.clone(), h.final_reads[&key].clone());
        }
        prop_assert_eq!(check(&alone).violations.len(), 1);

        // And it fails because of the impossible answer: with that answer (and those it
        // marks unused) unknown, it passes. Otherwise minimising dropped a write some
        // other answer needed and reports an anomaly of its own making.
        let mut restored = history(Vec::new());
        for &j in &v.records {
            let mut rec = h.records[j].clone();
            if Some(j) == mutated || v.unused_answers.contains(&j) {
                rec.outcome = Outcome::Unknown("ignored".to_string());
            }
            restored.records.push(rec);
        }
        if v.final_read && mutated.is_some() {
            restored.final_reads.insert(key.clone(), h.final_reads[&key].clone());
        }
        let report = check(&restored);
        prop_assert!(report.violations.is_empty(), "{}\nrestored:\n{}", v, report.violations[0]);
    }
}

#[test]
fn benchmark_histories_are_linearizable() {
    let h = bench_history(3_000, 20, 8, 0.05, 7);
    assert_eq!(h.records.len(), 3_000);
    assert!(h
        .records
        .iter()
        .any(|r| r.outcome.kind() == OutcomeKind::Info));
    assert_eq!(h.records, bench_history(3_000, 20, 8, 0.05, 7).records);
    let report = check(&h);
    assert!(report.violations.is_empty(), "{}", report.violations[0]);
    assert!(report.undecided.is_empty());
    assert_eq!(report.keys_checked, 20);
}
