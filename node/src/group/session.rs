//! Client sessions: per client, the last write a group applied, so that a resend is
//! answered instead of applied twice and a command the client gave up on is refused once
//! a newer one applied.
//!
//! An entry is small whatever the client wrote: it never holds a value. A put's and a
//! delete's answers are a few bytes; a compare-and-set that swapped is answered from the
//! resend, which carries the value it wrote; one that did not swap is answered again from
//! the value the key holds when the resend is applied ([`SessionAnswer::NotSwapped`]).
//! Entries of keys a hand-off does not move still go with it, without their answer
//! ([`SessionAnswer::NotKept`]): the receiver must know the client's latest sequence
//! whatever key it named, or a command the client gave up on lands there over a newer
//! acknowledged one (defect `review-session-entry-left-behind-by-a-split`).
//!
//! A group keeps at most [`MAX_SESSIONS`] entries, dropping the least recently used
//! ([`SessionTable`]): every hand-off carries them all, and a client id is drawn per client
//! run, so without a bound a long-lived cluster would grow and ship entries for ever.

use std::collections::BTreeMap;

use bytes::Bytes;
use protocol::client::{Command, Response};
use protocol::ecs::SessionEntry;
use protocol::Limits;

/// What a session remembers of its last command's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionAnswer {
    /// A put: 'K'.
    Stored,
    /// A delete: whether the key existed.
    Deleted(bool),
    /// A compare-and-set that wrote its new value. The resend carries that value, so the
    /// answer is rebuilt from it rather than kept (it would be a whole value per client).
    Swapped,
    /// A compare-and-set that did not swap. Its answer named the key's value then, which
    /// is not kept (a whole value per client: 256 clients' failed compare-and-sets on one
    /// 32 KiB key made a hand-off of 8 MiB that outlasted its join, defect
    /// `explore-session-bloat-shared-keys-128`). A resend is decided where it is applied,
    /// through the log ([`GroupState::apply`](super::GroupState::apply)): while the key
    /// still differs from the expected value, "not swapped" with the value now is a true
    /// answer at that point; once it equals it, the resend is refused (retryable), since
    /// the client may already have been told "not swapped" by another copy of it. Running
    /// it again instead let a held copy swap after that answer (found by review).
    NotSwapped,
    /// Applied, answer not kept here: the entry only refuses the client's older commands.
    /// A resend of this very command is refused as retryable, never applied again.
    NotKept,
}

/// A client session's last applied command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Its sequence number.
    pub sequence: u64,
    /// Its answer, as far as it is kept.
    pub answer: SessionAnswer,
    /// The key it touched: the answer moves with that key's range in a hand-off.
    pub key: Bytes,
}

impl Session {
    /// The entry recorded after command `sequence` on `key` ran with `response`.
    pub fn after(sequence: u64, key: Bytes, response: &Response) -> Session {
        let answer = match response {
            Response::Stored => SessionAnswer::Stored,
            Response::Deleted(existed) => SessionAnswer::Deleted(*existed),
            Response::CompareAndSet { swapped: true, .. } => SessionAnswer::Swapped,
            Response::CompareAndSet { swapped: false, .. } => SessionAnswer::NotSwapped,
            // Not a write's answer (reads have no session); kept as applied, never rerun.
            Response::Value(_) => SessionAnswer::NotKept,
        };
        Session {
            sequence,
            answer,
            key,
        }
    }

    /// The answer to give a resend of this session's command `command` again, whatever the
    /// group's state; `None` if it is not kept here, or depends on the state
    /// ([`SessionAnswer::NotSwapped`]).
    pub fn resend_answer(&self, command: &Command) -> Option<Response> {
        match (&self.answer, command) {
            (SessionAnswer::Stored, _) => Some(Response::Stored),
            (SessionAnswer::Deleted(existed), _) => Some(Response::Deleted(*existed)),
            (SessionAnswer::Swapped, Command::CompareAndSet { new, .. }) => {
                Some(Response::CompareAndSet {
                    swapped: true,
                    current: Some(new.clone()),
                })
            }
            (SessionAnswer::Swapped | SessionAnswer::NotSwapped | SessionAnswer::NotKept, _) => {
                None
            }
        }
    }

    /// The answer's stored form (in a session entry and a snapshot): the body of the
    /// client 'c' packet that answered, but a compare-and-set's without its value (`W`,
    /// the swapped flag, no value), and empty when not kept.
    pub fn answer_bytes(&self) -> Bytes {
        let response = match &self.answer {
            SessionAnswer::Stored => Response::Stored,
            SessionAnswer::Deleted(existed) => Response::Deleted(*existed),
            SessionAnswer::Swapped => Response::CompareAndSet {
                swapped: true,
                current: None,
            },
            SessionAnswer::NotSwapped => Response::CompareAndSet {
                swapped: false,
                current: None,
            },
            SessionAnswer::NotKept => return Bytes::new(),
        };
        response.to_bytes()
    }

    /// Reads a stored session back (see [`Session::answer_bytes`]). Whole answers, as older
    /// versions stored them, are read as [`Session::after`] would have recorded them; an
    /// answer that does not decode counts as not kept, so its sequence still refuses older
    /// commands and the command is never applied again.
    pub fn from_stored(sequence: u64, key: Bytes, answer: &[u8]) -> Session {
        match Response::decode(answer, &Limits::DEFAULT) {
            Ok(response) if !answer.is_empty() => Session::after(sequence, key, &response),
            _ => Session {
                sequence,
                answer: SessionAnswer::NotKept,
                key,
            },
        }
    }

    /// The session's entry for a hand-off: with its key and answer if `with_answer` (the
    /// range moving holds its key), otherwise client id and sequence alone (all the
    /// receiver needs to refuse older commands).
    pub fn to_entry(&self, client_id: u64, with_answer: bool) -> SessionEntry {
        let (key, answer) = if with_answer {
            (self.key.clone(), self.answer_bytes())
        } else {
            (Bytes::new(), Bytes::new())
        };
        SessionEntry {
            client_id,
            sequence: self.sequence,
            key,
            answer,
        }
    }

    /// Whether this entry, for the same client, should replace `held`: a later command
    /// does, and so does the same command's entry when it keeps the answer `held` lacks.
    pub fn supersedes(&self, held: &Session) -> bool {
        self.sequence > held.sequence
            || (self.sequence == held.sequence
                && held.answer == SessionAnswer::NotKept
                && self.answer != SessionAnswer::NotKept)
    }
}

/// Most client sessions a group keeps. Beyond it the least recently used is dropped:
/// that client then counts as new here, so a command of it held on a link for that long,
/// or a resend of its last write if that write's answer was lost, would be applied
/// (again). A client's resends come within its deadline, seconds, while 10 000 other
/// clients' writes in between is the load of a cluster far larger than a group serves;
/// at about 40 bytes plus the key per entry, the table stays below a megabyte for short
/// keys, and so does the session part of a hand-off.
pub const MAX_SESSIONS: usize = 10_000;

/// Every client session a group knows, by client id, dropping the least recently used
/// beyond [`MAX_SESSIONS`]. A client's own write makes its session the most recently
/// used; an entry that came with a hand-off for a client this group did not know goes in
/// as the least recently used, below every session of this group's own, in the order
/// the sender listed them (most recent first). So a hand-off from a group as full as
/// this one drops the sender's least used entries, never this group's own clients at a
/// stroke (found by review: a removal's 10,000 entries dropped every session of the
/// receiver, and a held copy of a client's older put landed over its newer one). The
/// order is part of the replicated state (every member applies the same commands in
/// the same order), and a snapshot stores the entries in it.
#[derive(Debug, Clone, Default)]
pub struct SessionTable {
    /// Each client's session and its place in the order of use.
    entries: BTreeMap<u64, (u64, Session)>,
    /// Client ids by place, least recently used first.
    by_use: BTreeMap<u64, u64>,
    /// Places taken at the top (own writes) and at the bottom (hand-offs) so far.
    on_top: u64,
    below: u64,
}

/// Places start mid-range and grow apart: own writes upwards, hand-offs downwards.
const MIDDLE: u64 = 1 << 63;

impl SessionTable {
    /// The session of `client_id`.
    pub fn get(&self, client_id: u64) -> Option<&Session> {
        self.entries.get(&client_id).map(|(_, s)| s)
    }

    /// How many sessions are kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no session is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Records `session` as `client_id`'s latest, the most recently used; drops the least
    /// recently used session beyond [`MAX_SESSIONS`].
    pub fn record(&mut self, client_id: u64, session: Session) {
        let place = MIDDLE + self.on_top;
        self.on_top += 1;
        self.put(client_id, place, session);
    }

    /// Takes `session` for `client_id` from a hand-off: in the place its client already
    /// has, or else as the least recently used; drops the least recently used session
    /// beyond [`MAX_SESSIONS`] (when full, that is the entry just taken).
    pub fn merge(&mut self, client_id: u64, session: Session) {
        let place = match self.entries.get(&client_id) {
            Some((place, _)) => *place,
            None => {
                self.below += 1;
                MIDDLE - self.below
            }
        };
        self.put(client_id, place, session);
    }

    fn put(&mut self, client_id: u64, place: u64, session: Session) {
        if let Some((old, _)) = self.entries.insert(client_id, (place, session)) {
            self.by_use.remove(&old);
        }
        self.by_use.insert(place, client_id);
        if self.entries.len() > MAX_SESSIONS {
            if let Some((_, least)) = self.by_use.pop_first() {
                self.entries.remove(&least);
            }
        }
    }

    /// The sessions from the least to the most recently used: recording them again in
    /// this order rebuilds the table (a snapshot stores them so). A hand-off lists them
    /// the other way round, most recent first, so the receiver keeps the sender's order
    /// below its own.
    pub fn iter_by_use(&self) -> impl DoubleEndedIterator<Item = (u64, &Session)> {
        self.by_use.values().map(|id| (*id, &self.entries[id].1))
    }
}

/// Two tables are equal when they hold the same sessions in the same order of use (the
/// places themselves are renumbered when a snapshot is read).
impl PartialEq for SessionTable {
    fn eq(&self, other: &Self) -> bool {
        self.iter_by_use().eq(other.iter_by_use())
    }
}

impl Eq for SessionTable {}
