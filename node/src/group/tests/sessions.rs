//! Client sessions: what a group answers a resend, what it refuses, and what moves with a
//! hand-off.

use super::*;

/// A client command of session `client`, number `sequence`.
fn tagged(client: u64, sequence: u64, command: Command) -> Request {
    Request {
        session: Some(SessionTag {
            client_id: client,
            sequence,
        }),
        command,
    }
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn cas(key: &str, expected: &str, new: &str) -> Command {
    Command::CompareAndSet {
        key: b(key),
        expected: Some(b(expected)),
        new: b(new),
    }
}

fn put_cmd(key: &str, value: &str) -> Command {
    Command::Put {
        key: b(key),
        value: b(value),
    }
}

fn run(s: &mut GroupState, req: Request) -> Outcome {
    s.apply(&GroupCommand::Client(req))
}

#[test]
fn an_entry_whose_key_stays_behind_still_refuses_older_commands_at_the_receiver() {
    // The sender: client 7's last write named a key the hand-off does not move.
    let mut sender = lone_member(0);
    let arc = begin_transfer_to_b(&mut sender, 3);
    sender.apply(&GroupCommand::ReleaseLock);
    let stays = (0..100)
        .map(|i| format!("s{i}"))
        .find(|k| !arc.contains_key(&b(k)))
        .unwrap();
    let moves = (0..100)
        .map(|i| format!("m{i}"))
        .find(|k| arc.contains_key(&b(k)))
        .unwrap();
    sender
        .sessions
        .record(7, Session::after(5, b(&stays), &Response::Stored));
    let entries = sender.sessions_in(&arc);
    assert_eq!(entries.len(), 1, "the entry moves though its key stays");
    assert!(entries[0].answer.is_empty(), "without its answer");

    // The receiver knew an older command of client 7, and owns the moved keys.
    let mut receiver = lone_member(0);
    run(&mut receiver, tagged(7, 2, put_cmd(&moves, "old")));
    receiver.apply(&GroupCommand::ReceivePart(PutPart {
        transfer_id: 3,
        part: 0,
        items: vec![],
        sessions: entries,
    }));
    // Command 4, given up on before 5 was sent, is held on a link and lands here late.
    let late = run(&mut receiver, tagged(7, 4, put_cmd(&moves, "given up")));
    assert!(matches!(late, Outcome::Rejected(_)), "{late:?}");
    assert_eq!(receiver.kv.get(&b(&moves)), Some(&b("old")));
    // Command 5 itself was applied: never applied again, whatever key it names here.
    let again = run(&mut receiver, tagged(7, 5, put_cmd(&moves, "new")));
    assert!(
        matches!(again, Outcome::Refused(Route::Retry(_))),
        "{again:?}"
    );
    assert_eq!(receiver.kv.get(&b(&moves)), Some(&b("old")));
    // A newer command is new.
    let next = run(&mut receiver, tagged(7, 6, put_cmd(&moves, "newer")));
    assert_eq!(next, Outcome::Response(Response::Stored));
}

#[test]
fn a_resent_compare_and_set_that_did_not_swap_is_answered_from_the_value_now_and_never_swaps() {
    let mut s = lone_member(0);
    let big = "v".repeat(32 * 1024);
    run(&mut s, tagged(1, 1, put_cmd("k", &big)));
    run(&mut s, tagged(9, 1, put_cmd("other", "x")));
    // Client 9's command 2 finds a value it did not expect: no swap.
    let failed = run(&mut s, tagged(9, 2, cas("k", "x", "mine")));
    assert_eq!(
        failed,
        Outcome::Response(Response::CompareAndSet {
            swapped: false,
            current: Some(b(&big)),
        })
    );
    // The entry keeps no value.
    let entry = s.sessions.get(9).unwrap();
    assert!(entry.answer_bytes().len() < 8, "{entry:?}");
    // A resend while the key still differs: "not swapped", with the value now.
    run(&mut s, tagged(1, 2, put_cmd("k", "y")));
    assert_eq!(
        run(&mut s, tagged(9, 2, cas("k", "x", "mine"))),
        Outcome::Response(Response::CompareAndSet {
            swapped: false,
            current: Some(b("y")),
        })
    );
    // Once the key holds the expected value, a resend (or a copy held on a link after the
    // client saw "not swapped") is refused, not run: it would swap.
    run(&mut s, tagged(1, 3, put_cmd("k", "x")));
    let held = run(&mut s, tagged(9, 2, cas("k", "x", "mine")));
    assert!(
        matches!(held, Outcome::Refused(Route::Retry(_))),
        "{held:?}"
    );
    assert_eq!(s.kv.get(&b("k")), Some(&b("x")));
    // Client 9's older command is refused; its next one runs.
    let older = run(&mut s, tagged(9, 1, put_cmd("k", "stale")));
    assert!(matches!(older, Outcome::Rejected(_)), "{older:?}");
    assert_eq!(
        run(&mut s, tagged(9, 3, cas("k", "x", "mine"))),
        Outcome::Response(Response::CompareAndSet {
            swapped: true,
            current: Some(b("mine")),
        })
    );
}

/// Found by review: a copy of a failed compare-and-set held on a link lands after the
/// client was answered "not swapped" by another copy, and after another client deleted
/// the key; run again, it swapped a write the client was told did not happen.
#[test]
fn a_held_copy_of_a_compare_and_set_the_client_saw_fail_never_swaps() {
    let mut s = lone_member(0);
    run(&mut s, tagged(1, 1, put_cmd("k", "other")));
    let absent_cas = Command::CompareAndSet {
        key: b("k"),
        expected: None,
        new: b("mine"),
    };
    let answered = run(&mut s, tagged(9, 3, absent_cas.clone()));
    assert!(matches!(
        answered,
        Outcome::Response(Response::CompareAndSet { swapped: false, .. })
    ));
    run(&mut s, tagged(1, 2, Command::Delete { key: b("k") }));
    let late = run(&mut s, tagged(9, 3, absent_cas));
    assert!(
        matches!(late, Outcome::Refused(Route::Retry(_))),
        "{late:?}"
    );
    assert_eq!(s.kv.get(&b("k")), None);
}

#[test]
fn on_a_tie_the_entry_with_its_answer_wins() {
    let with = Session::after(4, b("k"), &Response::Stored);
    let without = Session {
        answer: SessionAnswer::NotKept,
        ..with.clone()
    };
    for order in [[&with, &without], [&without, &with]] {
        let mut s = lone_member(0);
        for (part, session) in order.iter().enumerate() {
            s.apply(&GroupCommand::ReceivePart(PutPart {
                transfer_id: 1,
                part: part as u32,
                items: vec![],
                sessions: vec![session.to_entry(3, session.answer != SessionAnswer::NotKept)],
            }));
        }
        assert_eq!(s.sessions.get(3), Some(&with));
        let resend = tagged(3, 4, put_cmd("k", "v"));
        assert_eq!(
            s.session_answer(&resend),
            Some(Outcome::Response(Response::Stored))
        );
    }
    // And an older entry with its answer never replaces a newer one without.
    let newer = Session {
        sequence: 5,
        ..without.clone()
    };
    assert!(!with.supersedes(&newer));
    assert!(newer.supersedes(&with));
}

#[test]
fn stored_sessions_read_back_as_recorded_and_whole_old_answers_are_understood() {
    let key = b("k");
    for (command, response) in [
        (put_cmd("k", "v"), Response::Stored),
        (
            Command::Delete { key: key.clone() },
            Response::Deleted(true),
        ),
        (
            cas("k", "a", "b"),
            Response::CompareAndSet {
                swapped: true,
                current: Some(b("b")),
            },
        ),
        (
            cas("k", "a", "b"),
            Response::CompareAndSet {
                swapped: false,
                current: Some(b("z")),
            },
        ),
    ] {
        let recorded = Session::after(8, command.key().clone(), &response);
        let stored = recorded.answer_bytes();
        assert_eq!(
            Session::from_stored(recorded.sequence, key.clone(), &stored),
            recorded
        );
        // Older versions stored the whole answer: read as it would be recorded now.
        assert_eq!(
            Session::from_stored(8, key.clone(), &response.to_bytes()),
            recorded,
            "{response:?}"
        );
        if recorded.answer != SessionAnswer::NotSwapped {
            assert_eq!(recorded.resend_answer(&command), Some(response));
        }
    }
    // An answer that does not decode still refuses older commands and is never rerun.
    let garbage = Session::from_stored(8, key, b"\xff");
    assert_eq!(
        (garbage.sequence, garbage.answer),
        (8, SessionAnswer::NotKept)
    );
}

#[test]
fn the_least_recently_recorded_session_is_dropped_beyond_the_bound_even_after_a_snapshot() {
    let mut s = lone_member(0);
    for client in 0..MAX_SESSIONS as u64 {
        run(&mut s, tagged(client, 1, put_cmd("k", "v")));
    }
    // Client 0 writes again: client 1 is now the least recently recorded.
    run(&mut s, tagged(0, 2, put_cmd("k", "v")));
    assert_eq!(s.sessions.len(), MAX_SESSIONS);
    let restored = {
        let bytes = super::super::snapshot::encode(&s, 7);
        super::super::snapshot::decode(hp("a:1"), &bytes).unwrap().0
    };
    assert_eq!(restored, s);
    for mut state in [s, restored] {
        run(&mut state, tagged(1_000_000, 1, put_cmd("k", "v")));
        assert_eq!(state.sessions.len(), MAX_SESSIONS);
        assert!(state.sessions.get(1).is_none(), "client 1 is dropped");
        assert!(state.sessions.get(0).is_some() && state.sessions.get(2).is_some());
        // Dropped, client 1 counts as new: its old command is no longer refused.
        assert_eq!(
            run(&mut state, tagged(1, 1, put_cmd("k", "again"))),
            Outcome::Response(Response::Stored)
        );
        assert!(state.sessions.get(2).is_none(), "then client 2 goes");
    }
}

/// Found by review: a hand-off's entries went in as the most recently used, so a receiver
/// that merged a full table (a removal's) dropped every session of its own at once, and
/// a held copy of a client's older put landed over its newer acknowledged one.
#[test]
fn a_hand_off_from_a_full_table_never_drops_the_receivers_own_sessions() {
    let mut s = lone_member(0);
    run(&mut s, tagged(7, 5, put_cmd("k", "v1")));
    run(&mut s, tagged(7, 6, put_cmd("k", "v2")));
    // The sender's table, most recently used first, as `sessions_in` lists it.
    let incoming: Vec<_> = (0..MAX_SESSIONS as u64)
        .map(|c| {
            Session {
                sequence: 1,
                answer: SessionAnswer::NotKept,
                key: Bytes::new(),
            }
            .to_entry(1_000 + c, false)
        })
        .collect();
    for (i, chunk) in incoming.chunks(600).enumerate() {
        s.apply(&GroupCommand::ReceivePart(PutPart {
            transfer_id: 77,
            part: i as u32,
            items: vec![],
            sessions: chunk.to_vec(),
        }));
    }
    assert_eq!(s.sessions.len(), MAX_SESSIONS);
    // The held copy of command 5 is refused; the value stays.
    let held = run(&mut s, tagged(7, 5, put_cmd("k", "v1")));
    assert!(matches!(held, Outcome::Rejected(_)), "{held:?}");
    assert_eq!(s.kv.get(&b("k")), Some(&b("v2")));
    // What went was the sender's least recently used entry (listed last).
    assert!(s.sessions.get(1_000).is_some());
    assert!(s.sessions.get(1_000 + MAX_SESSIONS as u64 - 1).is_none());
    // A known client's entry from a hand-off keeps its place: it is not the next to go.
    s.apply(&GroupCommand::ReceivePart(PutPart {
        transfer_id: 78,
        part: 0,
        items: vec![],
        sessions: vec![Session::after(9, b("k"), &Response::Stored).to_entry(7, false)],
    }));
    run(&mut s, tagged(8, 1, put_cmd("other", "x")));
    assert_eq!(s.sessions.get(7).map(|e| e.sequence), Some(9));
}
