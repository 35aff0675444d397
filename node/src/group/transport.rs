//! Moving Raft messages between the members of one group over the peer protocol.
//!
//! Each member dials every other member once (a Hello names the dialler) and sends its
//! requests ('V' 'A' 'S') on that connection; answers come back on the same connection.
//! Requests from a peer arrive on the connection that peer dialled, and our answers go
//! back on it. Messages for an unreachable peer are dropped: Raft resends.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use protocol::peer::{Hello, HelloReply, PeerId, PeerMessage};
use protocol::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio::sync::mpsc;
// tokio's clock: virtual (and deterministic) inside the simulation.
use tokio::time::Instant;

use crate::io::{Listener, Network};

/// Messages delivered to the replica: (sender, message).
pub type Inbox = mpsc::UnboundedSender<(PeerId, PeerMessage)>;

type Outbox = mpsc::UnboundedSender<PeerMessage>;

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
/// A dialled connection that has had requests out and no answer for this long is given
/// up and redialled: a partition can lose frames for good (TCP in the simulator does not
/// retransmit, and a real middlebox can blackhole a connection just the same).
const STALL_TIMEOUT: Duration = Duration::from_secs(1);

/// When a connection last carried a frame each way.
struct Activity {
    sent: Cell<Instant>,
    received: Cell<Instant>,
}

impl Activity {
    fn new() -> Self {
        let now = Instant::now();
        Activity {
            sent: Cell::new(now),
            received: Cell::new(now),
        }
    }

    /// Resolves once requests have gone unanswered for [`STALL_TIMEOUT`].
    async fn stalled(&self) {
        loop {
            tokio::time::sleep(STALL_TIMEOUT / 4).await;
            let (sent, received) = (self.sent.get(), self.received.get());
            if sent > received && received.elapsed() > STALL_TIMEOUT {
                return;
            }
        }
    }
}

impl Transport {
    /// Starts the accept loop on `listener` and one dialling task per peer in `peers`
    /// (peer id -> peer address, without this member). Everything received goes to
    /// `inbox`.
    pub fn start<N: Network>(
        net: N,
        me: PeerId,
        peers: BTreeMap<PeerId, String>,
        listener: N::Listener,
        inbox: Inbox,
        limits: Limits,
    ) -> Transport {
        let accepted = Rc::new(RefCell::new(BTreeMap::new()));
        tokio::task::spawn_local(accept_loop::<N>(
            listener,
            me,
            inbox.clone(),
            accepted.clone(),
            limits,
        ));
        let mut dialled = BTreeMap::new();
        for (id, addr) in peers {
            let (tx, rx) = mpsc::unbounded_channel();
            tokio::task::spawn_local(dial_loop(
                net.clone(),
                me,
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
    pub fn send(&self, to: PeerId, msg: PeerMessage) {
        if is_reply(&msg) {
            if let Some(tx) = self.accepted.borrow().get(&to) {
                let _ = tx.send(msg);
            }
        } else if let Some(tx) = self.dialled.get(&to) {
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
                activity.received.set(Instant::now());
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
async fn write_frames<S: crate::io::Stream>(
    mut writer: WriteHalf<S>,
    rx: &mut mpsc::UnboundedReceiver<PeerMessage>,
    activity: &Activity,
) {
    let mut out = BytesMut::new();
    while let Some(msg) = rx.recv().await {
        out.clear();
        msg.encode(&mut out);
        // Batch whatever else is already queued into the same write.
        while let Ok(more) = rx.try_recv() {
            more.encode(&mut out);
        }
        if writer.write_all(&out).await.is_err() || writer.flush().await.is_err() {
            return;
        }
        activity.sent.set(Instant::now());
    }
}

/// Reads one frame (the hello) with nothing consumed beyond it.
async fn read_one<S: crate::io::Stream>(
    reader: &mut ReadHalf<S>,
    buf: &mut BytesMut,
    limits: &Limits,
) -> Option<PeerMessage> {
    loop {
        match PeerMessage::decode(buf, limits) {
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
    me: PeerId,
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
        let mut hello = BytesMut::new();
        PeerMessage::Hello(Hello { from: me }).encode(&mut hello);
        if writer.write_all(&hello).await.is_err() {
            tokio::time::sleep(RECONNECT_PAUSE).await;
            continue;
        }
        let mut buf = BytesMut::new();
        // Bounded like the connect: a hello or its reply lost in a partition (the
        // simulator's TCP does not retransmit; a middlebox can blackhole one just the
        // same) left this dialler waiting for good, and the group without a link to this
        // peer (found by `sim explore`: a group of three, two up, no election for 200 s).
        let reply = tokio::time::timeout(CONNECT_TIMEOUT, read_one(&mut reader, &mut buf, &limits));
        match reply.await {
            Ok(Some(PeerMessage::HelloReply(HelloReply { from }))) if from == peer => {}
            _ => {
                tokio::time::sleep(RECONNECT_PAUSE).await;
                continue;
            }
        }
        let activity = Activity::new();
        tokio::select! {
            _ = read_frames(reader, peer, &inbox, &limits, buf, &activity) => {}
            _ = write_frames(writer, &mut rx, &activity) => {}
            _ = activity.stalled() => {
                tracing::debug!(%peer, "peer connection stalled; redialling");
            }
        }
        if inbox.is_closed() {
            return;
        }
        tokio::time::sleep(RECONNECT_PAUSE).await;
    }
}

async fn accept_loop<N: Network>(
    mut listener: N::Listener,
    me: PeerId,
    inbox: Inbox,
    accepted: Rc<RefCell<BTreeMap<PeerId, Outbox>>>,
    limits: Limits,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(RECONNECT_PAUSE).await;
            continue;
        };
        let inbox = inbox.clone();
        let accepted = accepted.clone();
        tokio::task::spawn_local(async move {
            let (mut reader, mut writer) = tokio::io::split(stream);
            let mut buf = BytesMut::new();
            let hello =
                tokio::time::timeout(CONNECT_TIMEOUT, read_one(&mut reader, &mut buf, &limits));
            let Ok(Some(PeerMessage::Hello(Hello { from }))) = hello.await else {
                return;
            };
            let mut reply = BytesMut::new();
            PeerMessage::HelloReply(HelloReply { from: me }).encode(&mut reply);
            if writer.write_all(&reply).await.is_err() {
                return;
            }
            let (tx, mut rx) = mpsc::unbounded_channel();
            // A newer connection from the same peer replaces an older one.
            accepted.borrow_mut().insert(from, tx);
            // Answers only: the dialler watches this connection for stalls.
            let activity = Activity::new();
            tokio::select! {
                _ = read_frames(reader, from, &inbox, &limits, buf, &activity) => {}
                _ = write_frames(writer, &mut rx, &activity) => {}
            }
        });
    }
}
