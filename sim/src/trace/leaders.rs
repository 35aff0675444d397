//! Who led a group in which term, as the trace shows it.
//!
//! Only a Raft leader sends `AppendEntries` and `InstallSnapshot`, and it sends them in its
//! own term; so the senders of those frames in a term are the members that believed they
//! led it. The trace records a frame when it is written to the connection, whether or not
//! it arrives, so a leader cut off from its group still shows up here.
//!
//! This module reads the trace; it neither judges (that is `checks::leaders`) nor acts
//! (the runner picks the member to crash or isolate from [`current_leader`]).

use std::collections::{BTreeMap, BTreeSet};

use protocol::peer::{PeerMessage, Term};

use super::{Message, Trace, What};

/// The term of a frame only a leader sends, or `None` for any other message.
fn leader_term(msg: &Message) -> Option<Term> {
    match msg {
        Message::Peer(PeerMessage::AppendEntries(a)) => Some(a.term),
        Message::Peer(PeerMessage::InstallSnapshot(s)) => Some(s.term),
        _ => None,
    }
}

/// For the group whose members are `members`, every term in which some member sent
/// `AppendEntries` or `InstallSnapshot`, with the members that did.
pub fn senders_by_term(trace: &Trace, members: &[String]) -> BTreeMap<Term, BTreeSet<String>> {
    let mut out: BTreeMap<Term, BTreeSet<String>> = BTreeMap::new();
    for e in &trace.events {
        if let What::Send { from, msg, .. } = &e.what {
            if let Some(term) = leader_term(msg) {
                if members.iter().any(|m| **m == **from) {
                    out.entry(term).or_default().insert(from.to_string());
                }
            }
        }
    }
    out
}

/// The member of the group `members` that leads it now as far as the trace shows, with its
/// term: the sender of `AppendEntries` (or `InstallSnapshot`) in the highest term seen; of
/// several (which `one_leader_per_term` would flag), the latest. `None` before any member
/// has led.
pub fn current_leader(trace: &Trace, members: &[String]) -> Option<(String, Term)> {
    let mut best: Option<(Term, &str)> = None;
    for e in &trace.events {
        if let What::Send { from, msg, .. } = &e.what {
            if let Some(term) = leader_term(msg) {
                let newer = best.is_none_or(|(t, _)| term >= t);
                if newer && members.iter().any(|m| **m == **from) {
                    best = Some((term, from));
                }
            }
        }
    }
    best.map(|(term, from)| (from.to_string(), term))
}

/// The first frame a member sent as leader of a term: the events (by index) at which a
/// member starts to lead, for the sequence diagram.
pub fn first_of_each_term(trace: &Trace) -> BTreeSet<usize> {
    let mut seen: BTreeSet<(&str, Term)> = BTreeSet::new();
    let mut out = BTreeSet::new();
    for (i, e) in trace.events.iter().enumerate() {
        if let What::Send { from, msg, .. } = &e.what {
            if let Some(term) = leader_term(msg) {
                if seen.insert((from, term)) {
                    out.insert(i);
                }
            }
        }
    }
    out
}

/// A `Send` of an `AppendEntries` (with `entries` empty entries) in `term`, for tests.
#[cfg(test)]
pub(crate) fn append_sent(from: &str, to: &str, term: u64, entries: usize) -> What {
    use bytes::Bytes;
    use protocol::peer::{AppendEntries, Entry, LogIndex, PeerId};
    let entry = Entry {
        term: Term(term),
        data: Bytes::new(),
    };
    let msg = Message::Peer(PeerMessage::AppendEntries(AppendEntries {
        term: Term(term),
        leader: PeerId(0),
        prev_log_index: LogIndex(0),
        prev_log_term: Term(0),
        leader_commit: LogIndex(0),
        entries: vec![entry; entries],
        round: 0,
    }));
    What::Send {
        from: from.into(),
        to: to.into(),
        msg,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn append(trace: &mut Trace, from: &str, to: &str, term: u64) {
        trace.push(Duration::ZERO, append_sent(from, to, term, 1));
    }
    fn group(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_highest_term_wins_and_other_groups_do_not_count() {
        let mut t = Trace::default();
        append(&mut t, "n1a", "n1b", 1);
        append(&mut t, "n1b", "n1a", 2);
        append(&mut t, "n2a", "n2b", 9);
        append(&mut t, "n1a", "n1c", 1);
        let g1 = group(&["n1a", "n1b", "n1c"]);
        assert_eq!(current_leader(&t, &g1), Some(("n1b".into(), Term(2))));
        assert_eq!(current_leader(&t, &group(&["n3a"])), None);
        let by_term = senders_by_term(&t, &g1);
        assert_eq!(by_term.len(), 2);
        assert_eq!(first_of_each_term(&t), BTreeSet::from([0, 1, 2]));
    }
}
