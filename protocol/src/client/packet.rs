//! The ten packets of `client-protocol.ru.md`, byte for byte, and the group-info pair
//! ('I'/'i', an extension for inspection tools).

use bytes::{BufMut, Bytes, BytesMut};

use crate::wire::{finish_frame, put_bool, put_buffer, put_len, put_string, Reader, Step};
use crate::{DecodeError, Limits};

/// Authorization methods carried by 'A'. The seed defines only 'N'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// `Byte('N')`: no authorization, no body.
    None,
    /// Any other AuthType byte (never `N`). The seed lets each method carry Data of its
    /// own shape, so the Data of a method we do not know cannot be delimited: the packet
    /// decodes as the marker and this byte only, and whatever follows is left unread. A
    /// receiver answers it with a failed 'a' (the seed's answer to a failed authorization)
    /// and closes the connection, which the seed asks for anyway.
    Unsupported(u8),
}

impl AuthMethod {
    const NONE: u8 = b'N';
}

/// The result carried by 'a' and 'b': success alone, or failure with a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `Bool(true)` and nothing else: the seed says the Reason is absent on success.
    Accepted,
    /// `Bool(false)` then `String` reason.
    Rejected(String),
}

/// One client-protocol packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// 'C' Command Request: a serialized store command (see [`super::Request`]).
    CommandRequest(Bytes),
    /// 'c' Command Response: the answer to the command (see [`super::Response`]).
    CommandResponse(Bytes),
    /// 'e' ErrorResponse: a description of an error.
    ErrorResponse(String),
    /// 'l' NotLeader: resend to the node with this id; -1 when no leader is known.
    NotLeader(i32),
    /// 'A' AuthorizationRequest.
    AuthorizationRequest(AuthMethod),
    /// 'a' AuthorizationResponse.
    AuthorizationResponse(Outcome),
    /// 'B' BootstrapRequest: the client's semantic version.
    BootstrapRequest {
        /// Major version.
        major: i32,
        /// Minor version.
        minor: i32,
        /// Patch version.
        patch: i32,
    },
    /// 'b' BootstrapResponse.
    BootstrapResponse(Outcome),
    /// 'M' ClusterMetadataRequest.
    ClusterMetadataRequest,
    /// 'm' ClusterMetadataResponse.
    ClusterMetadataResponse {
        /// Client addresses of every node, indexed by node id.
        addresses: Vec<String>,
        /// Id of the answering node's group leader, -1 if none is known.
        leader_id: i32,
        /// Id of the answering node.
        current_node_id: i32,
    },
    /// 'I' GroupInfoRequest (**extension**): what the answering node knows of its group
    /// and of the ring.
    GroupInfoRequest,
    /// 'i' GroupInfoResponse (**extension**).
    GroupInfoResponse(GroupInfo),
}

/// The answer to 'I': the answering node's group as it sees it, and the cluster view it
/// holds. Fields in wire order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupInfo {
    /// String: the group's ring address (`host:port`).
    pub ring: String,
    /// Bool: the group is on the ring and serving its range.
    pub on_ring: bool,
    /// Int32: the group's leader as a node id (the view's numbering), -1 if unknown.
    pub leader_id: i32,
    /// Int64: the Raft term the node is in.
    pub term: u64,
    /// Bool: the group is write-locked for a range hand-off.
    pub locked: bool,
    /// String: the ring address of the group it is handing a range to, empty if none.
    pub handing_off_to: String,
    /// Int64: the version of the cluster view below (0: none yet).
    pub view_version: u64,
    /// Array of (Int32 id, String ring address, String client address): every node of
    /// the view, by id.
    pub nodes: Vec<ViewNode>,
}

/// One node of [`GroupInfo::nodes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewNode {
    /// The node's id, as in 'm' and 'l'.
    pub id: i32,
    /// Its group's ring address.
    pub ring: String,
    /// Where clients reach it.
    pub client: String,
}

mod marker {
    pub const COMMAND_REQUEST: u8 = b'C';
    pub const COMMAND_RESPONSE: u8 = b'c';
    pub const ERROR_RESPONSE: u8 = b'e';
    pub const NOT_LEADER: u8 = b'l';
    pub const AUTH_REQUEST: u8 = b'A';
    pub const AUTH_RESPONSE: u8 = b'a';
    pub const BOOTSTRAP_REQUEST: u8 = b'B';
    pub const BOOTSTRAP_RESPONSE: u8 = b'b';
    pub const METADATA_REQUEST: u8 = b'M';
    pub const METADATA_RESPONSE: u8 = b'm';
    pub const GROUP_INFO_REQUEST: u8 = b'I';
    pub const GROUP_INFO_RESPONSE: u8 = b'i';
}

impl Packet {
    /// The packet's marker byte.
    pub fn marker(&self) -> u8 {
        match self {
            Packet::CommandRequest(_) => marker::COMMAND_REQUEST,
            Packet::CommandResponse(_) => marker::COMMAND_RESPONSE,
            Packet::ErrorResponse(_) => marker::ERROR_RESPONSE,
            Packet::NotLeader(_) => marker::NOT_LEADER,
            Packet::AuthorizationRequest(_) => marker::AUTH_REQUEST,
            Packet::AuthorizationResponse(_) => marker::AUTH_RESPONSE,
            Packet::BootstrapRequest { .. } => marker::BOOTSTRAP_REQUEST,
            Packet::BootstrapResponse(_) => marker::BOOTSTRAP_RESPONSE,
            Packet::ClusterMetadataRequest => marker::METADATA_REQUEST,
            Packet::ClusterMetadataResponse { .. } => marker::METADATA_RESPONSE,
            Packet::GroupInfoRequest => marker::GROUP_INFO_REQUEST,
            Packet::GroupInfoResponse(_) => marker::GROUP_INFO_RESPONSE,
        }
    }

    /// Appends the packet's bytes to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        out.put_u8(self.marker());
        match self {
            Packet::CommandRequest(body) | Packet::CommandResponse(body) => put_buffer(out, body),
            Packet::ErrorResponse(message) => put_string(out, message),
            Packet::NotLeader(id) => out.put_i32(*id),
            Packet::AuthorizationRequest(AuthMethod::None) => out.put_u8(AuthMethod::NONE),
            Packet::AuthorizationRequest(AuthMethod::Unsupported(kind)) => out.put_u8(*kind),
            Packet::AuthorizationResponse(outcome) | Packet::BootstrapResponse(outcome) => {
                match outcome {
                    Outcome::Accepted => put_bool(out, true),
                    Outcome::Rejected(reason) => {
                        put_bool(out, false);
                        put_string(out, reason);
                    }
                }
            }
            Packet::BootstrapRequest {
                major,
                minor,
                patch,
            } => {
                out.put_i32(*major);
                out.put_i32(*minor);
                out.put_i32(*patch);
            }
            Packet::ClusterMetadataRequest => {}
            Packet::ClusterMetadataResponse {
                addresses,
                leader_id,
                current_node_id,
            } => {
                put_len(out, addresses.len());
                for a in addresses {
                    put_string(out, a);
                }
                out.put_i32(*leader_id);
                out.put_i32(*current_node_id);
            }
            Packet::GroupInfoRequest => {}
            Packet::GroupInfoResponse(info) => {
                put_string(out, &info.ring);
                put_bool(out, info.on_ring);
                out.put_i32(info.leader_id);
                out.put_u64(info.term);
                put_bool(out, info.locked);
                put_string(out, &info.handing_off_to);
                out.put_u64(info.view_version);
                put_len(out, info.nodes.len());
                for n in &info.nodes {
                    out.put_i32(n.id);
                    put_string(out, &n.ring);
                    put_string(out, &n.client);
                }
            }
        }
    }

    /// The packet's bytes as a fresh buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::new();
        self.encode(&mut out);
        out.freeze()
    }

    /// Decodes one packet from the front of `buf`.
    ///
    /// `Ok(None)`: `buf` holds only the start of a packet; read more and call again.
    /// `Ok(Some((packet, used)))`: the first `used` bytes were one packet.
    /// `Err`: the bytes can never form a packet; close the connection.
    pub fn decode(buf: &[u8], limits: &Limits) -> Result<Option<(Packet, usize)>, DecodeError> {
        let mut r = Reader::streaming(buf, limits);
        finish_frame(decode_packet(&mut r).map(|p| (p, r.position())))
    }
}

fn decode_packet(r: &mut Reader<'_>) -> Step<Packet> {
    let packet = match r.u8()? {
        marker::COMMAND_REQUEST => Packet::CommandRequest(r.buffer("command body")?),
        marker::COMMAND_RESPONSE => Packet::CommandResponse(r.buffer("response body")?),
        marker::ERROR_RESPONSE => Packet::ErrorResponse(r.string("error message")?),
        marker::NOT_LEADER => Packet::NotLeader(r.i32()?),
        marker::AUTH_REQUEST => Packet::AuthorizationRequest(match r.u8()? {
            AuthMethod::NONE => AuthMethod::None,
            other => AuthMethod::Unsupported(other),
        }),
        marker::AUTH_RESPONSE => Packet::AuthorizationResponse(decode_outcome(r)?),
        marker::BOOTSTRAP_REQUEST => Packet::BootstrapRequest {
            major: r.i32()?,
            minor: r.i32()?,
            patch: r.i32()?,
        },
        marker::BOOTSTRAP_RESPONSE => Packet::BootstrapResponse(decode_outcome(r)?),
        marker::METADATA_REQUEST => Packet::ClusterMetadataRequest,
        marker::METADATA_RESPONSE => Packet::ClusterMetadataResponse {
            addresses: r.array("address list", |r| r.string("address"))?,
            leader_id: r.i32()?,
            current_node_id: r.i32()?,
        },
        marker::GROUP_INFO_REQUEST => Packet::GroupInfoRequest,
        marker::GROUP_INFO_RESPONSE => Packet::GroupInfoResponse(GroupInfo {
            ring: r.string("ring address")?,
            on_ring: r.bool()?,
            leader_id: r.i32()?,
            term: r.u64()?,
            locked: r.bool()?,
            handing_off_to: r.string("hand-off target")?,
            view_version: r.u64()?,
            nodes: r.array("view nodes", |r| {
                Ok(ViewNode {
                    id: r.i32()?,
                    ring: r.string("ring address")?,
                    client: r.string("client address")?,
                })
            })?,
        }),
        other => return Err(DecodeError::UnknownMarker(other).into()),
    };
    Ok(packet)
}

fn decode_outcome(r: &mut Reader<'_>) -> Step<Outcome> {
    if r.bool()? {
        Ok(Outcome::Accepted)
    } else {
        Ok(Outcome::Rejected(r.string("reason")?))
    }
}
