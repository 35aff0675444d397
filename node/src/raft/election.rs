//! Roles, terms and votes: the election timer, pre-vote, elections, the term rules and
//! the role transitions.
//!
//! This module owns who the member thinks it is and who it thinks leads. It must not
//! touch replication state beyond creating it when a leader is elected and clearing it
//! when one steps down.

use bytes::Bytes;
use protocol::peer::{Entry, PeerId, PeerMessage, RequestVote, RequestVoteReply, Term};

use super::replication::Progress;
use super::types::Role;
use super::Raft;

/// Where a vote count stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tally {
    Won,
    Lost,
    Open,
}

impl Raft {
    /// A non-leader's tick: campaign when the election timer expires (at once when alone).
    pub(super) fn tick_election(&mut self) {
        self.tick_term_probe();
        self.election_elapsed = self.election_elapsed.saturating_add(1);
        if self.config.peers.len() == 1 {
            self.start_pre_vote();
        } else if self.election_elapsed >= self.election_timeout {
            if self.catching_up {
                // On a replaced disk it may lack committed entries: it must not lead
                // before it has caught up (found by review: a member caught up too early
                // won with one stale voter and overwrote committed entries).
                self.reset_election_timer();
            } else {
                self.start_pre_vote();
            }
        }
    }

    /// Restarts the election timer with a fresh random timeout, drawn from the configured
    /// range unless the disk is slow (see [`Raft::observe_sync`]): a round of votes needs
    /// two syncs in a row (the candidate's term and vote, then each voter's vote), so the
    /// floor is at least three syncs, and the spread at least six, so that members whose
    /// timers started together (when their leader fell silent) fire more than a round
    /// apart and do not split the votes round after round. A disk whose syncs are short
    /// beside the configured timeouts changes nothing.
    pub(super) fn reset_election_timer(&mut self) {
        self.election_elapsed = 0;
        let (lo, hi) = self.config.election_ticks;
        let floor = self.min_election_ticks();
        let spread = (hi - lo).max(self.disk_ticks().saturating_mul(6));
        let drawn = self
            .rng
            .range(u64::from(floor), u64::from(floor.saturating_add(spread)));
        self.election_timeout = u32::try_from(drawn).unwrap_or(floor);
    }

    /// The shortest election timeout, in ticks: the configured one, or three syncs of this
    /// member's disk if that is longer. Also the leader lease of a follower and the
    /// check-quorum period of a leader, which on a slow disk hear their peers that much
    /// later.
    pub(super) fn min_election_ticks(&self) -> u32 {
        self.config
            .election_ticks
            .0
            .max(self.disk_ticks().saturating_mul(3))
    }

    /// How many ticks this member's log syncs take lately, rounded to the nearest tick.
    pub(super) fn disk_ticks(&self) -> u32 {
        self.disk_eighths.saturating_add(4) / 8
    }

    /// Whether this member believes a leader is alive: it leads, or it heard from its
    /// leader within the minimum election timeout. Such a member refuses (pre-)votes, so a
    /// member that merely lost touch cannot disrupt a working leader (thesis §4.2.3).
    pub(super) fn in_lease(&self) -> bool {
        match self.role {
            Role::Leader => true,
            Role::Follower => {
                self.leader.is_some() && self.election_elapsed < self.min_election_ticks()
            }
            Role::PreCandidate | Role::Candidate => false,
        }
    }

    /// `msg` carries a term above ours. Returns whether to go on handling it.
    ///
    /// Pre-vote requests and granted pre-votes carry a term their sender does not hold
    /// yet: they change nothing. A real vote request while in lease is refused without
    /// adopting its term. Anything else makes this member a follower of the new term.
    pub(super) fn observe_higher_term(&mut self, from: PeerId, msg: &PeerMessage) -> bool {
        let term = msg.term().unwrap_or(self.term);
        match msg {
            PeerMessage::RequestVote(m) if m.pre_vote => true,
            PeerMessage::RequestVoteReply(r) if r.pre_vote && r.vote_granted => true,
            PeerMessage::RequestVote(_) if self.in_lease() => {
                tracing::debug!(id = %self.config.id, %from, %term, "raft: refusing a vote while a leader is alive");
                self.out.send(
                    from,
                    RequestVoteReply {
                        term: self.term,
                        vote_granted: false,
                        pre_vote: false,
                    },
                );
                false
            }
            PeerMessage::AppendEntries(m) => {
                self.become_follower(term, Some(m.leader));
                true
            }
            PeerMessage::InstallSnapshot(m) => {
                self.become_follower(term, Some(m.leader));
                true
            }
            _ => {
                self.become_follower(term, None);
                true
            }
        }
    }

    /// Becomes a follower of `term` (adopting it, and forgetting the vote, if it is new)
    /// with `leader` as the known leader. A leader stepping down abandons its reads.
    pub(super) fn become_follower(&mut self, term: Term, leader: Option<PeerId>) {
        if term > self.term {
            self.term = term;
            self.voted_for = None;
        }
        if self.role == Role::Leader {
            self.progress.clear();
            self.reads.abandon(&mut self.out);
        }
        if self.role != Role::Follower || self.leader != leader {
            tracing::debug!(id = %self.config.id, term = %self.term, ?leader, "raft: follower");
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.votes.clear();
        self.reset_election_timer();
    }

    /// Asks for pre-votes at `term + 1`, without changing the term.
    fn start_pre_vote(&mut self) {
        tracing::debug!(id = %self.config.id, term = %self.term, "raft: pre-vote");
        self.role = Role::PreCandidate;
        self.leader = None;
        self.reset_election_timer();
        self.votes.clear();
        self.votes.insert(self.config.id, true);
        if self.tally() == Tally::Won {
            self.start_election();
        } else {
            self.request_votes(true);
        }
    }

    /// Starts a real election: a new term, a vote for itself, vote requests.
    fn start_election(&mut self) {
        self.term = Term(self.term.0.saturating_add(1));
        self.voted_for = Some(self.config.id);
        self.role = Role::Candidate;
        self.leader = None;
        tracing::debug!(id = %self.config.id, term = %self.term, "raft: candidate");
        self.reset_election_timer();
        self.votes.clear();
        self.votes.insert(self.config.id, true);
        if self.tally() == Tally::Won {
            self.become_leader();
        } else {
            self.request_votes(false);
        }
    }

    fn request_votes(&mut self, pre_vote: bool) {
        let term = if pre_vote {
            Term(self.term.0.saturating_add(1))
        } else {
            self.term
        };
        let request = RequestVote {
            term,
            candidate: self.config.id,
            last_log_index: self.log.last_index(),
            last_log_term: self.log.last_term(),
            pre_vote,
        };
        for peer in self.others() {
            self.out.send(peer, request);
        }
    }

    fn tally(&self) -> Tally {
        let granted = self.votes.values().filter(|v| **v).count();
        let refused = self.votes.len() - granted;
        if granted >= self.quorum() {
            Tally::Won
        } else if refused > self.config.peers.len() - self.quorum() {
            Tally::Lost
        } else {
            Tally::Open
        }
    }

    /// Takes the lead: replication state for every follower, a no-op entry of the new
    /// term (so entries of earlier terms can commit with it), and a first broadcast.
    fn become_leader(&mut self) {
        tracing::debug!(id = %self.config.id, term = %self.term, "raft: leader");
        self.role = Role::Leader;
        self.leader = Some(self.config.id);
        self.votes.clear();
        self.heartbeat_elapsed = 0;
        self.quorum_elapsed = 0;
        let next = super::log::next(self.log.last_index());
        self.progress = self
            .others()
            .into_iter()
            .map(|p| (p, Progress::new(next)))
            .collect();
        self.log.append(Entry {
            term: self.term,
            data: Bytes::new(),
        });
        self.maybe_commit();
        self.broadcast_append();
    }

    /// A (pre-)vote request whose term is at least ours (lower ones are answered in
    /// `Raft::step`).
    pub(super) fn handle_request_vote(&mut self, from: PeerId, m: RequestVote) {
        let up_to_date = self.log.is_up_to_date(m.last_log_index, m.last_log_term);
        let free =
            self.voted_for == Some(from) || (self.voted_for.is_none() && self.leader.is_none());
        let grant = if self.catching_up {
            false
        } else if m.pre_vote {
            up_to_date && !self.in_lease() && (m.term > self.term || free)
        } else {
            up_to_date && free
        };
        if grant && !m.pre_vote {
            self.voted_for = Some(from);
            self.election_elapsed = 0;
        }
        tracing::debug!(id = %self.config.id, %from, term = %m.term, pre_vote = m.pre_vote, grant, "raft: vote request");
        self.out.send(
            from,
            RequestVoteReply {
                // A granted pre-vote echoes the term asked about; anything else tells the
                // candidate our term.
                term: if grant && m.pre_vote {
                    m.term
                } else {
                    self.term
                },
                vote_granted: grant,
                pre_vote: m.pre_vote,
            },
        );
    }

    /// An answer to our (pre-)vote request.
    pub(super) fn handle_vote_reply(&mut self, from: PeerId, r: RequestVoteReply) {
        let expected_role = if r.pre_vote {
            Role::PreCandidate
        } else {
            Role::Candidate
        };
        let expected_term = if r.pre_vote && r.vote_granted {
            Term(self.term.0.saturating_add(1))
        } else {
            self.term
        };
        if self.role != expected_role || r.term != expected_term {
            tracing::debug!(id = %self.config.id, %from, term = %r.term, pre_vote = r.pre_vote, "raft: dropping a stale vote reply");
            return;
        }
        let durable = self.out.holds(self.hard_state())
            && self.out.durable_last(self.term) >= Some(self.log.last_index());
        if !r.pre_vote && !durable {
            // Our vote requests leave before our term and vote are durable (see `Ready`),
            // and no answer to them is stepped before they are: an answer now answers an
            // earlier life of this member, which asked for this same term and lost it in
            // a power loss. Counting it would let us lead a term we could forget again,
            // and vote for another member in after a second power loss (found by review:
            // two leaders of one term). Once they are durable, such an answer is one more
            // vote for this member in a term it durably stands in; the voter judged the
            // log that earlier request named, which was durable then (an election starts
            // only on a tick, which a host gives between `Ready`s carried out, and an
            // `AppendEntries` of the term makes a pre-candidate a follower). That log may
            // have been cut since, by the leader of the term before, to one the voter
            // would refuse now (a second review; the test
            // `a_stale_grant_counts_for_a_log_the_old_terms_leader_cut_since`). Still safe:
            // an entry committed before this term is in the earlier log (the voter held
            // it and its log was not ahead), and that leader, which holds every such entry,
            // cuts only entries it does not hold. That our own log is durable when we
            // count is checked here too, though within one life the order of `Ready`s
            // already makes it so.
            tracing::debug!(id = %self.config.id, %from, term = %r.term, "raft: dropping a vote reply to an earlier life of this member");
            return;
        }
        self.votes.insert(from, r.vote_granted);
        match (self.tally(), r.pre_vote) {
            (Tally::Won, true) => self.start_election(),
            (Tally::Won, false) => self.become_leader(),
            (Tally::Lost, _) => self.become_follower(self.term, None),
            (Tally::Open, _) => {}
        }
    }
}
