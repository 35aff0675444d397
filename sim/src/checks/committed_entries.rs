//! Committed entries never change (Raft's State Machine Safety and Log Matching), judged
//! from the `AppendEntries` and `InstallSnapshot` frames leaders sent.
//!
//! Only a leader sends those frames, in its own term, so every one of them is a statement
//! about the sender's log as leader of that term: `prev_log_index`/`prev_log_term` and each
//! entry (index `prev_log_index + 1 ..`, with its term and bytes) say what the log holds
//! there; `leader_commit = c` says the entries up to `c` are committed; an
//! `InstallSnapshot`'s `last_included_index`/`_term` says what the log holds at the base of
//! its snapshot, which is committed (a snapshot is taken of applied state).
//!
//! **Inference.** A leader never overwrites or removes an entry of its own log while it
//! leads (Leader Append-Only), so what one leader says about an index in one term holds
//! for that whole term, before and after the frame that said it. Hence an entry is known
//! committed when *some* frame of that leader and term carried it (as an entry, as the
//! previous entry, or as a snapshot base) and *some* frame of the same leader and term had
//! `leader_commit` at or past its index, in whatever order the two were sent. This finds
//! more than "`leader_commit >= i` in the frame that carries `i`": a heartbeat announcing
//! commit 40 commits the entries 31..=40 that the same leader sent earlier in its term, and
//! a retransmission to a lagging follower carries entries below a commit index announced
//! before. Entries the leader inherited and never sent in its term stay unknown.
//!
//! **Violations**, per group:
//!
//! - *append-only*: one leader, in one term, sent two different things at one index;
//! - *state machine safety*: two leaders (or one snapshot) claim different committed
//!   entries at one index: their members apply different commands there;
//! - *leader completeness*: an entry was committed in term `T` (the lowest term of a leader
//!   that claimed it committed); a leader of a later term sent something else at its
//!   index. Raft guarantees every leader after `T` holds the committed entry;
//! - *log matching*: two entries with the same index and term but different bytes (only
//!   the one leader of a term creates entries of that term, once per index).
//!
//! **What is legal and not flagged:** a leader of a term *not after* the commit term that
//! carries something else at a committed index. That is a follower's uncommitted suffix
//! being overwritten (the entries a deposed leader replicated but never committed), or a
//! deposed leader, cut off and still sending, that has not learnt of the newer terms:
//! its frames are refused by any member that knows the newer term.
//!
//! Groups of one member send no peer frames, so they are not judged here.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use node::group::GroupCommand;
use protocol::peer::{PeerMessage, Term};

use super::joins::group_name;
use super::Failure;
use crate::trace::{printable, Message, Trace, What};

/// The check's name, as in `[checks]`.
const NAME: &str = "committed_entries_stable";

/// At most this many failures per group; the rest are counted in one more line.
const MAX_PER_GROUP: usize = 8;

/// What one leader's frames said its log holds at one index.
#[derive(Debug, Clone, Copy)]
struct Seen<'a> {
    /// The entry's term.
    term: Term,
    /// Its bytes, when a frame carried the entry itself (not only its term).
    data: Option<&'a Bytes>,
    /// When a frame first said so.
    at: Duration,
    /// The trace event of that frame.
    event: usize,
}

impl Seen<'_> {
    /// Whether two statements about one index cannot both be true.
    fn contradicts(&self, other: &Seen<'_>) -> bool {
        self.term != other.term || matches!((self.data, other.data), (Some(a), Some(b)) if a != b)
    }
}

/// One leader's log in one term, as far as its frames showed it.
#[derive(Debug, Default)]
struct LeaderLog<'a> {
    /// Index -> what the leader's log holds there.
    entries: BTreeMap<u64, Seen<'a>>,
    /// The commit index announced, as (when first announced, index), growing.
    commits: Vec<(Duration, u64)>,
}

impl<'a> LeaderLog<'a> {
    fn commit_index(&self) -> u64 {
        self.commits.last().map_or(0, |&(_, c)| c)
    }

    /// When the leader first announced a commit index at or past `index`.
    fn committed_since(&self, index: u64) -> Option<Duration> {
        self.commits
            .iter()
            .find(|&&(_, c)| c >= index)
            .map(|&(at, _)| at)
    }

    fn announce_commit(&mut self, at: Duration, commit: u64) {
        if commit > self.commit_index() {
            self.commits.push((at, commit));
        }
    }
}

/// A leader of a term: (term, host).
type LeaderKey<'a> = (Term, &'a str);

/// An entry some leader's frames showed committed.
#[derive(Debug, Clone, Copy)]
struct Claim<'a> {
    seen: Seen<'a>,
    leader: LeaderKey<'a>,
    /// When it was first known committed: the later of the frame carrying it and the
    /// first commit announcement covering it.
    at: Duration,
}

/// Everything one group's leaders sent, and the append-only violations found on the way.
#[derive(Default)]
struct GroupFrames<'a> {
    logs: BTreeMap<LeaderKey<'a>, LeaderLog<'a>>,
    /// The first entry (with its bytes) seen at each (index, term), for log matching.
    by_position: BTreeMap<(u64, Term), (LeaderKey<'a>, Seen<'a>)>,
    /// The first event where each host spoke in each term as a candidate or leader (a vote
    /// request, not a pre-vote, or a leader's frame).
    campaigned: BTreeMap<LeaderKey<'a>, usize>,
    failures: Vec<String>,
}

impl<'a> GroupFrames<'a> {
    /// Records that `leader`'s log holds `seen` at `index`.
    fn note(&mut self, leader: LeaderKey<'a>, index: u64, seen: Seen<'a>) {
        if index == 0 {
            // "Before the first entry": no entry to speak of.
            return;
        }
        self.log_matching(leader, index, seen);
        let log = self.logs.entry(leader).or_default();
        match log.entries.get_mut(&index) {
            None => {
                log.entries.insert(index, seen);
            }
            Some(old) if old.contradicts(&seen) => {
                let (term, host) = leader;
                self.failures.push(format!(
                    "{host}, leading term {}, sent index {index} as {} at {} and as {} at {}: \
                     a leader never rewrites its own log",
                    term.0,
                    show(old),
                    secs(old.at),
                    show(&seen),
                    secs(seen.at)
                ));
                // Report each index once.
                *old = seen;
            }
            Some(old) => {
                if old.data.is_none() {
                    old.data = seen.data;
                }
            }
        }
    }

    /// Log matching: one entry per (index, term), committed or not. Only the first sighting
    /// per leader and term counts here; one leader rewriting its own log is `note`'s.
    fn log_matching(&mut self, leader: LeaderKey<'a>, index: u64, seen: Seen<'a>) {
        if seen.data.is_none() {
            return;
        }
        match self.by_position.get(&(index, seen.term)) {
            None => {
                self.by_position.insert((index, seen.term), (leader, seen));
            }
            Some((first, was)) if was.data != seen.data && *first != leader => {
                self.failures.push(format!(
                    "two different entries at index {index} in term {}: {} sent by {} \
                     (leading term {}) at {}, {} sent by {} (leading term {}) at {}",
                    seen.term.0,
                    describe(was.data),
                    first.1,
                    first.0 .0,
                    secs(was.at),
                    describe(seen.data),
                    leader.1,
                    leader.0 .0,
                    secs(seen.at)
                ));
            }
            Some(_) => {}
        }
    }

    fn frame(&mut self, host: &'a str, at: Duration, event: usize, m: &'a PeerMessage) {
        let term = match m {
            PeerMessage::RequestVote(v) if !v.pre_vote => Some(v.term),
            PeerMessage::AppendEntries(a) => Some(a.term),
            PeerMessage::InstallSnapshot(s) => Some(s.term),
            _ => None,
        };
        if let Some(term) = term {
            self.campaigned.entry((term, host)).or_insert(event);
        }
        match m {
            PeerMessage::AppendEntries(a) => {
                let leader = (a.term, host);
                let prev = a.prev_log_index.0;
                let seen = |term, data| Seen {
                    term,
                    data,
                    at,
                    event,
                };
                self.note(leader, prev, seen(a.prev_log_term, None));
                for (i, e) in a.entries.iter().enumerate() {
                    self.note(leader, prev + 1 + i as u64, seen(e.term, Some(&e.data)));
                }
                let log = self.logs.entry(leader).or_default();
                log.announce_commit(at, a.leader_commit.0);
            }
            PeerMessage::InstallSnapshot(s) => {
                let leader = (s.term, host);
                let index = s.last_included_index.0;
                let seen = Seen {
                    term: s.last_included_term,
                    data: None,
                    at,
                    event,
                };
                self.note(leader, index, seen);
                // A snapshot holds applied, so committed, state.
                self.logs
                    .entry(leader)
                    .or_default()
                    .announce_commit(at, index);
            }
            _ => {}
        }
    }

    /// Every committed entry the frames show, by index, earliest known first.
    fn claims(&self) -> BTreeMap<u64, Vec<Claim<'a>>> {
        let mut out: BTreeMap<u64, Vec<Claim<'a>>> = BTreeMap::new();
        for (&leader, log) in &self.logs {
            for (&index, seen) in log.entries.range(..=log.commit_index()) {
                let announced = log.committed_since(index).unwrap_or(seen.at);
                out.entry(index).or_default().push(Claim {
                    seen: *seen,
                    leader,
                    at: announced.max(seen.at),
                });
            }
        }
        for claims in out.values_mut() {
            claims.sort_by_key(|c| (c.at, c.leader));
        }
        out
    }

    /// The violations of this group: append-only and log matching (found while reading),
    /// then state machine safety and leader completeness.
    fn judge(mut self) -> Vec<String> {
        let mut out = std::mem::take(&mut self.failures);
        for (index, claims) in self.claims() {
            let first = claims[0];
            if let Some(other) = claims.iter().find(|c| c.seen.contradicts(&first.seen)) {
                out.push(format!(
                    "index {index} was committed as {} ({}) and as {} ({}): two members apply \
                     different commands there",
                    show(&first.seen),
                    claimed(&first),
                    show(&other.seen),
                    claimed(other)
                ));
                continue;
            }
            // The lowest term in which a leader knew the entry committed; every leader of a
            // later term must hold it.
            let Some(origin) = claims.iter().min_by_key(|c| (c.leader.0, c.at)) else {
                continue;
            };
            let reference = Seen {
                data: claims.iter().find_map(|c| c.seen.data),
                ..first.seen
            };
            let later = self
                .logs
                .iter()
                .filter(|((term, _), _)| *term > origin.leader.0)
                .filter_map(|(&(term, host), log)| {
                    log.entries.get(&index).map(|seen| (term, host, seen))
                })
                .find(|(_, _, seen)| seen.contradicts(&reference));
            if let Some((term, host, seen)) = later {
                out.push(format!(
                    "index {index} was committed as {} ({}), but {host}, leading the later \
                     term {}, sent it as {} at {}",
                    show(&reference),
                    claimed(origin),
                    term.0,
                    show(seen),
                    secs(seen.at)
                ));
            }
        }
        out
    }

    /// The positions (index, term) the frames show committed: each one a leader both
    /// carried and announced committed in its term, and, by Log Matching, every position
    /// the leader of term `t` held below a committed position `(p, t)`: a log holding
    /// `(p, t)` holds that leader's log up to `p`, so committing `p` commits all of it.
    /// The second half finds what a new leader inherited and committed with its own first
    /// entry without ever sending it again.
    fn committed_positions(&self) -> BTreeSet<(u64, Term)> {
        let mut work: Vec<(u64, Term)> = Vec::new();
        for log in self.logs.values() {
            for (&index, seen) in log.entries.range(..=log.commit_index()) {
                work.push((index, seen.term));
            }
        }
        let mut done = BTreeSet::new();
        // Per term, the index below which its leader's entries were already queued.
        let mut queued_below: BTreeMap<Term, u64> = BTreeMap::new();
        while let Some((p, t)) = work.pop() {
            done.insert((p, t));
            let from = queued_below.get(&t).copied().unwrap_or(0);
            if from >= p {
                continue;
            }
            queued_below.insert(t, p);
            for (_, log) in self.logs.iter().filter(|((term, _), _)| *term == t) {
                for (&q, seen) in log.entries.range(from..p) {
                    work.push((q, seen.term));
                }
            }
        }
        done
    }

    /// The committed entries whose bytes some frame carried, in index order.
    fn committed_entries(&self) -> Vec<CommittedEntry<'a>> {
        self.committed_positions()
            .into_iter()
            .filter_map(|(index, term)| {
                let ((_, creator), seen) = self.by_position.get(&(index, term))?;
                Some(CommittedEntry {
                    index,
                    data: seen.data?,
                    creator,
                    // Every leader of a group of two or more asked for votes first; a
                    // trace built by hand may not show it.
                    term_began: self
                        .campaigned
                        .get(&(term, creator))
                        .copied()
                        .unwrap_or(seen.event),
                    first_sent: seen.event,
                })
            })
            .collect()
    }
}

/// An entry the leaders' frames show committed, with its bytes.
#[derive(Debug, Clone, Copy)]
pub struct CommittedEntry<'a> {
    /// Its index in the group's log.
    pub index: u64,
    /// Its bytes: a [`GroupCommand`], or nothing for a new leader's no-op.
    pub data: &'a Bytes,
    /// The host that created it, as leader of the entry's term: only it can be the first
    /// to send it.
    pub creator: &'a str,
    /// The first event where the creator spoke in the entry's term (its vote request, or
    /// its first frame as leader): the entry was created after it.
    pub term_began: usize,
    /// The trace event where it was first sent with its bytes (by its creator, perhaps
    /// only in a later term: a leader whose sync stalls sends nothing): it was created
    /// before it.
    pub first_sent: usize,
}

/// Per group, the entries its leaders' frames show committed and whose bytes a frame
/// carried, in index order (two at one index only where `committed_entries_stable`
/// fails). Entries no frame carried (a group of one sends no frames) are missing, so this
/// is a subset of the group's committed log, not a prefix.
pub fn committed_log<'a>(groups: &[Vec<String>], trace: &'a Trace) -> Vec<Vec<CommittedEntry<'a>>> {
    read_frames(groups, trace)
        .iter()
        .map(GroupFrames::committed_entries)
        .collect()
}

/// `term 3: put c1-k2 (41 B)`, or `term 3` when only the term is known.
fn show(seen: &Seen<'_>) -> String {
    match seen.data {
        Some(_) => format!("term {}: {}", seen.term.0, describe(seen.data)),
        None => format!("term {}", seen.term.0),
    }
}

/// Who knew a claim committed, and since when.
fn claimed(c: &Claim<'_>) -> String {
    format!(
        "committed by {} in term {} by {}",
        c.leader.1,
        c.leader.0 .0,
        secs(c.at)
    )
}

/// A log entry's command in a few words.
fn describe(data: Option<&Bytes>) -> String {
    let Some(data) = data else {
        return "?".into();
    };
    if data.is_empty() {
        return "no-op".into();
    }
    let what = match GroupCommand::decode(data) {
        Ok(GroupCommand::Client(r)) => {
            use protocol::client::Command::*;
            let (verb, key) = match &r.command {
                Get { key } => ("get", key),
                Put { key, .. } => ("put", key),
                Delete { key } => ("del", key),
                CompareAndSet { key, .. } => ("cas", key),
            };
            format!("{verb} {}", printable(key))
        }
        // The variant's name: `SetNext(..)` -> `SetNext`.
        Ok(other) => format!("{other:?}")
            .split(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or_default()
            .to_string(),
        Err(_) => "undecodable".into(),
    };
    format!("{what} ({} B)", data.len())
}

fn secs(at: Duration) -> String {
    format!("{:.3}s", at.as_secs_f64())
}

/// Every group's leaders' frames, read. `groups` holds each started group's members.
fn read_frames<'a>(groups: &[Vec<String>], trace: &'a Trace) -> Vec<GroupFrames<'a>> {
    let group_of = super::group_of(groups);
    let mut frames: Vec<GroupFrames<'_>> = groups.iter().map(|_| GroupFrames::default()).collect();
    for (i, e) in trace.events.iter().enumerate() {
        if let What::Send {
            from,
            msg: Message::Peer(m),
            ..
        } = &e.what
        {
            if let Some(&g) = group_of.get(&**from) {
                frames[g].frame(from, e.at, i, m);
            }
        }
    }
    frames
}

/// Checks every group's leaders' frames. `groups` holds each started group's members.
pub fn check(groups: &[Vec<String>], trace: &Trace) -> Vec<Failure> {
    let mut out = Vec::new();
    for (g, f) in read_frames(groups, trace).into_iter().enumerate() {
        let found = f.judge();
        let name = format!("group {} ({})", g + 1, group_name(&groups[g]));
        for detail in found.iter().take(MAX_PER_GROUP) {
            out.push(Failure::new(NAME, format!("{name}: {detail}")));
        }
        if found.len() > MAX_PER_GROUP {
            out.push(Failure::new(
                NAME,
                format!("{name}: {} more violations", found.len() - MAX_PER_GROUP),
            ));
        }
    }
    out
}

/// For tests: leader `from` of `term` sends a follower entries `(term, data)` after `prev`
/// (index, term), announcing `commit`, at `ms` milliseconds.
#[cfg(test)]
pub(super) fn leader_frame(
    t: &mut Trace,
    ms: u64,
    from: &str,
    term: u64,
    prev: (u64, u64),
    entries: Vec<(u64, Bytes)>,
    commit: u64,
) {
    use protocol::peer::{AppendEntries, Entry, LogIndex, PeerId};
    let msg = PeerMessage::AppendEntries(AppendEntries {
        term: Term(term),
        leader: PeerId(0),
        prev_log_index: LogIndex(prev.0),
        prev_log_term: Term(prev.1),
        leader_commit: LogIndex(commit),
        entries: entries
            .into_iter()
            .map(|(term, data)| Entry {
                term: Term(term),
                data,
            })
            .collect(),
        round: 0,
    });
    let to = if from.ends_with('b') { "n1a" } else { "n1b" };
    t.push(
        Duration::from_millis(ms),
        What::Send {
            from: from.into(),
            to: to.into(),
            msg: Message::Peer(msg),
        },
    );
}

#[cfg(test)]
mod tests {
    use protocol::peer::{InstallSnapshot, LogIndex, PeerId};

    use super::*;

    fn groups() -> Vec<Vec<String>> {
        let g = |k: u32| crate::scenario::names::group_members(k, 3);
        vec![g(1), g(2)]
    }

    /// Leader `from` of `term` sends entries `(term, data)` after `prev` (index, term),
    /// announcing `commit`, at `ms` milliseconds.
    fn append(
        t: &mut Trace,
        ms: u64,
        from: &str,
        term: u64,
        prev: (u64, u64),
        entries: &[(u64, &str)],
        commit: u64,
    ) {
        let entries = entries
            .iter()
            .map(|&(term, data)| (term, Bytes::copy_from_slice(data.as_bytes())))
            .collect();
        leader_frame(t, ms, from, term, prev, entries, commit);
    }

    fn snapshot(t: &mut Trace, ms: u64, from: &str, term: u64, last: (u64, u64)) {
        let msg = PeerMessage::InstallSnapshot(InstallSnapshot {
            term: Term(term),
            leader: PeerId(0),
            last_included_index: LogIndex(last.0),
            last_included_term: Term(last.1),
            offset: 0,
            data: Bytes::new(),
            done: true,
        });
        t.push(
            Duration::from_millis(ms),
            What::Send {
                from: from.into(),
                to: "n1c".into(),
                msg: Message::Peer(msg),
            },
        );
    }

    #[test]
    fn a_committed_entry_overwritten_in_a_later_term_is_flagged() {
        let mut t = Trace::default();
        append(&mut t, 10, "n1a", 1, (0, 0), &[(1, "x"), (1, "y")], 0);
        // A heartbeat commits both entries sent before it.
        append(&mut t, 20, "n1a", 1, (2, 1), &[], 2);
        // n1b leads term 2 without entry 2 and replaces it.
        append(&mut t, 30, "n1b", 2, (1, 1), &[(2, "z")], 1);
        let failures = check(&groups(), &t);
        assert_eq!(failures.len(), 1, "{failures:?}");
        let text = failures[0].to_string();
        assert!(
            text.starts_with("committed_entries_stable: group 1"),
            "{text}"
        );
        assert!(text.contains("index 2"), "{text}");
        assert!(text.contains("n1a in term 1"), "{text}");
        assert!(text.contains("n1b, leading the later term 2"), "{text}");
        assert!(text.contains("0.020s") && text.contains("0.030s"), "{text}");
    }

    #[test]
    fn an_uncommitted_suffix_may_be_overwritten_and_a_deposed_leader_may_resend_it() {
        let mut t = Trace::default();
        append(&mut t, 10, "n1a", 1, (0, 0), &[(1, "x"), (1, "y")], 1);
        // Term 2 replaces the uncommitted entry 2 and commits its own.
        append(&mut t, 30, "n1b", 2, (1, 1), &[(2, "z")], 2);
        // The deposed leader, cut off, still sends its old suffix (with its old commit).
        append(&mut t, 40, "n1a", 1, (1, 1), &[(1, "y")], 1);
        // Later terms hold the committed entry.
        append(&mut t, 50, "n1c", 3, (1, 1), &[(2, "z")], 2);
        assert_eq!(check(&groups(), &t), vec![]);
    }

    #[test]
    fn two_leaders_committing_different_entries_at_one_index_are_flagged() {
        let mut t = Trace::default();
        append(&mut t, 10, "n1a", 1, (0, 0), &[(1, "x")], 1);
        // Term 2's leader claims another entry 1 committed.
        append(&mut t, 20, "n1b", 2, (0, 0), &[(2, "w")], 1);
        let failures = check(&groups(), &t);
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(
            failures[0]
                .detail
                .contains("two members apply different commands"),
            "{}",
            failures[0]
        );
    }

    #[test]
    fn a_snapshot_contradicting_a_committed_entry_is_flagged() {
        let mut t = Trace::default();
        append(&mut t, 10, "n1a", 1, (0, 0), &[(1, "x"), (1, "y")], 2);
        snapshot(&mut t, 20, "n1a", 1, (2, 1));
        assert_eq!(check(&groups(), &t), vec![]);
        snapshot(&mut t, 30, "n1b", 2, (2, 2));
        let failures = check(&groups(), &t);
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(failures[0].detail.contains("index 2"), "{}", failures[0]);
    }

    #[test]
    fn a_leader_rewriting_its_own_log_is_flagged_committed_or_not() {
        let mut t = Trace::default();
        append(&mut t, 10, "n1a", 1, (0, 0), &[(1, "x")], 0);
        append(&mut t, 20, "n1a", 1, (0, 0), &[(1, "q")], 0);
        let failures = check(&groups(), &t);
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(
            failures[0].detail.contains("never rewrites"),
            "{}",
            failures[0]
        );
    }

    #[test]
    fn two_entries_with_one_index_and_term_are_flagged_committed_or_not() {
        let mut t = Trace::default();
        append(&mut t, 10, "n1a", 1, (0, 0), &[(1, "x")], 0);
        // Term 2's leader forwards entry 1 of term 1, with other bytes.
        append(&mut t, 20, "n1b", 2, (0, 0), &[(1, "q")], 0);
        let failures = check(&groups(), &t);
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(
            failures[0]
                .detail
                .contains("two different entries at index 1 in term 1"),
            "{}",
            failures[0]
        );
    }

    #[test]
    fn groups_are_judged_apart() {
        let mut t = Trace::default();
        append(&mut t, 10, "n1a", 1, (0, 0), &[(1, "x")], 1);
        append(&mut t, 20, "n2a", 2, (0, 0), &[(2, "y")], 1);
        assert_eq!(check(&groups(), &t), vec![]);
    }
}
