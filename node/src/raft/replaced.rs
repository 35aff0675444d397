//! A member on a replaced disk ([`RaftConfig::replaced_disk`](super::RaftConfig::replaced_disk)):
//! what it must learn before it takes part again.
//!
//! The lost disk took three things the protocol relies on: the entries the member
//! acknowledged (some perhaps committed with its help), its vote, and its term. So such a
//! member goes through two stages before it is an ordinary member again:
//!
//! 1. **Learning the group's term** ([`TermProbe`]). It asks every other member for its
//!    term (a pre-vote request, which changes nothing at the receiver; every answer, a
//!    refusal or a grant, carries a term at least the answerer's) and waits until each has
//!    answered. Meanwhile it drops `AppendEntries` and `InstallSnapshot` unanswered. Then
//!    it adopts the highest term heard and counts itself as having voted in it. Why every
//!    other member: an entry committed at term T (with this member's lost acknowledgement
//!    perhaps) sat on a majority whose members had all reached T, and a candidate holding
//!    the member's lost vote of term T has reached T itself; only asking every other member
//!    is sure to hear from one of each. Afterwards it refuses leaders of older terms (a
//!    stale leader could otherwise commit over entries a newer one had placed on a
//!    majority: review-catchup-stale-leader-*), and it never votes in a term it may have
//!    voted in before. An answer counts only if it was written after this start: answers
//!    travel on the connection the asker dialled, and a restarted member's connections
//!    are new.
//! 2. **Catching up** ([`Raft::note_caught_up`]): it neither votes nor campaigns until its
//!    log holds the entry at a leader's commit index, of that leader's term.
//!
//! A lone member has nobody to ask: its own commit in its own term ends both stages.

use std::collections::BTreeMap;

use protocol::peer::{LogIndex, PeerId, PeerMessage, RequestVote, Term};

use super::Raft;

/// Stage 1 of a member on a replaced disk: the terms the other members have answered so
/// far.
#[derive(Debug, Clone, Default)]
pub(super) struct TermProbe {
    answers: BTreeMap<PeerId, Term>,
    /// Ticks since the last round of questions.
    elapsed: u32,
}

impl Raft {
    /// A probe for a member starting on a replaced disk with others to ask, due at once.
    pub(super) fn initial_term_probe(&self) -> Option<TermProbe> {
        (self.catching_up && self.config.peers.len() > 1).then(|| TermProbe {
            answers: BTreeMap::new(),
            elapsed: self.config.heartbeat_ticks,
        })
    }

    /// Whether this member, on a replaced disk, is still learning the group's term (it
    /// then drops every leader's message).
    pub fn is_learning_term(&self) -> bool {
        self.term_probe.is_some()
    }

    /// Ticks until the next round of questions is due, if learning the term.
    pub(super) fn ticks_until_probe(&self) -> Option<u32> {
        let probe = self.term_probe.as_ref()?;
        Some(
            self.config
                .heartbeat_ticks
                .saturating_sub(probe.elapsed)
                .max(1),
        )
    }

    /// One tick while learning the term: every heartbeat interval, ask the members that
    /// have not answered yet again (a question or its answer may be lost).
    pub(super) fn tick_term_probe(&mut self) {
        let heartbeat = self.config.heartbeat_ticks;
        let Some(probe) = self.term_probe.as_mut() else {
            return;
        };
        probe.elapsed = probe.elapsed.saturating_add(1);
        if probe.elapsed < heartbeat {
            return;
        }
        probe.elapsed = 0;
        let answered: Vec<PeerId> = probe.answers.keys().copied().collect();
        let silent: Vec<PeerId> = self
            .others()
            .into_iter()
            .filter(|p| !answered.contains(p))
            .collect();
        let question = RequestVote {
            term: Term(self.term.0.saturating_add(1)),
            candidate: self.config.id,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
            pre_vote: true,
        };
        for peer in silent {
            self.out.send(peer, question);
        }
    }

    /// Screens `msg` while learning the term: a pre-vote answer is counted (and then
    /// handled as usual: it cannot be for a campaign, as this member does not campaign);
    /// a leader's message is dropped. Returns whether to go on handling `msg`.
    pub(super) fn screen_while_learning_term(&mut self, from: PeerId, msg: &PeerMessage) -> bool {
        let Some(probe) = self.term_probe.as_mut() else {
            return true;
        };
        match msg {
            PeerMessage::RequestVoteReply(r) if r.pre_vote => {
                let answered = probe.answers.entry(from).or_insert(r.term);
                *answered = (*answered).max(r.term);
                if probe.answers.len() + 1 >= self.config.peers.len() {
                    self.finish_term_probe();
                }
                true
            }
            PeerMessage::AppendEntries(_) | PeerMessage::InstallSnapshot(_) => {
                tracing::debug!(id = %self.config.id, %from, "raft: dropping a leader's message: still learning the group's term on a replaced disk");
                false
            }
            _ => true,
        }
    }

    /// Every other member answered: adopt the highest term heard, as if this member had
    /// voted in it (it may have, before its disk was lost).
    fn finish_term_probe(&mut self) {
        let Some(probe) = self.term_probe.take() else {
            return;
        };
        let heard = probe.answers.values().copied().max().unwrap_or(self.term);
        if heard > self.term {
            self.become_follower(heard, None);
        }
        self.voted_for = Some(self.config.id);
        tracing::info!(id = %self.config.id, term = %self.term, "raft: learned the group's term on a replaced disk; catching up");
    }

    /// Ends the catching up once its log holds the entry at `leader_commit`, the current
    /// leader's commit index, and that entry is of the leader's term: every entry
    /// committed before the disk was lost precedes it, so it is in the log too. (Its own
    /// commit index is not enough: after a snapshot, or a short append, it can be an entry
    /// of the leader's term well before the leader's commit index, and the entries between
    /// may have been committed with this member's lost acknowledgements; found by review,
    /// review-wipe-partial-catchup-elects-short-log.)
    pub(super) fn note_caught_up(&mut self, leader_commit: LogIndex) {
        if self.catching_up
            && self.term_probe.is_none()
            && self.log.last_index() >= leader_commit
            && self.log.term_at(leader_commit) == Some(self.term)
        {
            tracing::info!(id = %self.config.id, commit = %self.commit, "raft: caught up on a replaced disk; votes again");
            self.catching_up = false;
            self.out.caught_up = true;
        }
    }
}
