//! The retry loop of one operation: which node to ask, what each answer means, when to
//! back off, and when to give up. See the module docs of [`super`] for the rules.
//!
//! Every wait and every timeout is capped by the operation's deadline, and every error
//! that leads to a retry is kept in words so that [`ClientError::Timeout`] can say what
//! kept failing.

use protocol::client::{is_retryable, Packet};
// tokio's clock: virtual (and deterministic) inside the simulation.
use tokio::time::{sleep_until, timeout, Instant};
use tracing::debug;

use super::backoff::Backoff;
use super::conn::Conn;
use super::error::{ClientError, ConnError};
use super::Client;
use crate::io::Network;

/// Redirects followed in a row before the client backs off once: a legitimate redirect
/// chain is short (a follower names its leader; a node names another group's leader), a
/// loop between confused nodes is not.
const REDIRECTS_PER_BACKOFF: u32 = 3;

/// The result of one attempt at one node.
enum Attempt {
    /// The node answered with this packet; the connection stays open.
    Answer(Packet),
    /// The connection failed, or could not be opened in time, and was dropped; why, in
    /// words.
    Failed(String),
    /// The request went out but no answer came within the attempt's time; the connection
    /// was dropped. Why, in words.
    NoAnswer(String),
}

impl<N: Network> Client<N> {
    /// Sends `request` until a node gives the final answer (a packet with the request's
    /// answer marker: 'c' for 'C', 'm' for 'M') or a final error, or the deadline passes.
    /// Returns the answer and the address of the node that gave it.
    pub(super) async fn exchange(
        &mut self,
        request: &Packet,
    ) -> Result<(Packet, String), ClientError> {
        let expected = request.marker().to_ascii_lowercase();
        let deadline = Instant::now() + self.config.deadline;
        let mut backoff = Backoff::new(self.config.backoff_min, self.config.backoff_max);
        let mut redirects = 0u32;
        // Nodes moved on from since the last backoff (see `move_on`).
        let mut moves = 0usize;
        let mut last_error = String::from("no attempt finished");
        let mut unreachable = Unreachable::default();
        let mut target = self.route.target().ok_or(ClientError::NoSeeds)?;
        // How long the next attempt waits for its answer: the attempt timeout, doubled
        // after each attempt of this operation that got none (up to the deadline); not
        // reset by other answers, since the way back to a slow leader is a redirect. A
        // command that takes longer than the attempt timeout to serve (a busy leader on
        // slow disks) would otherwise never be answered: a read is served again from the
        // start at every resend (writes are not: their resends find the first copy's
        // answer in the session table). Found by `sim explore`, seed 1905 of
        // appends-written-after-a-refusal-made-before-it: the verifier's reads of one key
        // took 1 to 3 s under 600 ms syncs and a write load, against a 1 s attempt
        // timeout, for its whole 30 s deadline, while every write got through.
        let mut patience = self.config.attempt_timeout;
        loop {
            if Instant::now() >= deadline {
                let known = self.route.known();
                return Err(ClientError::Timeout {
                    after: self.config.deadline,
                    last_error: unreachable.all_of(&known).unwrap_or(last_error),
                });
            }
            // An address that failed its last connects is not dialled before its wait
            // is over: the attempt fails at once and the next node is asked.
            let outcome = match self.redials.holds_back(&target) {
                Some((why, left)) => {
                    debug!(addr = %target, ?left, "not dialled again yet: its last connect failed");
                    Attempt::Failed(why.to_owned())
                }
                None => self.attempt(&target, request, deadline, patience).await?,
            };
            if let Attempt::NoAnswer(_) = outcome {
                patience = (patience * 2).min(self.config.deadline);
            }
            let answer = match outcome {
                Attempt::Answer(answer) => {
                    unreachable.clear();
                    answer
                }
                Attempt::Failed(why) | Attempt::NoAnswer(why) => {
                    debug!(addr = %target, error = %why, "attempt failed; trying the next node");
                    unreachable.record(&target, &why);
                    // Said once, as soon as every known node has failed: a person waiting
                    // for the deadline learns at once that nothing answers, and why.
                    if !unreachable.warned {
                        if let Some(all) = unreachable.all_of(&self.route.known()) {
                            tracing::warn!(
                                "no node answers yet: {all}; retrying until the deadline"
                            );
                            unreachable.warned = true;
                        }
                    }
                    last_error = why;
                    target = self
                        .move_on(&target, &mut moves, &mut backoff, deadline)
                        .await?;
                    continue;
                }
            };
            match answer {
                answer if answer.marker() == expected => {
                    self.route.set_current(&target);
                    return Ok((answer, target));
                }
                Packet::NotLeader(id) if id >= 0 => {
                    if let Some(next) = self.leader_address(id, &target, deadline).await {
                        redirects += 1;
                        debug!(from = %target, to = %next, leader = id, "redirected");
                        last_error = format!("{target} redirected to node {id} at {next}");
                        target = next;
                        self.route.set_current(&target);
                        if redirects % REDIRECTS_PER_BACKOFF == 0 {
                            self.pause(&mut backoff, deadline).await;
                        }
                    } else {
                        last_error = format!(
                            "{target} named node {id} as leader, but no node could give its address"
                        );
                        debug!(addr = %target, leader = id, "leader address unknown; retrying");
                        target = self
                            .move_on(&target, &mut moves, &mut backoff, deadline)
                            .await?;
                    }
                }
                Packet::NotLeader(_) => {
                    debug!(addr = %target, "no leader known; retrying at the next node");
                    last_error =
                        format!("{target} knows no leader (election or ring change in progress)");
                    if !self.route.has_addresses() {
                        self.refresh_metadata(&target, deadline).await;
                    }
                    target = self
                        .move_on(&target, &mut moves, &mut backoff, deadline)
                        .await?;
                }
                Packet::ErrorResponse(message) if is_retryable(&message) => {
                    debug!(addr = %target, %message, "retryable refusal; retrying");
                    last_error = format!("{target} refused with a retryable error: {message}");
                    self.pause(&mut backoff, deadline).await;
                }
                Packet::ErrorResponse(message) => return Err(ClientError::Server(message)),
                other => {
                    return Err(ClientError::Protocol {
                        addr: target,
                        detail: format!(
                            "expected '{}', got '{}'",
                            char::from(expected),
                            char::from(other.marker())
                        ),
                    })
                }
            }
        }
    }

    /// `request` to `addr` once, within the attempt timeout; a failure is a timeout error
    /// naming why.
    pub(super) async fn ask_once(
        &mut self,
        addr: &str,
        request: &Packet,
    ) -> Result<Packet, ClientError> {
        let deadline = Instant::now() + self.config.attempt_timeout;
        let patience = self.config.attempt_timeout;
        match self.attempt(addr, request, deadline, patience).await? {
            Attempt::Answer(answer) => Ok(answer),
            Attempt::Failed(why) | Attempt::NoAnswer(why) => Err(ClientError::Timeout {
                after: self.config.attempt_timeout,
                last_error: why,
            }),
        }
    }

    /// One request at `addr`, over its open connection or a new one, each step within
    /// `patience` (cut to the deadline). Connection failures are [`Attempt::Failed`], no
    /// answer in time [`Attempt::NoAnswer`]; a handshake refusal or a malformed answer is
    /// a final error.
    async fn attempt(
        &mut self,
        addr: &str,
        request: &Packet,
        deadline: Instant,
        patience: std::time::Duration,
    ) -> Result<Attempt, ClientError> {
        let conn = match self.conns.remove(addr) {
            Some(conn) if conn.is_idle() => Some(conn),
            Some(_) => {
                debug!(%addr, "dropping a connection with an unanswered request");
                None
            }
            None => None,
        };
        let mut conn = match conn {
            Some(conn) => conn,
            None => {
                let budget = budget(patience, deadline);
                debug!(%addr, "connecting");
                let opened = timeout(budget, Conn::open(&self.net, addr, self.config.limits));
                match opened.await {
                    Ok(Ok(conn)) => {
                        self.redials.connected(addr);
                        conn
                    }
                    Ok(Err(e)) => {
                        let failed = failure(addr, e, "no node reachable at")?;
                        if let Attempt::Failed(why) = &failed {
                            self.redials.failed(addr, why, &mut self.rng);
                        }
                        return Ok(failed);
                    }
                    Err(_) => {
                        let why =
                            format!("no answer from {addr} within {budget:?} while connecting");
                        // A connect cut short by the operation's deadline says nothing of
                        // the node (found by review: a healthy node was then skipped by
                        // the next operations), so only a whole attempt's silence counts.
                        if budget >= patience {
                            self.redials.failed(addr, &why, &mut self.rng);
                        }
                        return Ok(Attempt::Failed(why));
                    }
                }
            }
        };
        let budget = budget(patience, deadline);
        match timeout(budget, conn.round_trip(request)).await {
            Ok(Ok(answer)) => {
                self.conns.insert(addr.to_owned(), conn);
                Ok(Attempt::Answer(answer))
            }
            Ok(Err(e)) => failure(addr, e, "lost the connection to"),
            Err(_) => Ok(Attempt::NoAnswer(format!(
                "no answer from {addr} within {budget:?}"
            ))),
        }
    }

    /// The client address of node `id`, asking the cluster for its address list (first
    /// `from`, then every other known node) if the id is not in the cached one.
    async fn leader_address(&mut self, id: i32, from: &str, deadline: Instant) -> Option<String> {
        if let Some(addr) = self.route.address_of(id) {
            return Some(addr);
        }
        debug!(
            leader = id,
            "leader id not in the address list; fetching metadata"
        );
        self.refresh_metadata(from, deadline).await;
        self.route.address_of(id)
    }

    /// Fetches the address list from the first node that answers 'M', trying `first` and
    /// then each other known node once. Returns whether the list was updated.
    async fn refresh_metadata(&mut self, first: &str, deadline: Instant) -> bool {
        let mut order = vec![first.to_owned()];
        let others = self.route.known().into_iter().filter(|a| *a != first);
        order.extend(others.map(str::to_owned).collect::<Vec<_>>());
        for addr in order {
            if Instant::now() >= deadline {
                break;
            }
            if let Some((_, left)) = self.redials.holds_back(&addr) {
                debug!(%addr, ?left, "not asked for metadata: its last connect failed");
                continue;
            }
            let patience = self.config.attempt_timeout;
            match self
                .attempt(&addr, &Packet::ClusterMetadataRequest, deadline, patience)
                .await
            {
                Ok(Attempt::Answer(Packet::ClusterMetadataResponse { addresses, .. })) => {
                    debug!(%addr, nodes = addresses.len(), "learned the address list");
                    self.route.set_addresses(addresses);
                    return true;
                }
                Ok(Attempt::Answer(other)) => {
                    let got = char::from(other.marker());
                    debug!(%addr, %got, "unexpected answer to a metadata request");
                }
                Ok(Attempt::Failed(why) | Attempt::NoAnswer(why)) => {
                    debug!(%addr, error = %why, "metadata request failed")
                }
                Err(e) => debug!(%addr, error = %e, "metadata request failed"),
            }
        }
        false
    }

    /// Moves on from `from` (it failed or knows no leader) to the next node, and backs
    /// off only once `moves` reaches a whole round of the rotation: other nodes may serve
    /// at once, and a wait before each one made a client with many seeds (nodes of groups
    /// not yet on the ring, a group electing after a restart) take longer to go round
    /// them than its deadline, while the group it needed had a leader again
    /// (scenarios/regressions/verifier-walks-every-seed-while-a-bare-majority-elects-80).
    async fn move_on(
        &mut self,
        from: &str,
        moves: &mut usize,
        backoff: &mut Backoff,
        deadline: Instant,
    ) -> Result<String, ClientError> {
        let next = self.next_node(from)?;
        *moves += 1;
        if *moves >= self.route.round_len() {
            *moves = 0;
            self.pause(backoff, deadline).await;
        }
        Ok(next)
    }

    /// Moves on from `from` to the next known node.
    fn next_node(&mut self, from: &str) -> Result<String, ClientError> {
        let next = self.route.advance(from).ok_or(ClientError::NoSeeds)?;
        if next != from {
            debug!(%from, to = %next, "switching node");
        }
        Ok(next)
    }

    /// Waits the next backoff delay, or until the deadline if that comes first.
    async fn pause(&mut self, backoff: &mut Backoff, deadline: Instant) {
        let delay = backoff.next_delay(&mut self.rng);
        debug!(?delay, "backing off");
        sleep_until((Instant::now() + delay).min(deadline)).await;
    }
}

/// The time one attempt step may take: `patience`, cut to the deadline.
fn budget(patience: std::time::Duration, deadline: Instant) -> std::time::Duration {
    patience.min(deadline.saturating_duration_since(Instant::now()))
}

/// Sorts a connection error into "try elsewhere" and "give up". `io_context` begins the
/// sentence for an I/O error ("no node reachable at" when connecting).
/// The nodes whose last attempt failed since the last answer from any node, and why.
#[derive(Default)]
struct Unreachable {
    why: std::collections::BTreeMap<String, String>,
    /// Whether "no node reachable" was logged already in this operation.
    warned: bool,
}

impl Unreachable {
    fn record(&mut self, addr: &str, why: &str) {
        self.why.insert(addr.to_owned(), why.to_owned());
    }

    fn clear(&mut self) {
        self.why.clear();
    }

    /// `addr: why` for every one of `known`, if each has failed; else `None`.
    fn all_of(&self, known: &[&str]) -> Option<String> {
        if known.is_empty() || !known.iter().all(|a| self.why.contains_key(*a)) {
            return None;
        }
        // Each reason names its address already.
        let each: Vec<&str> = known.iter().map(|a| self.why[*a].as_str()).collect();
        Some(each.join("; "))
    }
}

fn failure(addr: &str, error: ConnError, io_context: &str) -> Result<Attempt, ClientError> {
    match error {
        ConnError::Io(e) => Ok(Attempt::Failed(format!("{io_context} {addr}: {e}"))),
        ConnError::Closed => Ok(Attempt::Failed(format!("{addr} closed the connection"))),
        ConnError::HandshakeError { stage, message } if is_retryable(&message) => Ok(
            Attempt::Failed(format!("{addr} refused the {stage} for now: {message}")),
        ),
        ConnError::Rejected { stage, reason }
        | ConnError::HandshakeError {
            stage,
            message: reason,
        } => Err(ClientError::Handshake {
            addr: addr.to_owned(),
            stage,
            reason,
        }),
        e @ (ConnError::Decode(_) | ConnError::Unexpected { .. }) => Err(ClientError::Protocol {
            addr: addr.to_owned(),
            detail: e.to_string(),
        }),
    }
}
