//! The message trace: every protocol message sent and received and every fault, at
//! simulated time, in the order the simulation produced them.
//!
//! - [`tap`]: decodes the bytes crossing a simulated connection into messages.
//! - [`render`]: the two text renderings (one line per event, and a sequence diagram).
//! - [`leaders`]: who led which group in which term, as the peer traffic shows it.
//!
//! Recording happens in the harness, not in node code: [`tap::TracedStream`] wraps every
//! simulated TCP stream, so the trace shows exactly what crossed the network.

pub mod leaders;
pub mod render;
pub mod tap;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use protocol::client::{Packet, Request as ClientRequest, Response};
use protocol::ecs::{AuthLine, Reply, Request as EcsRequest};
use protocol::peer::PeerMessage;
use protocol::Limits;

/// Every kind [`Message::kind`] returns: what a timeline trigger may name.
pub const MESSAGE_KINDS: &[&str] = &[
    "write_lock",
    "release_lock",
    "next_addr",
    "transfer_range",
    "ecs_put",
    "done",
    "broadcast_node",
    "register",
    "cluster_view",
    "group_members",
    "abort_join",
    "status",
    "remove_group",
    "hand_over",
    "progress",
    "status_reply",
    "auth_challenge",
    "ok",
    "error",
    "not_leader",
    "get",
    "put",
    "delete",
    "cas",
    "response",
    "auth",
    "auth_ok",
    "bootstrap",
    "metadata",
    "group_info",
    "hello",
    "hello_reply",
    "hello_proof",
    "request_vote",
    "request_vote_reply",
    "append_entries",
    "append_entries_reply",
    "install_snapshot",
    "install_snapshot_reply",
    "garbage",
];

/// One decoded message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// An ECS-protocol request line.
    AdminRequest(EcsRequest),
    /// An ECS-protocol reply line.
    AdminReply(Reply),
    /// A client-protocol packet.
    Client(Packet),
    /// A peer-protocol (Raft) frame between members of one group.
    Peer(PeerMessage),
    /// A line of the control-port handshake (extension): a port's `auth_challenge`, or
    /// the connecting side's `auth` proof.
    Auth(AuthLine),
    /// Bytes that did not decode.
    Garbage(String),
}

impl Message {
    /// Whether this is client-protocol traffic.
    pub fn is_client(&self) -> bool {
        matches!(self, Message::Client(_))
    }

    /// Whether this is peer-protocol (Raft) traffic.
    pub fn is_peer(&self) -> bool {
        matches!(self, Message::Peer(_))
    }

    /// The message's kind, as a timeline trigger names it (`when = { receives = ".." }`):
    /// an ECS-protocol request's keyword (`write_lock`, `ecs_put`, `done`, ...; a join tag
    /// does not change it), `ok` / `error` / `not_leader` for its replies, a client
    /// packet's command (`get`, `put`, `delete`, `cas`) or `response`, `not_leader`,
    /// `error`, `auth`, `bootstrap`, `metadata`, the handshake's `auth_challenge` and
    /// `auth`, and a peer frame's snake_case type
    /// (`append_entries`, `request_vote_reply`, `install_snapshot`, ...).
    pub fn kind(&self) -> &'static str {
        match self {
            Message::AdminRequest(r) => r.keyword(),
            Message::AdminReply(Reply::Ok) => "ok",
            Message::AdminReply(Reply::Error(_)) => "error",
            Message::AdminReply(Reply::NotLeader(_)) => "not_leader",
            Message::AdminReply(Reply::Status(_)) => "status_reply",
            Message::Client(p) => client_kind(p),
            Message::Peer(m) => match m {
                PeerMessage::Hello(_) => "hello",
                PeerMessage::HelloReply(_) => "hello_reply",
                PeerMessage::HelloProof(_) => "hello_proof",
                PeerMessage::RequestVote(_) => "request_vote",
                PeerMessage::RequestVoteReply(_) => "request_vote_reply",
                PeerMessage::AppendEntries(_) => "append_entries",
                PeerMessage::AppendEntriesReply(_) => "append_entries_reply",
                PeerMessage::InstallSnapshot(_) => "install_snapshot",
                PeerMessage::InstallSnapshotReply(_) => "install_snapshot_reply",
            },
            Message::Auth(line) => line.keyword(),
            Message::Garbage(_) => "garbage",
        }
    }

    /// A one-line description with large payloads summarised.
    pub fn summary(&self) -> String {
        match self {
            Message::AdminRequest(EcsRequest::ForJoin { join, request }) => {
                let inner = Message::AdminRequest((**request).clone()).summary();
                match inner.strip_prefix("ecs_put ") {
                    // Long summaries are cut in the diagram: name the join first.
                    Some(rest) => format!("ecs_put join={join} {rest}"),
                    None => format!("{inner} join={join}"),
                }
            }
            Message::AdminRequest(EcsRequest::EcsPut(part)) => {
                let bytes: usize = part.items.iter().map(|i| i.key.len() + i.value.len()).sum();
                let keys = match (part.items.first(), part.items.last()) {
                    (Some(a), Some(b)) => {
                        format!(" keys {}..{}", printable(&a.key), printable(&b.key))
                    }
                    _ => String::new(),
                };
                format!(
                    "ecs_put transfer {:016x} part {}: {} items, {bytes} B{keys}",
                    part.transfer_id,
                    part.part,
                    part.items.len()
                )
            }
            Message::AdminRequest(EcsRequest::ClusterView(v)) => {
                let nodes: Vec<String> = v
                    .nodes
                    .iter()
                    .map(|n| format!("{}={}", n.id, n.admin.host()))
                    .collect();
                format!("cluster_view v{} [{}]", v.version, nodes.join(" "))
            }
            Message::AdminRequest(r) => r.to_line(),
            Message::AdminReply(r) => r.to_line(),
            Message::Client(p) => client_summary(p),
            Message::Peer(m) => peer_summary(m),
            // Whole: a replayed proof reads the same as the one it copies.
            Message::Auth(line) => line.to_line(),
            Message::Garbage(s) => format!("?? {s}"),
        }
    }
}

/// Key bytes as text when printable, else hex.
pub fn printable(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) if s.chars().all(|c| c.is_ascii_graphic()) && s.len() <= 24 => s.to_string(),
        _ => bytes.iter().take(12).map(|b| format!("{b:02x}")).collect(),
    }
}

/// Longest value shown whole in a trace line; longer ones are cut and their size given.
const SHOWN_VALUE_BYTES: usize = 24;

/// A value for a trace line: whole when short and printable (the workload's values start
/// with the client, lane and write number, so the head names the write), else its first
/// bytes and its size.
pub fn short(value: &[u8]) -> String {
    let text = std::str::from_utf8(value)
        .ok()
        .filter(|s| s.chars().all(|c| c.is_ascii_graphic()));
    match text {
        Some(s) if s.len() <= SHOWN_VALUE_BYTES => s.to_string(),
        Some(s) => format!("{}..({} B)", &s[..SHOWN_VALUE_BYTES - 8], s.len()),
        None => format!(
            "0x{}..({} B)",
            value
                .iter()
                .take(8)
                .map(|b| format!("{b:02x}"))
                .collect::<String>(),
            value.len()
        ),
    }
}

/// [`short`], or `absent`.
pub fn short_opt(value: &Option<bytes::Bytes>) -> String {
    value.as_deref().map_or_else(|| "absent".to_string(), short)
}

/// See [`Message::kind`].
fn client_kind(p: &Packet) -> &'static str {
    use protocol::client::Command::*;
    match p {
        Packet::CommandRequest(body) => match ClientRequest::decode(body, &Limits::DEFAULT) {
            Ok(r) => match r.command {
                Get { .. } => "get",
                Put { .. } => "put",
                Delete { .. } => "delete",
                CompareAndSet { .. } => "cas",
            },
            Err(_) => "garbage",
        },
        Packet::CommandResponse(_) => "response",
        Packet::ErrorResponse(_) => "error",
        Packet::NotLeader(_) => "not_leader",
        Packet::AuthorizationRequest(_) | Packet::AuthorizationResponse(_) => "auth",
        Packet::BootstrapRequest { .. } | Packet::BootstrapResponse(_) => "bootstrap",
        Packet::ClusterMetadataRequest | Packet::ClusterMetadataResponse { .. } => "metadata",
        Packet::GroupInfoRequest | Packet::GroupInfoResponse(_) => "group_info",
    }
}

fn client_summary(p: &Packet) -> String {
    let limits = Limits::DEFAULT;
    match p {
        Packet::CommandRequest(body) => match ClientRequest::decode(body, &limits) {
            Ok(r) => {
                let seq = r
                    .session
                    .map(|s| format!(" #{}", s.sequence))
                    .unwrap_or_default();
                use protocol::client::Command::*;
                let what = match &r.command {
                    Get { key } => format!("get {}", printable(key)),
                    Put { key, value } => format!("put {} = {}", printable(key), short(value)),
                    Delete { key } => format!("del {}", printable(key)),
                    CompareAndSet { key, expected, new } => format!(
                        "cas {} {} -> {}",
                        printable(key),
                        short_opt(expected),
                        short(new)
                    ),
                };
                format!("C {what}{seq}")
            }
            Err(e) => format!("C <bad command: {e}>"),
        },
        Packet::CommandResponse(body) => match Response::decode(body, &limits) {
            Ok(Response::Value(Some(v))) => format!("c value {}", short(&v)),
            Ok(Response::Value(None)) => "c not found".into(),
            Ok(Response::Stored) => "c stored".into(),
            Ok(Response::Deleted(existed)) => format!("c deleted={existed}"),
            Ok(Response::CompareAndSet { swapped, current }) => {
                format!("c cas swapped={swapped} now {}", short_opt(&current))
            }
            Err(e) => format!("c <bad answer: {e}>"),
        },
        Packet::ErrorResponse(m) => format!("e {m}"),
        Packet::NotLeader(id) => format!("l {id}"),
        Packet::AuthorizationRequest(_) => "A".into(),
        Packet::AuthorizationResponse(_) => "a".into(),
        Packet::BootstrapRequest {
            major,
            minor,
            patch,
        } => format!("B {major}.{minor}.{patch}"),
        Packet::BootstrapResponse(_) => "b".into(),
        Packet::ClusterMetadataRequest => "M".into(),
        Packet::ClusterMetadataResponse {
            addresses,
            leader_id,
            current_node_id,
        } => {
            format!(
                "m {} nodes, leader {leader_id}, me {current_node_id}",
                addresses.len()
            )
        }
        Packet::GroupInfoRequest => "I".into(),
        Packet::GroupInfoResponse(info) => format!(
            "i {} leader {} t{} view {}{}",
            info.ring,
            info.leader_id,
            info.term,
            info.view_version,
            if info.locked { " locked" } else { "" }
        ),
    }
}

/// The first 4 bytes of a nonce or proof, in hex.
fn head(bytes: &[u8]) -> String {
    bytes.iter().take(4).map(|b| format!("{b:02x}")).collect()
}

/// A peer frame in a few tokens: the marker, the term (`t5`), then what matters of it.
///
/// `V t5 pre last 12/4` (a pre-vote; last log entry index/term), `v t5 granted`,
/// `A t5 prev 12/4 +3 commit 11`, `a t5 ok 15` or `a t5 no hint 9`,
/// `S t5 snap 40/3 @0 4096 B done`, `s t5 @4096`, and the handshake: `C hello 2 to 0
/// n 1a2b3c4d`, `c hello 0 n 5e6f7a8b p 9c0d1e2f`, `P proof 3a4b5c6d` (the first 4 bytes
/// of each nonce and proof, enough to tell a replayed handshake from a fresh one).
pub fn peer_summary(m: &PeerMessage) -> String {
    let pre = |pre_vote: bool| if pre_vote { " pre" } else { "" };
    match m {
        PeerMessage::Hello(h) => format!("C hello {} to {} n {}", h.from, h.to, head(&h.nonce)),
        PeerMessage::HelloReply(h) => format!(
            "c hello {} n {} p {}",
            h.from,
            head(&h.nonce),
            head(&h.proof)
        ),
        PeerMessage::HelloProof(p) => format!("P proof {}", head(&p.proof)),
        PeerMessage::RequestVote(v) => format!(
            "V t{}{} last {}/{}",
            v.term,
            pre(v.pre_vote),
            v.last_log_index,
            v.last_log_term
        ),
        PeerMessage::RequestVoteReply(v) => format!(
            "v t{}{} {}",
            v.term,
            pre(v.pre_vote),
            if v.vote_granted { "granted" } else { "refused" }
        ),
        PeerMessage::AppendEntries(a) => format!(
            "A t{} prev {}/{} +{} commit {}",
            a.term,
            a.prev_log_index,
            a.prev_log_term,
            a.entries.len(),
            a.leader_commit
        ),
        PeerMessage::AppendEntriesReply(a) => {
            let (word, what) = if a.success {
                ("ok", "")
            } else {
                ("no", "hint ")
            };
            format!("a t{} {word} {what}{}", a.term, a.last_log_index)
        }
        PeerMessage::InstallSnapshot(s) => format!(
            "S t{} snap {}/{} @{} {} B{}",
            s.term,
            s.last_included_index,
            s.last_included_term,
            s.offset,
            s.data.len(),
            if s.done { " done" } else { "" }
        ),
        PeerMessage::InstallSnapshotReply(s) => format!("s t{} @{}", s.term, s.next_offset),
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
pub enum What {
    /// A host wrote a message to a connection.
    Send {
        /// The writing host.
        from: Rc<str>,
        /// The host at the other end.
        to: Rc<str>,
        /// The message.
        msg: Message,
    },
    /// A host read a message from a connection.
    Recv {
        /// The reading host.
        host: Rc<str>,
        /// The host at the other end.
        from: Rc<str>,
        /// The message.
        msg: Message,
    },
    /// A fault or harness action (crash, restart, partition, ...).
    Fault(String),
}

/// One trace event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Simulated time since the start.
    pub at: Duration,
    /// What happened.
    pub what: What,
    /// For a message, the connection end it crossed (this host's side of one TCP
    /// connection: requests and their replies share it), numbered from 1 in the order the
    /// ends were opened; 0 for faults and for events built by hand. Not rendered, so not
    /// in the trace hash.
    pub conn: u32,
}

/// The first bytes one host wrote as requests on one ECS-protocol or peer connection it
/// opened, exactly as they crossed the wire (what a rogue may replay).
#[derive(Debug, Clone, PartialEq)]
pub struct SentRequests {
    /// When the first of them was written.
    pub at: Duration,
    /// The host that opened the connection.
    pub host: Rc<str>,
    /// The host it connected to.
    pub peer: Rc<str>,
    /// The bytes, at most [`SENT_REQUESTS_KEPT`].
    pub bytes: Vec<u8>,
}

/// Bytes kept per connection in [`Trace::sent_requests`]: a join's conversation with a
/// node is well under this; a hand-off's `ecs_put` stream is cut.
pub const SENT_REQUESTS_KEPT: usize = 16 * 1024;

/// The events of one run.
#[derive(Debug, Default)]
pub struct Trace {
    /// Every event, in order.
    pub events: Vec<Event>,
    /// Connection ends opened so far (see [`Event::conn`]).
    pub conns: u32,
    /// The raw request bytes of every ECS-protocol and peer connection, by the opening end's
    /// [`Event::conn`]. Not rendered, so not in the trace hash.
    pub sent_requests: std::collections::BTreeMap<u32, SentRequests>,
}

/// The trace shared by every host of a simulation (one thread, so `Rc<RefCell>`).
pub type TraceHandle = Rc<RefCell<Trace>>;

impl Trace {
    /// Appends an event.
    pub fn push(&mut self, at: Duration, what: What) {
        self.push_on(at, what, 0);
    }

    /// Appends a message event that crossed connection end `conn`.
    pub fn push_on(&mut self, at: Duration, what: What, conn: u32) {
        self.events.push(Event { at, what, conn });
    }

    /// A number for a newly opened connection end.
    pub fn next_conn(&mut self) -> u32 {
        self.conns += 1;
        self.conns
    }

    /// A 64-bit FNV-1a hash of the full one-line rendering: equal traces, equal hashes.
    pub fn hash(&self) -> u64 {
        crate::fnv::fnv1a(self.events.iter().flat_map(|e| {
            let mut line = render::line(e).into_bytes();
            line.push(b'\n');
            line
        }))
    }

    /// The first event where two traces differ, as (index, this line, other line).
    pub fn first_divergence(&self, other: &Trace) -> Option<(usize, String, String)> {
        let n = self.events.len().max(other.events.len());
        (0..n).find_map(|i| {
            let a = self
                .events
                .get(i)
                .map(render::line)
                .unwrap_or_else(|| "<end of trace>".into());
            let b = other
                .events
                .get(i)
                .map(render::line)
                .unwrap_or_else(|| "<end of trace>".into());
            (a != b).then_some((i, a, b))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::peer::HelloProof;

    /// A trigger may name any kind a message can have: the list must not miss one that
    /// [`Message::kind`] returns, or a scenario naming it is refused as a typo.
    #[test]
    fn every_kind_a_message_can_have_is_a_trigger_kind() {
        let mut messages: Vec<Message> = [
            "write_lock",
            "release_lock",
            "abort_join",
            "status",
            "progress 1 2",
        ]
        .iter()
        .map(|line| Message::AdminRequest(EcsRequest::parse(line).expect(line)))
        .collect();
        messages.extend([
            Message::AdminReply(Reply::Ok),
            Message::Auth(AuthLine::Challenge(Default::default())),
            Message::Auth(AuthLine::Proof {
                proof: Default::default(),
                nonce: Default::default(),
                target: "ecs".into(),
            }),
            Message::Auth(AuthLine::Accepted(Default::default())),
            Message::Peer(PeerMessage::HelloProof(HelloProof {
                proof: Default::default(),
            })),
            Message::Garbage("?".into()),
        ]);
        for message in &messages {
            assert!(
                MESSAGE_KINDS.contains(&message.kind()),
                "{:?} is missing from MESSAGE_KINDS",
                message.kind()
            );
        }
    }
}
