//! The message trace: every protocol message sent and received and every fault, at
//! simulated time, in the order the simulation produced them.
//!
//! - [`tap`]: decodes the bytes crossing a simulated connection into messages.
//! - [`render`]: the two text renderings (one line per event, and a sequence diagram).
//!
//! Recording happens in the harness, not in node code: [`tap::TracedStream`] wraps every
//! simulated TCP stream, so the trace shows exactly what crossed the network.

pub mod render;
pub mod tap;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use protocol::client::{Packet, Request as ClientRequest, Response};
use protocol::ecs::{Reply, Request as EcsRequest};
use protocol::Limits;

/// One decoded message.
#[derive(Debug, Clone, PartialEq)]
pub enum Message {
    /// An ECS-protocol request line.
    AdminRequest(EcsRequest),
    /// An ECS-protocol reply line.
    AdminReply(Reply),
    /// A client-protocol packet.
    Client(Packet),
    /// Bytes that did not decode.
    Garbage(String),
}

impl Message {
    /// Whether this is client-protocol traffic.
    pub fn is_client(&self) -> bool {
        matches!(self, Message::Client(_))
    }

    /// A one-line description with large payloads summarised.
    pub fn summary(&self) -> String {
        match self {
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
                    Put { key, value } => format!("put {} ({} B)", printable(key), value.len()),
                    Delete { key } => format!("del {}", printable(key)),
                    CompareAndSet { key, expected, .. } => {
                        format!(
                            "cas {} (expect {})",
                            printable(key),
                            if expected.is_some() {
                                "value"
                            } else {
                                "absent"
                            }
                        )
                    }
                };
                format!("C {what}{seq}")
            }
            Err(e) => format!("C <bad command: {e}>"),
        },
        Packet::CommandResponse(body) => match Response::decode(body, &limits) {
            Ok(Response::Value(Some(v))) => format!("c value ({} B)", v.len()),
            Ok(Response::Value(None)) => "c not found".into(),
            Ok(Response::Stored) => "c stored".into(),
            Ok(Response::Deleted(existed)) => format!("c deleted={existed}"),
            Ok(Response::CompareAndSet { swapped, .. }) => format!("c cas swapped={swapped}"),
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
}

/// The events of one run.
#[derive(Debug, Default)]
pub struct Trace {
    /// Every event, in order.
    pub events: Vec<Event>,
}

/// The trace shared by every host of a simulation (one thread, so `Rc<RefCell>`).
pub type TraceHandle = Rc<RefCell<Trace>>;

impl Trace {
    /// Appends an event.
    pub fn push(&mut self, at: Duration, what: What) {
        self.events.push(Event { at, what });
    }

    /// A 64-bit FNV-1a hash of the full one-line rendering: equal traces, equal hashes.
    pub fn hash(&self) -> u64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for line in self.events.iter().map(render::line) {
            for b in line.bytes().chain(std::iter::once(b'\n')) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        h
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
