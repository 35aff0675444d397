//! Client sessions: per client, the last write a group applied, so that a resend is
//! answered instead of applied twice and a command the client gave up on is refused once
//! a newer one applied.
//!
//! An entry is small whatever the client wrote: it never holds a value. A put's and a
//! delete's answers are a few bytes; a compare-and-set that swapped is answered from the
//! resend, which carries the value it wrote; a compare-and-set that changed nothing is not
//! kept at all (see [`Session::after`]). Entries of keys a hand-off does not move still go
//! with it, without their answer ([`SessionAnswer::NotKept`]): the receiver must know the
//! client's latest sequence whatever key it named, or a command the client gave up on
//! lands there over a newer acknowledged one (defect
//! `review-session-entry-left-behind-by-a-split`).

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
    /// The entry recorded after command `sequence` ran with `response`, or `None` when
    /// nothing is to be recorded.
    ///
    /// A compare-and-set that did not swap changed nothing, so running it again when it is
    /// resent is as if the first run had not happened (the client never saw that run's
    /// answer, or it would not resend). Its entry is therefore the one of the sequence
    /// before it, answer not kept: every older command is still refused, and the resend
    /// is a new command that runs. Keeping the answer instead would keep the key's whole
    /// value per client: 256 clients' failed compare-and-sets on one 32 KiB key made a
    /// hand-off of 8 MiB that outlasted its join (defect
    /// `explore-session-bloat-shared-keys-128`).
    pub fn after(sequence: u64, command: &Command, response: &Response) -> Option<Session> {
        let key = command.key().clone();
        let (sequence, answer) = match response {
            Response::Stored => (sequence, SessionAnswer::Stored),
            Response::Deleted(existed) => (sequence, SessionAnswer::Deleted(*existed)),
            Response::CompareAndSet { swapped: true, .. } => (sequence, SessionAnswer::Swapped),
            Response::CompareAndSet { swapped: false, .. } => {
                (sequence.checked_sub(1)?, SessionAnswer::NotKept)
            }
            // Not a write's answer (reads have no session); kept as applied, never rerun.
            Response::Value(_) => (sequence, SessionAnswer::NotKept),
        };
        Some(Session {
            sequence,
            answer,
            key,
        })
    }

    /// The answer to give a resend of this session's command `command` again; `None` if it
    /// is not kept here.
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
            (SessionAnswer::Swapped | SessionAnswer::NotKept, _) => None,
        }
    }

    /// The answer's stored form (in a session entry and a snapshot): the body of the
    /// client 'c' packet that answered, but a swap's without its value (`W`, swapped, no
    /// value: never a real answer, since a swap leaves a value), and empty when not kept.
    pub fn answer_bytes(&self) -> Bytes {
        let response = match &self.answer {
            SessionAnswer::Stored => Response::Stored,
            SessionAnswer::Deleted(existed) => Response::Deleted(*existed),
            SessionAnswer::Swapped => Response::CompareAndSet {
                swapped: true,
                current: None,
            },
            SessionAnswer::NotKept => return Bytes::new(),
        };
        response.to_bytes()
    }

    /// Reads a stored session back (see [`Session::answer_bytes`]). Whole answers, as older
    /// versions stored them, are read as [`Session::after`] would have recorded them; an
    /// answer that does not decode counts as not kept, so its sequence still refuses older
    /// commands. `None` when nothing is to be kept (as in [`Session::after`]).
    pub fn from_stored(sequence: u64, key: Bytes, answer: &[u8]) -> Option<Session> {
        if answer.is_empty() {
            return Some(Session {
                sequence,
                answer: SessionAnswer::NotKept,
                key,
            });
        }
        match Response::decode(answer, &Limits::DEFAULT) {
            Ok(response) => Session::after(sequence, &Command::Get { key }, &response),
            Err(_) => Some(Session {
                sequence,
                answer: SessionAnswer::NotKept,
                key,
            }),
        }
    }

    /// The session's entry for a hand-off, with its answer if `with_answer` (the range
    /// moving holds its key).
    pub fn to_entry(&self, client_id: u64, with_answer: bool) -> SessionEntry {
        SessionEntry {
            client_id,
            sequence: self.sequence,
            key: self.key.clone(),
            answer: if with_answer {
                self.answer_bytes()
            } else {
                Bytes::new()
            },
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
