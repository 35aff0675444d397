//! Outgoing ECS-protocol requests: one cached connection per address, a timeout on every
//! step, and a retry loop for requests that must eventually succeed.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use protocol::ecs::{Reply, Request};

use crate::auth::{self, Secret, ECS_TARGET};
use crate::io::{Network, Rng, Stream};
use crate::lines::{LineConn, LineError};
use crate::probe_gate::ProbeGate;

/// Redirects (`not_leader`) followed in a row before [`AdminLink::send_to_group`] pauses:
/// a real chain is one hop (a follower names its leader).
const REDIRECTS_PER_PAUSE: u32 = 3;

/// How many attempt timeouts [`AdminLink::send_to_group`] waits for one reply. A group
/// whose commits take a little longer than the attempt timeout (a bare majority on slow
/// disks) must still be heard: explore found an ECS resending `release_lock` for 10 s,
/// each `ok` arriving ~0.1 s after the ECS had given up on it. The wait is fixed, not
/// growing: a wait that kept growing made every lost reply cost more than the last (a
/// hostile review held a write lock 24 s so). A request whose wait ran out is still
/// listened to during the next attempt ([`Unanswered`]).
const REPLY_WAIT_TIMEOUTS: u32 = 3;

/// An exchange whose reply did not come within the wait, still listened to while the
/// next attempt runs: a group whose commits take longer than one reply wait answers it
/// there. Asked again on a new connection, the node commits the request anew, as late as
/// the first; given up for good, every ask came in after the wait had run out (explore,
/// seed 1376 of join-steps-outlast-the-join-deadline-on-1200ms-syncs-448: commits of
/// 3 to 5.5 s on 1200 ms syncs against a 3 s wait, so the ECS asked a group of five for
/// `broadcast_node` 20 times in 70 s, each `ok` arriving on a connection it had dropped,
/// and the newcomer never heard it joined). Only the latest such exchange is kept, so one
/// is listened to for at most two waits (and whatever redirects lie between).
struct Unanswered<S> {
    /// Whom it was sent to.
    addr: String,
    /// The exchange, owning its connection.
    exchange: Exchange<S>,
}

/// One request and its reply on a connection the future owns (and hands back).
type Exchange<S> = Pin<Box<dyn Future<Output = (Result<Reply, LineError>, LineConn<S>)>>>;

/// The reply of `unanswered`'s exchange; never, if there is none.
async fn answer_of<S: Stream>(
    unanswered: &mut Option<Unanswered<S>>,
) -> (Result<Reply, LineError>, LineConn<S>) {
    match unanswered {
        Some(u) => (&mut u.exchange).await,
        None => std::future::pending().await,
    }
}

fn exchange<S: Stream>(mut conn: LineConn<S>, request: Request) -> Exchange<S> {
    Box::pin(async move {
        let reply = conn.request(&request).await;
        (reply, conn)
    })
}

/// Connection failures in a row between two warnings of [`AdminLink::send_to_group`]
/// (about ten seconds at the default retry pause).
const FAILURES_PER_WARNING: u64 = 50;

/// How an [`AdminLink`] waits and retries.
#[derive(Debug, Clone, Copy)]
pub struct LinkTiming {
    /// Longest wait for a connect or for one reply.
    pub attempt_timeout: Duration,
    /// Pause before retrying after a failure.
    pub retry_pause: Duration,
}

impl Default for LinkTiming {
    fn default() -> Self {
        LinkTiming {
            attempt_timeout: Duration::from_secs(2),
            retry_pause: Duration::from_millis(200),
        }
    }
}

/// Sends requests to other hosts' admin ports.
pub struct AdminLink<N: Network> {
    net: N,
    timing: LinkTiming,
    max_line_len: usize,
    /// The cluster secret: with one, every new connection authenticates before its first
    /// request.
    secret: Option<Secret>,
    /// Where this link's handshake nonces come from.
    nonces: Rng,
    /// The ECS's address, if this link sends to the ECS: a connection to it names
    /// [`ECS_TARGET`] in its proof, any other the address it dialled.
    ecs: Option<String>,
    /// Shared with the other links sending to the same group at once, if any: an address
    /// that failed is then tried by one of them at a time.
    gate: Option<Rc<ProbeGate>>,
    conns: BTreeMap<String, LineConn<N::Stream>>,
}

impl<N: Network> AdminLink<N> {
    /// A link with no open connections. With `secret`, each connection it opens answers
    /// the port's challenge first, with a nonce from `nonces` ([`crate::auth`]); without,
    /// it speaks the seed protocol straight away.
    pub fn new(
        net: N,
        timing: LinkTiming,
        max_line_len: usize,
        secret: Option<Secret>,
        nonces: Rng,
    ) -> Self {
        AdminLink {
            net,
            timing,
            max_line_len,
            secret,
            nonces,
            ecs: None,
            gate: None,
            conns: BTreeMap::new(),
        }
    }

    /// Says that `addr` is the ECS's address: connections to it are meant for the ECS.
    pub fn with_ecs(mut self, addr: &str) -> Self {
        self.ecs = Some(addr.to_owned());
        self
    }

    /// Makes [`AdminLink::send_to_group`] take turns through `gate` with the other links
    /// that share it.
    pub fn with_probe_gate(mut self, gate: Rc<ProbeGate>) -> Self {
        self.gate = Some(gate);
        self
    }

    /// Sends one request to `addr` and returns its reply. A failed connection is dropped,
    /// so the next call reconnects.
    pub async fn send(&mut self, addr: &str, request: &Request) -> Result<Reply, LineError> {
        let mut conn = self.connection(addr).await?;
        let result = tokio::time::timeout(self.timing.attempt_timeout, conn.request(request))
            .await
            .unwrap_or_else(|_| Err(timed_out("reply")));
        if result.is_ok() {
            self.conns.insert(addr.to_owned(), conn);
        }
        result
    }

    /// The cached connection to `addr`, taken out of the cache, or a new one.
    ///
    /// The connection is put back only after its reply: if the exchange's future is
    /// dropped mid-exchange (the join driver races every step against the join's
    /// deadline), the connection goes with it. Left in the cache, it handed the next
    /// request the reply of the one called off: the ECS took a `transfer_range`'s late
    /// `ok` for its `release_lock`, never released the join, and the next join's hand-off
    /// reused its finished transfer and moved no data (explore 0..2000,
    /// review-retry-ecs-crash-in-stretched-transfer-range, seed 912: acknowledged writes
    /// lost).
    async fn connection(&mut self, addr: &str) -> Result<LineConn<N::Stream>, LineError> {
        match self.conns.remove(addr) {
            Some(conn) => Ok(conn),
            None => tokio::time::timeout(self.timing.attempt_timeout, self.open(addr))
                .await
                .map_err(|_| timed_out("connect and handshake"))?,
        }
    }

    /// One attempt of [`AdminLink::send_to_group`]: sends `request` to `addr` and waits up
    /// to `reply_wait` for its reply, listening meanwhile to `unanswered` (the previous
    /// attempt whose wait ran out). Returns who answered and how; an `ok` of the older
    /// exchange ends the attempt, any other answer of it only stops the listening. An
    /// exchange whose wait runs out becomes the one listened to next time.
    async fn attempt(
        &mut self,
        addr: &str,
        request: &Request,
        reply_wait: Duration,
        unanswered: &mut Option<Unanswered<N::Stream>>,
    ) -> (String, Result<Reply, LineError>) {
        let conn = match self.connection(addr).await {
            Ok(conn) => conn,
            Err(e) => return (addr.to_owned(), Err(e)),
        };
        let mut current = exchange(conn, request.clone());
        let deadline = tokio::time::sleep(reply_wait);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                biased;
                (result, conn) = &mut current => {
                    if result.is_ok() {
                        self.conns.insert(addr.to_owned(), conn);
                    }
                    return (addr.to_owned(), result);
                }
                (result, conn) = answer_of(unanswered), if unanswered.is_some() => {
                    let earlier = unanswered.take().map(|u| u.addr).unwrap_or_default();
                    if matches!(result, Ok(Reply::Ok)) {
                        self.conns.insert(earlier.clone(), conn);
                        return (earlier, result);
                    }
                }
                () = &mut deadline => {
                    *unanswered = Some(Unanswered {
                        addr: addr.to_owned(),
                        exchange: current,
                    });
                    return (addr.to_owned(), Err(timed_out("reply")));
                }
            }
        }
    }

    /// Sends `request` to `addr` until it is answered `ok`, pausing between attempts.
    /// Every failure is logged with `what` for context.
    pub async fn send_until_ok(&mut self, addr: &str, request: &Request, what: &str) {
        let only = [addr.to_owned()];
        self.send_to_group(&only, None, request, what, || true)
            .await;
    }

    /// Sends `request` to a group until one of its nodes answers `ok`, and returns the
    /// address that did; the one routine every sender of ECS-protocol lines uses.
    ///
    /// `members` are the group's admin addresses, tried in turn from `first` (if given,
    /// e.g. the node that answered last time) or the first member. An `error not_leader
    /// <addr>` is followed straight to the named leader (with a pause every few redirects
    /// in a row, so two confused nodes cannot bounce it forever at full speed); any other
    /// answer or a failure moves to the next member after a pause. Before each attempt
    /// `go_on()` may call the whole thing off: then `None`. A reply that does not come
    /// is waited for [`REPLY_WAIT_TIMEOUTS`] attempt timeouts, so a group a little slower
    /// than the timeout is still heard, and then still listened to during the next
    /// attempt ([`Unanswered`]): an `ok` that comes there ends the call. With a
    /// [`ProbeGate`], an address that failed is tried by one link at a time, less often
    /// while it stays silent; the others move on to the next member.
    pub async fn send_to_group(
        &mut self,
        members: &[String],
        first: Option<&str>,
        request: &Request,
        what: &str,
        mut go_on: impl FnMut() -> bool,
    ) -> Option<String> {
        // The rotation goes on from `first`'s place, so a failed `first` is followed by
        // the member after it, not by itself again (found by review: the ECS driver and
        // the hand-off sender both start at the member that answered last).
        let mut next = first
            .and_then(|f| members.iter().position(|m| m == f))
            .unwrap_or(0);
        let mut target = first
            .map(str::to_owned)
            .or_else(|| members.first().cloned())?;
        let mut redirects = 0u32;
        let mut failures = 0u64;
        let reply_wait = self.timing.attempt_timeout * REPLY_WAIT_TIMEOUTS;
        let mut unanswered = None;
        loop {
            if !go_on() {
                return None;
            }
            let gate = self.gate.clone();
            let turn = match &gate {
                Some(gate) => match gate.try_turn(&target) {
                    Some(turn) => Some(turn),
                    None => {
                        // Another link is probing `target`, which failed: try the next
                        // member meanwhile (it names the leader if that moved).
                        redirects = 0;
                        if let Some(member) = next_member(members, &mut next) {
                            target = member;
                        }
                        tokio::time::sleep(self.timing.retry_pause).await;
                        continue;
                    }
                },
                None => None,
            };
            let (answered, result) = self
                .attempt(&target, request, reply_wait, &mut unanswered)
                .await;
            if let Some(turn) = turn {
                match &result {
                    Ok(_) => turn.answered(&answered),
                    Err(_) => turn.failed(),
                }
            }
            match result {
                Ok(Reply::Ok) => return Some(answered),
                Ok(Reply::NotLeader(Some(leader))) => {
                    target = leader.to_string();
                    redirects += 1;
                    if redirects % REDIRECTS_PER_PAUSE == 0 {
                        tokio::time::sleep(self.timing.retry_pause).await;
                    }
                    continue;
                }
                Ok(other) => {
                    tracing::warn!(to = %target, %what, reply = %other.to_line(), "refused; retrying")
                }
                Err(e) => {
                    failures += 1;
                    // The first failure and then every FAILURES_PER_WARNING-th: a peer that
                    // stays unreachable is visible at the default level without a line
                    // every retry pause.
                    if failures == 1 || failures % FAILURES_PER_WARNING == 0 {
                        tracing::warn!(to = %target, %what, attempt = failures, error = %e, "unreachable; retrying");
                    } else {
                        tracing::debug!(to = %target, %what, attempt = failures, error = %e, "failed; retrying");
                    }
                }
            }
            redirects = 0;
            if let Some(member) = next_member(members, &mut next) {
                target = member;
            }
            tokio::time::sleep(self.timing.retry_pause).await;
        }
    }

    /// A new connection to `addr`, authenticated if this link has a secret: the one place
    /// every sender of control lines opens its connections.
    async fn open(&mut self, addr: &str) -> Result<LineConn<N::Stream>, LineError> {
        let stream = self.net.connect(addr).await?;
        let mut conn = LineConn::new(stream, self.max_line_len);
        if let Some(secret) = &self.secret {
            // The proof names whom this side means to reach, so a port it did not dial
            // cannot use it (docs/protocol.md, "Extension: authenticated connections").
            let target = match &self.ecs {
                Some(ecs) if ecs == addr => ECS_TARGET,
                _ => addr,
            };
            auth::authenticate(&mut conn, secret, target, &mut self.nonces).await?;
        }
        Ok(conn)
    }

    /// Closes the connection to `addr`, if any.
    pub fn forget(&mut self, addr: &str) {
        self.conns.remove(addr);
    }
}

/// Moves `next` on to the following member of `members`, in turn, and returns it (none if
/// there are no members).
fn next_member(members: &[String], next: &mut usize) -> Option<String> {
    *next += 1;
    members.get(*next % members.len().max(1)).cloned()
}

fn timed_out(step: &str) -> LineError {
    LineError::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("{step} timed out"),
    ))
}
