//! Flow control of replication: one probe at a time until a follower's log is known to
//! match, then pipelining up to the window, and heartbeats that never resend entries in
//! flight. Driven by hand (one leader, its followers' answers typed in), so every message
//! the leader sends is seen.

use bytes::Bytes;
use protocol::peer::{
    AppendEntries, AppendEntriesReply, LogIndex, PeerId, PeerMessage, RequestVoteReply, Term,
};

use crate::io::Rng;
use crate::raft::{Raft, RaftConfig, Recovered, Role};

/// Member 0 of three, elected leader of term 1 by answering its pre-vote and vote by hand;
/// at most `window` messages with entries in flight and one entry per message.
fn leader(window: usize) -> Raft {
    let mut config = RaftConfig::new(PeerId(0), vec![PeerId(0), PeerId(1), PeerId(2)]);
    config.max_inflight_appends = window;
    config.max_append_entries = 1;
    let mut raft = Raft::new(config, Recovered::default(), Rng::from_seed(1));
    for pre_vote in [true, false] {
        for _ in 0..100 {
            let asked =
                raft.ready().messages.iter().any(
                    |(_, m)| matches!(m, PeerMessage::RequestVote(v) if v.pre_vote == pre_vote),
                );
            if asked {
                break;
            }
            raft.tick();
        }
        let grant = RequestVoteReply {
            term: Term(1),
            vote_granted: true,
            pre_vote,
        };
        raft.step(PeerId(1), grant.into());
    }
    assert_eq!(raft.role(), Role::Leader);
    raft
}

/// The `AppendEntries` in one `Ready`, to `to`.
fn appends_to(raft: &mut Raft, to: PeerId) -> Vec<AppendEntries> {
    raft.ready()
        .messages
        .into_iter()
        .filter_map(|(peer, m)| match m {
            PeerMessage::AppendEntries(a) if peer == to => Some(a),
            _ => None,
        })
        .collect()
}

fn ack(raft: &mut Raft, from: PeerId, index: u64, success: bool) {
    let reply = AppendEntriesReply {
        term: Term(1),
        success,
        last_log_index: LogIndex(index),
        round: 0,
    };
    raft.step(from, reply.into());
}

fn propose(raft: &mut Raft, n: usize) {
    for _ in 0..n {
        raft.propose(Bytes::from_static(b"x")).expect("leader");
    }
}

fn heartbeat(raft: &mut Raft) {
    for _ in 0..crate::raft::DEFAULT_HEARTBEAT_TICKS {
        raft.tick();
    }
}

/// (prev_log_index, number of entries) of each message.
fn shape(appends: &[AppendEntries]) -> Vec<(u64, usize)> {
    appends
        .iter()
        .map(|a| (a.prev_log_index.0, a.entries.len()))
        .collect()
}

#[test]
fn a_probed_follower_gets_one_message_without_entries_until_it_answers() {
    let mut raft = leader(8);
    let f = PeerId(2);
    // The first broadcast of the term probes after the log the leader was elected with
    // (empty): the no-op at index 1 waits for the answer.
    assert_eq!(shape(&appends_to(&mut raft, f)), [(0, 0)]);
    propose(&mut raft, 3);
    assert_eq!(
        shape(&appends_to(&mut raft, f)),
        [],
        "nothing while the probe is out"
    );
    heartbeat(&mut raft);
    assert_eq!(
        shape(&appends_to(&mut raft, f)),
        [(0, 0)],
        "a heartbeat while probing carries no entries"
    );
    // The logs match at 0: replicate, and the no-op and three entries are pipelined.
    ack(&mut raft, f, 0, true);
    assert_eq!(
        shape(&appends_to(&mut raft, f)),
        [(0, 1), (1, 1), (2, 1), (3, 1)]
    );
}

#[test]
fn pipelining_stops_at_the_window_and_heartbeats_resend_nothing() {
    let mut raft = leader(2);
    let f = PeerId(1);
    appends_to(&mut raft, f);
    ack(&mut raft, f, 0, true);
    assert_eq!(shape(&appends_to(&mut raft, f)), [(0, 1)], "the no-op");
    ack(&mut raft, f, 1, true);
    propose(&mut raft, 5);
    assert_eq!(
        shape(&appends_to(&mut raft, f)),
        [(1, 1), (2, 1)],
        "two in flight"
    );
    propose(&mut raft, 1);
    assert_eq!(shape(&appends_to(&mut raft, f)), [], "the window is full");
    heartbeat(&mut raft);
    assert_eq!(
        shape(&appends_to(&mut raft, f)),
        [(3, 0)],
        "a heartbeat follows the last entry sent, without entries"
    );
    // One answer covering the first message frees one slot.
    ack(&mut raft, f, 2, true);
    assert_eq!(shape(&appends_to(&mut raft, f)), [(3, 1)]);
    // One covering everything sent frees the window.
    ack(&mut raft, f, 4, true);
    assert_eq!(shape(&appends_to(&mut raft, f)), [(4, 1), (5, 1)]);
}

#[test]
fn a_refusal_returns_to_probing_from_the_hint_and_stale_ones_are_ignored() {
    let mut raft = leader(8);
    let f = PeerId(1);
    appends_to(&mut raft, f);
    ack(&mut raft, f, 0, true);
    propose(&mut raft, 3);
    assert_eq!(
        shape(&appends_to(&mut raft, f)),
        [(0, 1), (1, 1), (2, 1), (3, 1)]
    );
    ack(&mut raft, f, 1, true);
    // The follower lost the message after 1 (a reconnect): it refuses the next two.
    ack(&mut raft, f, 1, false);
    assert_eq!(
        shape(&appends_to(&mut raft, f)),
        [(1, 0)],
        "one probe after 1"
    );
    ack(&mut raft, f, 1, false);
    assert_eq!(
        shape(&appends_to(&mut raft, f)),
        [],
        "the same hint again is stale"
    );
    ack(&mut raft, f, 1, true);
    assert_eq!(shape(&appends_to(&mut raft, f)), [(1, 1), (2, 1), (3, 1)]);
}
