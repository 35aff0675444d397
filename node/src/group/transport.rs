//! Moving Raft messages between the members of one group over the peer protocol.
//!
//! Each member dials every other member once and sends its requests ('V' 'A' 'S') on that
//! connection; answers come back on the same connection. Requests from a peer arrive on
//! the connection that peer dialled, and our answers go back on it. Messages for an
//! unreachable peer are dropped: Raft resends.
//!
//! Every connection opens with a mutual handshake over the cluster secret ([`handshake`]):
//! `C` Hello (who dials, whom it means to reach, its nonce), `c` HelloReply (the acceptor's
//! nonce and proof), `P` HelloProof (the dialler's proof). A dialler sends nothing to an
//! acceptor that did not prove itself, and an acceptor passes nothing on to Raft from a
//! connection whose dialler did not: a forged AppendEntries never reaches the log.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use protocol::peer::{Hello, HelloProof, HelloReply, PeerId, PeerMessage};
use protocol::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
// tokio's clock: virtual (and deterministic) inside the simulation.
use tokio::time::Instant;

use crate::auth::peer::Transcript;
use crate::auth::{fresh_nonce, Secret, Side};
use crate::io::accept::accept_forever;
use crate::io::{Listener, Network, Rng};

/// Messages delivered to the replica: (sender, message).
pub type Inbox = mpsc::UnboundedSender<(PeerId, PeerMessage)>;

type Outbox = mpsc::UnboundedSender<PeerMessage>;

/// A member's peer port: where it accepts its peers' connections, and what it proves
/// itself with on every connection, accepted or dialled.
pub struct PeerPort<L> {
    /// The bound listener.
    pub listener: L,
    /// The cluster secret (none: a loopback-only cluster; the handshake then proves
    /// nothing).
    pub secret: Option<Secret>,
    /// Where this member's nonces come from (a fork of the node's injected RNG).
    pub nonces: Rng,
    /// This member's peer address as the group's member list gives it (what the others
    /// dial): its proofs name it, so a relay at another address gets nowhere.
    pub own_addr: String,
    /// The group's identity in the handshake: its ring address.
    pub group: String,
}

/// What both ends of every connection need for the handshake.
struct Credentials {
    me: PeerId,
    secret: Option<Secret>,
    nonces: RefCell<Rng>,
    /// The group's other members: the only ids an acceptor lets in.
    members: BTreeSet<PeerId>,
    own_addr: String,
    group: String,
    /// How long a dialled connection with requests out may go without a frame
    /// ([`stall_timeout`]).
    stall_timeout: Duration,
}

impl Credentials {
    fn nonce(&self) -> [u8; protocol::peer::NONCE_LEN] {
        fresh_nonce(&mut self.nonces.borrow_mut())
    }
}

/// The sending side of a member's peer connections.
pub struct Transport {
    /// Requests to each peer, written by that peer's dialling task.
    dialled: BTreeMap<PeerId, Outbox>,
    /// Answers to each peer, written on the connection that peer dialled (if open).
    accepted: Rc<RefCell<BTreeMap<PeerId, Outbox>>>,
}

fn is_reply(msg: &PeerMessage) -> bool {
    matches!(
        msg,
        PeerMessage::RequestVoteReply(_)
            | PeerMessage::AppendEntriesReply(_)
            | PeerMessage::InstallSnapshotReply(_)
    )
}

const RECONNECT_PAUSE: Duration = Duration::from_millis(200);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a stalled connection is still read after it is given up: long enough for the
/// next connection's connect and handshake ([`CONNECT_TIMEOUT`] each), after which the
/// peer answers on that one.
const STALLED_CONNECTION_LINGER: Duration = Duration::from_secs(3);

/// The shortest time a dialled connection may go without a frame while it has requests
/// out before it is given up and redialled: a partition can lose frames for good (TCP in
/// the simulator does not retransmit, and a real middlebox can blackhole a connection
/// just the same).
pub const MIN_STALL_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a dialled connection with requests out may go without a frame: half the
/// group's shortest election timeout, and at least [`MIN_STALL_TIMEOUT`]. A group on slow
/// disks is given a longer election timeout, and its answers wait on the disk, so it gets
/// a longer stall too (on 1200 ms syncs a 1 s stall redialled connections 655 times in
/// 160 s while their answers were on the way: seed 1376 of
/// join-steps-outlast-the-join-deadline-on-1200ms-syncs-448). But only half of it: a
/// leader whose connections died in a partition must redial before its followers' leases
/// run out (a hostile review: a stall as long as the election timeout turned most short
/// leader cuts into elections). An answer that comes after a redial is not lost
/// ([`Transport::send`]), nor one already on its way on the stalled connection (read on
/// for `STALLED_CONNECTION_LINGER`). When the wait starts: `Activity`.
pub fn stall_timeout(tick: Duration, election_ticks: (u32, u32)) -> Duration {
    (tick * election_ticks.0 / 2).max(MIN_STALL_TIMEOUT)
}

/// How long a dialled connection has been waiting on its peer.
///
/// A connection in use (it heard from its peer within the stall timeout) waits from the
/// last frame it received, as soon as it asks for anything: a leader writes nothing while
/// its own sync runs, so on slow disks its next request can come most of a sync after
/// the last answer, and a link that died in between must not get that pause on top (a
/// hostile review: counted from the request, leaders cut from their followers for 700 ms
/// on 600 ms syncs redialled after the followers' election timeouts, 17 of 300 seeds of
/// review-leader-cut-every-four-seconds-on-600ms-syncs held a lock too long). A quiet
/// connection waits from its first request: timed from a frame long gone, every first
/// request after a quiet spell (a pre-vote, a new leader's first append) was a stall
/// before its answer could come (explore, seed 250 of
/// review-five-node-newcomer-at-bare-majority-on-1200ms-syncs).
struct Activity {
    /// When the connection began to wait on an answer (`None`: nothing written since the
    /// last frame received asks for one).
    waiting_since: Cell<Option<Instant>>,
    /// When the last frame was received (the handshake's, on a new connection).
    heard: Cell<Instant>,
    /// How long the connection may wait on an answer ([`stall_timeout`]).
    stall_timeout: Duration,
}

impl Activity {
    fn new(stall_timeout: Duration) -> Self {
        Activity {
            waiting_since: Cell::new(None),
            heard: Cell::new(Instant::now()),
            stall_timeout,
        }
    }

    /// A request is about to be written.
    fn asked(&self) {
        if self.waiting_since.get().is_some() {
            return;
        }
        let heard = self.heard.get();
        let in_use = heard.elapsed() < self.stall_timeout;
        self.waiting_since
            .set(Some(if in_use { heard } else { Instant::now() }));
    }

    /// A frame was received: the peer is there, and nothing is waited on until the next
    /// request (a leader or candidate asks again on its next tick or sync).
    fn heard(&self) {
        self.heard.set(Instant::now());
        self.waiting_since.set(None);
    }

    /// Resolves once the connection has waited on an answer for the stall timeout.
    async fn stalled(&self) {
        loop {
            tokio::time::sleep(self.stall_timeout / 4).await;
            if self
                .waiting_since
                .get()
                .is_some_and(|since| since.elapsed() > self.stall_timeout)
            {
                return;
            }
        }
    }
}

impl Transport {
    /// Starts the accept loop on `port` and one dialling task per peer in `peers`
    /// (peer id -> peer address, without this member). Everything received on a
    /// connection whose other end proved itself goes to `inbox`. A dialled connection
    /// with requests out and no frame for `stall_timeout` is redialled ([`stall_timeout`]).
    pub fn start<N: Network>(
        net: N,
        me: PeerId,
        peers: BTreeMap<PeerId, String>,
        port: PeerPort<N::Listener>,
        inbox: Inbox,
        limits: Limits,
        stall_timeout: Duration,
    ) -> Transport {
        let credentials = Rc::new(Credentials {
            me,
            secret: port.secret,
            nonces: RefCell::new(port.nonces),
            members: peers.keys().copied().collect(),
            own_addr: port.own_addr,
            group: port.group,
            stall_timeout,
        });
        let accepted = Rc::new(RefCell::new(BTreeMap::new()));
        tokio::task::spawn_local(accept_loop::<N>(
            port.listener,
            credentials.clone(),
            inbox.clone(),
            accepted.clone(),
            limits,
        ));
        let mut dialled = BTreeMap::new();
        for (id, addr) in peers {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::task::spawn_local(dial_loop(
                net.clone(),
                credentials.clone(),
                id,
                addr,
                rx,
                inbox.clone(),
                limits,
            ));
            dialled.insert(id, tx);
        }
        Transport { dialled, accepted }
    }

    /// A transport with no peers (a group of one).
    pub fn none() -> Transport {
        Transport {
            dialled: BTreeMap::new(),
            accepted: Rc::new(RefCell::new(BTreeMap::new())),
        }
    }

    /// Sends `msg` to `to`: a request on the connection we dialled, an answer on the
    /// connection `to` dialled.
    ///
    /// An answer whose connection is gone goes on the connection we dialled instead (the
    /// peer takes any frame from either): the peer may have redialled while the answer
    /// waited for the disk, and a vote granted into a closed connection is lost for its
    /// term (explore, seed 880 of bare-majority-hand-off-outlasts-the-join-deadline-336:
    /// after a quiet spell a vote request was redialled within a second, and a group that
    /// needed every vote lost one term after term for 29 s).
    pub fn send(&self, to: PeerId, msg: PeerMessage) {
        let msg = match self.accepted.borrow().get(&to) {
            Some(tx) if is_reply(&msg) => match tx.send(msg) {
                Ok(()) => return,
                Err(mpsc::error::SendError(msg)) => msg,
            },
            _ => msg,
        };
        if let Some(tx) = self.dialled.get(&to) {
            let _ = tx.send(msg);
        }
    }
}

/// Reads frames from `reader` into `inbox` as coming from `from` until the stream ends
/// or carries garbage.
async fn read_frames<S: crate::io::Stream>(
    mut reader: ReadHalf<S>,
    from: PeerId,
    inbox: &Inbox,
    limits: &Limits,
    mut buf: BytesMut,
    activity: &Activity,
) {
    loop {
        match PeerMessage::decode(&buf, limits) {
            Ok(Some((msg, used))) => {
                let _ = buf.split_to(used);
                activity.heard();
                if inbox.send((from, msg)).is_err() {
                    return;
                }
                continue;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(peer = %from, error = %e, "dropping peer connection: bad frame");
                return;
            }
        }
        match reader.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// Writes every message from `rx` to `writer` until either side closes.
///
/// Whatever is queued by the time the writer wakes goes out in one write, and a frame
/// identical to one already in that write is left out. Raft takes a lost message in its
/// stride, and an identical copy next to the first tells the other side nothing new; but
/// what was queued while a peer was being dialled (a connect to a held link waits up to
/// [`CONNECT_TIMEOUT`]) piles up: the resend of the snapshot chunk in flight made on
/// every heartbeat went out six times at once when the link came up, 64 KiB each
/// (explore, seed 233 of review-pipeline-huge-parts-window), and every answer to them
/// came back.
async fn write_frames<S: crate::io::Stream>(
    mut writer: WriteHalf<S>,
    rx: &mut mpsc::UnboundedReceiver<PeerMessage>,
    activity: &Activity,
) {
    let mut out = BytesMut::new();
    // Where each frame of the write being built lies in `out`.
    let mut frames: Vec<Range<usize>> = Vec::new();
    while let Some(msg) = rx.recv().await {
        out.clear();
        frames.clear();
        let mut asks = false;
        let mut next = Some(msg);
        // Batch whatever else is already queued into the same write.
        while let Some(msg) = next.take().or_else(|| rx.try_recv().ok()) {
            let start = out.len();
            msg.encode(&mut out);
            let frame = start..out.len();
            if frames.iter().any(|f| out[f.clone()] == out[frame.clone()]) {
                out.truncate(start);
                continue;
            }
            frames.push(frame);
            asks |= !is_reply(&msg);
        }
        // An answer sent on a dialled connection (its own is gone) waits for nothing. A
        // request waits from before its write: a write held up by a dead link is waiting
        // too.
        if asks {
            activity.asked();
        }
        if writer.write_all(&out).await.is_err() || writer.flush().await.is_err() {
            return;
        }
    }
}

/// The limits a handshake frame is read with: no variable-length field, so a body of at
/// most [`protocol::peer::BODY_ALLOWANCE`] (64) bytes, which every handshake frame fits.
/// A header announcing more is refused at once: before the other side has proved
/// anything it gets a handshake frame's worth of buffer, not 8 MiB per connection (as the
/// control ports give an unproven peer one auth line).
const HANDSHAKE_LIMITS: Limits = Limits {
    max_field_len: 0,
    max_array_len: 0,
};

/// Reads one frame (of the handshake) with nothing consumed beyond it.
async fn read_one<S: crate::io::Stream>(
    reader: &mut ReadHalf<S>,
    buf: &mut BytesMut,
) -> Option<PeerMessage> {
    loop {
        match PeerMessage::decode(buf, &HANDSHAKE_LIMITS) {
            Ok(Some((msg, used))) => {
                let _ = buf.split_to(used);
                return Some(msg);
            }
            Ok(None) => {}
            Err(_) => return None,
        }
        match reader.read_buf(buf).await {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

async fn dial_loop<N: Network>(
    net: N,
    credentials: Rc<Credentials>,
    peer: PeerId,
    addr: String,
    mut rx: mpsc::UnboundedReceiver<PeerMessage>,
    inbox: Inbox,
    limits: Limits,
) {
    loop {
        // Whatever was queued while disconnected is stale: Raft resends what matters.
        while rx.try_recv().is_ok() {}
        let stream = match tokio::time::timeout(CONNECT_TIMEOUT, net.connect(&addr)).await {
            Ok(Ok(s)) => s,
            _ => {
                if inbox.is_closed() {
                    return;
                }
                tokio::time::sleep(RECONNECT_PAUSE).await;
                continue;
            }
        };
        let (mut reader, mut writer) = tokio::io::split(stream);
        let mut buf = BytesMut::new();
        // Bounded like the connect: a hello or its reply lost in a partition (the
        // simulator's TCP does not retransmit; a middlebox can blackhole one just the
        // same) left this dialler waiting for good, and the group without a link to this
        // peer (found by `sim explore`: a group of three, two up, no election for 200 s).
        let opened = tokio::time::timeout(
            CONNECT_TIMEOUT,
            dial_handshake(
                &credentials,
                (peer, &addr),
                &mut reader,
                &mut writer,
                &mut buf,
            ),
        );
        if !matches!(opened.await, Ok(true)) {
            tokio::time::sleep(RECONNECT_PAUSE).await;
            continue;
        }
        let activity = Rc::new(Activity::new(credentials.stall_timeout));
        let mut reading = Box::pin({
            let (inbox, activity) = (inbox.clone(), activity.clone());
            async move { read_frames(reader, peer, &inbox, &limits, buf, &activity).await }
        });
        let stalled = tokio::select! {
            () = &mut reading => false,
            () = write_frames(writer, &mut rx, &activity) => false,
            () = activity.stalled() => true,
        };
        if inbox.is_closed() {
            return;
        }
        if stalled {
            tracing::debug!(%peer, "peer connection stalled; redialling");
            // A stalled connection may only be slow: what the peer already sent on it
            // still counts, so it is read on for a while beside the next connection
            // (until the peer answers on that one). A stall then costs a handshake,
            // not the answers on their way.
            tokio::task::spawn_local(async move {
                let _ = tokio::time::timeout(STALLED_CONNECTION_LINGER, reading).await;
            });
            continue;
        }
        drop(reading);
        tokio::time::sleep(RECONNECT_PAUSE).await;
    }
}

/// The dialler's side of the handshake: `C`, then the acceptor's `c` must name `peer`
/// and carry its proof, then `P`. True once the connection may carry requests.
async fn dial_handshake<S: crate::io::Stream>(
    credentials: &Credentials,
    (peer, addr): (PeerId, &str),
    reader: &mut ReadHalf<S>,
    writer: &mut WriteHalf<S>,
    buf: &mut BytesMut,
) -> bool {
    let dial_nonce = credentials.nonce();
    let hello = Hello {
        from: credentials.me,
        to: peer,
        nonce: dial_nonce,
    };
    if send_frame(writer, hello.into()).await.is_err() {
        return false;
    }
    let Some(PeerMessage::HelloReply(reply)) = read_one(reader, buf).await else {
        return false;
    };
    let transcript = Transcript {
        group: &credentials.group,
        acceptor_addr: addr,
        dialler: credentials.me,
        acceptor: peer,
        dial_nonce,
        accept_nonce: reply.nonce,
    };
    let secret = credentials.secret.as_ref();
    if reply.from != peer || !transcript.verify(secret, Side::Acceptor, &reply.proof) {
        // Whoever answers at this address is not the member we meant (or not one of
        // ours at all): it gets no request, and no proof of ours to relay.
        tracing::warn!(%peer, answered = %reply.from, "peer failed to prove itself; not sending to it");
        return false;
    }
    let proof = HelloProof {
        proof: transcript.proof(secret, Side::Dialler),
    };
    send_frame(writer, proof.into()).await.is_ok()
}

/// The acceptor's side of the handshake: `C` must name a member of the group as its
/// sender and this member as its target; `c` answers it with a proof; `P` must carry the
/// dialler's. The dialler's id once the connection may be served.
async fn accept_handshake<S: crate::io::Stream>(
    credentials: &Credentials,
    reader: &mut ReadHalf<S>,
    writer: &mut WriteHalf<S>,
    buf: &mut BytesMut,
) -> Option<PeerId> {
    let Some(PeerMessage::Hello(hello)) = read_one(reader, buf).await else {
        return None;
    };
    if hello.to != credentials.me || !credentials.members.contains(&hello.from) {
        tracing::warn!(from = %hello.from, to = %hello.to, "refusing a peer connection: not from a member of this group to this member");
        return None;
    }
    let transcript = Transcript {
        group: &credentials.group,
        acceptor_addr: &credentials.own_addr,
        dialler: hello.from,
        acceptor: credentials.me,
        dial_nonce: hello.nonce,
        accept_nonce: credentials.nonce(),
    };
    let secret = credentials.secret.as_ref();
    let reply = HelloReply {
        from: credentials.me,
        nonce: transcript.accept_nonce,
        proof: transcript.proof(secret, Side::Acceptor),
    };
    send_frame(writer, reply.into()).await.ok()?;
    let Some(PeerMessage::HelloProof(proof)) = read_one(reader, buf).await else {
        return None;
    };
    if !transcript.verify(secret, Side::Dialler, &proof.proof) {
        tracing::warn!(from = %hello.from, "refusing a peer connection: wrong proof");
        return None;
    }
    Some(hello.from)
}

/// Writes one frame.
async fn send_frame<S: crate::io::Stream>(
    writer: &mut WriteHalf<S>,
    msg: PeerMessage,
) -> std::io::Result<()> {
    let mut out = BytesMut::new();
    msg.encode(&mut out);
    writer.write_all(&out).await?;
    writer.flush().await
}

/// Serves the peer port: each accepted connection must pass the acceptor's handshake
/// within `CONNECT_TIMEOUT`, then carries the dialler's frames in and this member's
/// answers out until either side fails.
async fn accept_loop<N: Network>(
    listener: N::Listener,
    credentials: Rc<Credentials>,
    inbox: Inbox,
    accepted: Rc<RefCell<BTreeMap<PeerId, Outbox>>>,
    limits: Limits,
) {
    let serve = move |stream: <N::Listener as Listener>::Stream, _| {
        let inbox = inbox.clone();
        let accepted = accepted.clone();
        let credentials = credentials.clone();
        async move {
            let (mut reader, mut writer) = tokio::io::split(stream);
            let mut buf = BytesMut::new();
            let handshake = accept_handshake(&credentials, &mut reader, &mut writer, &mut buf);
            let Ok(Some(from)) = tokio::time::timeout(CONNECT_TIMEOUT, handshake).await else {
                return;
            };
            let (tx, mut rx) = mpsc::unbounded_channel();
            // A newer connection from the same peer replaces an older one.
            accepted.borrow_mut().insert(from, tx);
            // Answers only: the dialler watches this connection for stalls.
            let activity = Activity::new(credentials.stall_timeout);
            tokio::select! {
                _ = read_frames(reader, from, &inbox, &limits, buf, &activity) => {}
                _ = write_frames(writer, &mut rx, &activity) => {}
            }
        }
    };
    match accept_forever(listener, "peer", serve).await {}
}

#[cfg(test)]
mod tests;
