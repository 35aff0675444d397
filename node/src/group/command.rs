//! Every change to a replica group's state, as one enum: the unit the log stores and the
//! Raft issue will replicate. Nothing changes a group except applying one of these.

use bytes::{BufMut, BytesMut};
use protocol::client::Request;
use protocol::ecs::{ClusterView, HostPort, Member, PutPart, Register};
use protocol::Limits;

use crate::codec::{put_bytes, put_host_port, Corrupt, Cursor};

/// A state change of a replica group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GroupCommand {
    /// A client's write (or a read, once reads go through the log).
    Client(Request),
    /// `write_lock`: refuse client writes until released.
    WriteLock,
    /// `release_lock`: accept writes again and drop a range that was handed off.
    ReleaseLock,
    /// `next_addr`: the member that follows this group on the ring.
    SetNext(HostPort),
    /// `transfer_range`: start sending `[next, end)` to the next member.
    BeginTransfer {
        /// The member whose position ends the range.
        end: HostPort,
        /// Names this transfer's `ecs_put` parts.
        transfer_id: u64,
        /// Longest `ecs_put` line, fixed for the transfer so every resend cuts the same
        /// parts.
        part_size: u32,
    },
    /// `hand_over` (a removal): start sending `[to, end)` to `to`, which takes this
    /// group's range over as it leaves the ring. Like `BeginTransfer` but with the
    /// receiver named, since the leaving group's own successor does not change.
    HandOver {
        /// The member receiving the range.
        to: HostPort,
        /// The member whose position ends the range.
        end: HostPort,
        /// Names this transfer's `ecs_put` parts.
        transfer_id: u64,
        /// Longest `ecs_put` line, fixed for the transfer.
        part_size: u32,
    },
    /// Every part of transfer `transfer_id` was acknowledged; stop serving that range.
    /// Refused unless it is the group's current transfer: a sender whose transfer was
    /// called off (and replaced by a later join's) must not finish the new one. `None`
    /// only in logs written before transfers were named (it finishes the current one).
    FinishTransfer {
        /// The transfer finished.
        transfer_id: Option<u64>,
    },
    /// The receiver acknowledged every part of transfer `transfer_id` before `parts`: a
    /// new leader of the sending group resumes from there instead of from part 0.
    PartsAcked {
        /// The transfer.
        transfer_id: u64,
        /// Parts `0..parts` are durable at the receiver.
        parts: u32,
    },
    /// `ecs_put`: items received from the previous owner, durable once applied.
    ReceivePart(PutPart),
    /// `broadcast_node`: a member joined the ring.
    AddMember(HostPort),
    /// `cluster_view`: the ring and the node table.
    SetView(ClusterView),
    /// `group_members`: the nodes of another group (the receiver of a hand-off).
    LearnGroup(Register),
    /// A command of the ECS's join `join` (a request tagged `join=<n>`): applied only if
    /// that join is not older than, or closed before, the one the group is in.
    ForJoin {
        /// The ECS's join number.
        join: u64,
        /// The command (never itself a `ForJoin`).
        command: Box<GroupCommand>,
    },
}

mod marker {
    pub const CLIENT: u8 = b'C';
    pub const WRITE_LOCK: u8 = b'L';
    pub const RELEASE_LOCK: u8 = b'U';
    pub const SET_NEXT: u8 = b'N';
    pub const BEGIN_TRANSFER: u8 = b'T';
    pub const HAND_OVER: u8 = b'H';
    /// The current transfer finished (written before transfers were named; still read).
    pub const FINISH_TRANSFER: u8 = b'F';
    /// A named transfer finished.
    pub const FINISH_TRANSFER_OF: u8 = b'f';
    /// A part without session entries (written before sessions moved with their keys;
    /// still read).
    pub const RECEIVE_PART: u8 = b'P';
    /// A part with its session entries.
    pub const RECEIVE_PART_WITH_SESSIONS: u8 = b'Q';
    pub const FOR_JOIN: u8 = b'J';
    pub const PARTS_ACKED: u8 = b'K';
    pub const ADD_MEMBER: u8 = b'B';
    pub const SET_VIEW: u8 = b'V';
    pub const LEARN_GROUP: u8 = b'G';
}

impl GroupCommand {
    /// Appends the command's stored form.
    pub fn encode(&self, out: &mut BytesMut) {
        match self {
            GroupCommand::ForJoin { join, command } => {
                out.put_u8(marker::FOR_JOIN);
                out.put_u64(*join);
                command.encode(out);
            }
            GroupCommand::Client(req) => {
                out.put_u8(marker::CLIENT);
                req.encode(out);
            }
            GroupCommand::WriteLock => out.put_u8(marker::WRITE_LOCK),
            GroupCommand::ReleaseLock => out.put_u8(marker::RELEASE_LOCK),
            GroupCommand::SetNext(a) => {
                out.put_u8(marker::SET_NEXT);
                put_host_port(out, a);
            }
            GroupCommand::BeginTransfer {
                end,
                transfer_id,
                part_size,
            } => {
                out.put_u8(marker::BEGIN_TRANSFER);
                put_host_port(out, end);
                out.put_u64(*transfer_id);
                out.put_u32(*part_size);
            }
            GroupCommand::HandOver {
                to,
                end,
                transfer_id,
                part_size,
            } => {
                out.put_u8(marker::HAND_OVER);
                put_host_port(out, to);
                put_host_port(out, end);
                out.put_u64(*transfer_id);
                out.put_u32(*part_size);
            }
            GroupCommand::FinishTransfer { transfer_id: None } => {
                out.put_u8(marker::FINISH_TRANSFER)
            }
            GroupCommand::FinishTransfer {
                transfer_id: Some(id),
            } => {
                out.put_u8(marker::FINISH_TRANSFER_OF);
                out.put_u64(*id);
            }
            GroupCommand::PartsAcked { transfer_id, parts } => {
                out.put_u8(marker::PARTS_ACKED);
                out.put_u64(*transfer_id);
                out.put_u32(*parts);
            }
            GroupCommand::ReceivePart(part) => {
                out.put_u8(marker::RECEIVE_PART_WITH_SESSIONS);
                out.put_u64(part.transfer_id);
                out.put_u32(part.part);
                out.put_u32(part.items.len() as u32);
                for item in &part.items {
                    put_bytes(out, &item.key);
                    put_bytes(out, &item.value);
                }
                out.put_u32(part.sessions.len() as u32);
                for entry in &part.sessions {
                    out.put_u64(entry.client_id);
                    out.put_u64(entry.sequence);
                    put_bytes(out, &entry.key);
                    put_bytes(out, &entry.answer);
                }
            }
            GroupCommand::AddMember(a) => {
                out.put_u8(marker::ADD_MEMBER);
                put_host_port(out, a);
            }
            GroupCommand::LearnGroup(group) => {
                out.put_u8(marker::LEARN_GROUP);
                put_host_port(out, &group.ring);
                out.put_u32(group.members.len() as u32);
                for m in &group.members {
                    put_host_port(out, &m.admin);
                    put_host_port(out, &m.client);
                }
            }
            GroupCommand::SetView(view) => {
                out.put_u8(marker::SET_VIEW);
                out.put_u64(view.version);
                out.put_u32(view.nodes.len() as u32);
                for n in &view.nodes {
                    out.put_u32(n.id);
                    put_host_port(out, &n.ring);
                    put_host_port(out, &n.admin);
                    put_host_port(out, &n.client);
                }
            }
        }
    }

    /// Decodes a stored command.
    pub fn decode(bytes: &[u8]) -> Result<GroupCommand, Corrupt> {
        let mut c = Cursor::new(bytes);
        let cmd = match c.u8("command marker")? {
            marker::FOR_JOIN => {
                let join = c.u64("join")?;
                let command = GroupCommand::decode(c.rest())?;
                if matches!(command, GroupCommand::ForJoin { .. }) {
                    return Err(Corrupt("a join's command inside another".into()));
                }
                return Ok(GroupCommand::ForJoin {
                    join,
                    command: Box::new(command),
                });
            }
            marker::CLIENT => {
                let body = c.rest();
                let req = Request::decode(body, &Limits::DEFAULT)
                    .map_err(|e| Corrupt(format!("client request: {e}")))?;
                GroupCommand::Client(req)
            }
            marker::WRITE_LOCK => GroupCommand::WriteLock,
            marker::RELEASE_LOCK => GroupCommand::ReleaseLock,
            marker::SET_NEXT => GroupCommand::SetNext(c.host_port("next")?),
            marker::BEGIN_TRANSFER => GroupCommand::BeginTransfer {
                end: c.host_port("end")?,
                transfer_id: c.u64("transfer id")?,
                part_size: c.u32("part size")?,
            },
            marker::HAND_OVER => GroupCommand::HandOver {
                to: c.host_port("receiver")?,
                end: c.host_port("end")?,
                transfer_id: c.u64("transfer id")?,
                part_size: c.u32("part size")?,
            },
            marker::FINISH_TRANSFER => GroupCommand::FinishTransfer { transfer_id: None },
            marker::FINISH_TRANSFER_OF => GroupCommand::FinishTransfer {
                transfer_id: Some(c.u64("transfer id")?),
            },
            marker::PARTS_ACKED => GroupCommand::PartsAcked {
                transfer_id: c.u64("transfer id")?,
                parts: c.u32("parts acknowledged")?,
            },
            m @ (marker::RECEIVE_PART | marker::RECEIVE_PART_WITH_SESSIONS) => {
                let transfer_id = c.u64("transfer id")?;
                let part = c.u32("part")?;
                let count = c.u32("item count")?;
                let mut items = Vec::new();
                for _ in 0..count {
                    items.push(protocol::ecs::Item {
                        key: c.bytes("key")?,
                        value: c.bytes("value")?,
                    });
                }
                let mut sessions = Vec::new();
                if m == marker::RECEIVE_PART_WITH_SESSIONS {
                    for _ in 0..c.u32("session count")? {
                        sessions.push(protocol::ecs::SessionEntry {
                            client_id: c.u64("session client id")?,
                            sequence: c.u64("session sequence")?,
                            key: c.bytes("session key")?,
                            answer: c.bytes("session answer")?,
                        });
                    }
                }
                GroupCommand::ReceivePart(PutPart {
                    transfer_id,
                    part,
                    items,
                    sessions,
                })
            }
            marker::ADD_MEMBER => GroupCommand::AddMember(c.host_port("member")?),
            marker::LEARN_GROUP => {
                let ring = c.host_port("group ring")?;
                let count = c.u32("member count")?;
                let mut members = Vec::new();
                for _ in 0..count {
                    members.push(Member {
                        admin: c.host_port("member admin")?,
                        client: c.host_port("member client")?,
                    });
                }
                GroupCommand::LearnGroup(Register { ring, members })
            }
            marker::SET_VIEW => {
                let version = c.u64("view version")?;
                let count = c.u32("node count")?;
                let mut nodes = Vec::new();
                for _ in 0..count {
                    nodes.push(protocol::ecs::NodeEntry {
                        id: c.u32("node id")?,
                        ring: c.host_port("ring")?,
                        admin: c.host_port("admin")?,
                        client: c.host_port("client")?,
                    });
                }
                GroupCommand::SetView(ClusterView { version, nodes })
            }
            other => return Err(Corrupt(format!("unknown command marker {other:#04x}"))),
        };
        c.finish("command")?;
        Ok(cmd)
    }
}
