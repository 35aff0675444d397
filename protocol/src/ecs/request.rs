//! [`Request`]: every line sent to a node or to the ECS, each answered by one
//! [`Reply`](super::Reply). Parsing is tolerant of hand-typed lines; `Display` writes the
//! one canonical form.

use std::fmt;

use bytes::BytesMut;

use super::addr::HostPort;
use super::cluster::{ClusterView, Member, NodeEntry, Register};
use super::error::{snippet, ParseError};
use super::items::{fmt_put, Item, PutPart, SessionEntry, ECS_PUT};
use super::line::{Args, Tokens};

/// Longest keyword of any request or reply; longer first words are unknown without
/// looking further.
pub(crate) const MAX_KEYWORD_LEN: usize = 16;

/// A line sent to a node or to the ECS. Each is answered by one [`Reply`](super::Reply).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Request {
    /// `write_lock` (ECS -> group): refuse client writes until `release_lock`.
    WriteLock,
    /// `release_lock` (ECS -> group): accept writes again; drop the keys moved away.
    ReleaseLock,
    /// `next_addr <address> <port>` (ECS -> group): this is your successor on the ring.
    NextAddr(HostPort),
    /// `transfer_range <address> <port>` (ECS -> group): send the new successor (named by
    /// the last `next_addr`) every item whose hash lies between that successor's position
    /// and this address's position.
    TransferRange(HostPort),
    /// `ecs_put <transfer_id> <part> <item>...` (group -> group): one part of a transfer.
    EcsPut(PutPart),
    /// `done` or `done <address> <port>` (group -> ECS): the transfer is complete. The
    /// optional address is the sender's ring address (extension).
    Done(Option<HostPort>),
    /// `broadcast_node <address> <port>` (ECS -> every group): a group joined the ring at
    /// this address.
    BroadcastNode(HostPort),
    /// `register <address> <port> [<member>...]` (new group -> ECS): admit this group to
    /// the ring (extension: the seed names the message but not its words).
    Register(Register),
    /// `cluster_view <version> <node>...` (ECS -> every node; extension): the whole
    /// cluster, with the global node ids of the client protocol.
    ClusterView(ClusterView),
    /// `group_members <address> <port> <member>...` (ECS -> the predecessor before
    /// `transfer_range`; extension): the nodes of the group at that ring address, so the
    /// sender can reach the receiving group's leader even when its first member is down.
    /// Same words as `register`.
    GroupMembers(Register),
    /// `abort_join` (operator -> ECS; extension): abandon the join in progress: unlock the
    /// predecessor, which keeps its range, and go on with the next queued group. A join
    /// that has already announced the new ring is not abandoned.
    AbortJoin,
    /// `remove_group <address> <port>` (operator -> ECS; extension): take the group at
    /// this ring address off the ring, handing its range to the member before it. Queued
    /// behind the join or removal in progress; refused for the last member, a group not
    /// on the ring, or one already queued for removal.
    RemoveGroup(HostPort),
    /// `hand_over <receiver address> <port> <end address> <port>` (ECS -> the group
    /// leaving the ring, after `write_lock`; extension): send the receiver, with
    /// `ecs_put`, every item whose hash lies between the receiver's position and the end's
    /// (the leaving group's whole range, which ends where the end's begins), then report
    /// `done`. `transfer_range` for a removal: the leaving group's own `next_addr` stays.
    HandOver {
        /// The member taking the range over (the leaving group's predecessor).
        to: HostPort,
        /// The member whose position ends the range (the leaving group's successor).
        end: HostPort,
    },
    /// `progress <acked> <total> join=<n>` (the sending group's leader -> ECS, during a
    /// hand-off; extension): `acked` of the transfer's `total` parts are durable at the
    /// receiver. A join whose hand-off keeps moving is not abandoned at its deadline: the
    /// ECS counts the deadline from the last progress it heard.
    Progress {
        /// Parts the receiver has acknowledged so far.
        acked: u32,
        /// Every part of the transfer.
        total: u32,
    },
    /// `status` (operator -> ECS; extension): what the ECS is doing, answered with
    /// [`Reply::Status`](super::Reply::Status).
    Status,
    /// Any request followed by `join=<number>` (extension): it belongs to the ECS's join
    /// with that number. A group records the join it is in and refuses, without effect,
    /// a request of an older or finished join, so a line delayed on the wire or resent
    /// after a timeout cannot lock, unlock, re-point or finish anything of a later join.
    /// The same line without the tag is the request of the current join (for hand use).
    ForJoin {
        /// The ECS's join number.
        join: u64,
        /// The request (never itself a `ForJoin`).
        request: Box<Request>,
    },
}

/// The word that tags a request with its join: `join=<number>`, the line's last word.
const JOIN_TAG: &str = "join=";

/// Splits a trailing `join=<number>` word off `line`: the rest of the line and the number.
fn split_join_tag(line: &str) -> Option<(&str, u64)> {
    let trimmed = line.trim_end();
    let start = trimmed.rfind([' ', '\t']).map_or(0, |i| i + 1);
    let word = &trimmed[start..];
    let digits = word
        .get(..JOIN_TAG.len())?
        .eq_ignore_ascii_case(JOIN_TAG)
        .then(|| &word[JOIN_TAG.len()..])?;
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    let join = digits.parse().ok().filter(|_| canonical)?;
    Some((&trimmed[..start], join))
}

impl Request {
    /// The join this request names (`None`: untagged, the current join) and the request
    /// itself.
    pub fn untagged(&self) -> (Option<u64>, &Request) {
        match self {
            Request::ForJoin { join, request } => (Some(*join), request),
            other => (None, other),
        }
    }

    /// This request tagged with join `join` (replacing any tag it had).
    pub fn for_join(self, join: u64) -> Request {
        let request = match self {
            Request::ForJoin { request, .. } => request,
            other => Box::new(other),
        };
        Request::ForJoin { join, request }
    }

    /// Parses one line (with or without its `\n` / `\r\n`).
    ///
    /// Whitespace around the line and runs of spaces or tabs between words are ignored,
    /// and the keyword may be in any ASCII case. Every error is a typed [`ParseError`].
    pub fn parse(line: &str) -> Result<Request, ParseError> {
        if let Some((rest, join)) = split_join_tag(line) {
            return Ok(Request::parse_untagged(rest)?.for_join(join));
        }
        Request::parse_untagged(line)
    }

    fn parse_untagged(line: &str) -> Result<Request, ParseError> {
        let mut tokens = Tokens::new(line);
        let keyword = tokens.next().ok_or(ParseError::Empty)?;
        let lower = if keyword.len() <= MAX_KEYWORD_LEN {
            keyword.to_ascii_lowercase()
        } else {
            String::new()
        };
        let request = match lower.as_str() {
            "write_lock" => {
                Args::new("write_lock", tokens).finish()?;
                Request::WriteLock
            }
            "release_lock" => {
                Args::new("release_lock", tokens).finish()?;
                Request::ReleaseLock
            }
            "abort_join" => {
                Args::new("abort_join", tokens).finish()?;
                Request::AbortJoin
            }
            "status" => {
                Args::new("status", tokens).finish()?;
                Request::Status
            }
            "remove_group" => Request::RemoveGroup(one_address("remove_group", tokens)?),
            "progress" => {
                let mut args = Args::new("progress", tokens);
                let acked = args.number("acked", 32)?;
                let total = args.number("total", 32)?;
                args.finish()?;
                Request::Progress { acked, total }
            }
            "hand_over" => {
                let mut args = Args::new("hand_over", tokens);
                let to = args.host_port()?;
                let end = args.host_port()?;
                args.finish()?;
                Request::HandOver { to, end }
            }
            "next_addr" => Request::NextAddr(one_address("next_addr", tokens)?),
            "transfer_range" => Request::TransferRange(one_address("transfer_range", tokens)?),
            "broadcast_node" => Request::BroadcastNode(one_address("broadcast_node", tokens)?),
            "ecs_put" => Request::EcsPut(parse_put(tokens)?),
            "done" => {
                let mut args = Args::new("done", tokens);
                let ring = match args.optional() {
                    None => None,
                    Some(host) => Some(args.host_port_after(host)?),
                };
                args.finish()?;
                Request::Done(ring)
            }
            "register" => Request::Register(parse_group("register", tokens)?),
            "group_members" => Request::GroupMembers(parse_group("group_members", tokens)?),
            "cluster_view" => Request::ClusterView(parse_view(tokens)?),
            _ => {
                return Err(ParseError::UnknownCommand {
                    token: snippet(keyword),
                })
            }
        };
        Ok(request)
    }

    /// The canonical line, without terminator: lowercase keyword, single spaces.
    pub fn to_line(&self) -> String {
        self.to_string()
    }

    /// Appends the canonical line and its `\n` terminator to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        use std::fmt::Write as _;
        // Writing into a BytesMut cannot fail: it grows as needed.
        let _ = writeln!(out, "{self}");
    }

    /// The request's keyword, as the canonical line starts (`"ecs_put"`).
    pub fn keyword(&self) -> &'static str {
        match self {
            Request::WriteLock => "write_lock",
            Request::ReleaseLock => "release_lock",
            Request::NextAddr(_) => "next_addr",
            Request::TransferRange(_) => "transfer_range",
            Request::EcsPut(_) => ECS_PUT,
            Request::Done(_) => "done",
            Request::BroadcastNode(_) => "broadcast_node",
            Request::Register(_) => "register",
            Request::ClusterView(_) => "cluster_view",
            Request::GroupMembers(_) => "group_members",
            Request::AbortJoin => "abort_join",
            Request::Status => "status",
            Request::RemoveGroup(_) => "remove_group",
            Request::HandOver { .. } => "hand_over",
            Request::Progress { .. } => "progress",
            Request::ForJoin { request, .. } => request.keyword(),
        }
    }
}

impl std::str::FromStr for Request {
    type Err = ParseError;

    /// Same as [`Request::parse`].
    fn from_str(line: &str) -> Result<Request, ParseError> {
        Request::parse(line)
    }
}

impl fmt::Display for Request {
    /// Writes the canonical line, without terminator.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keyword = self.keyword();
        match self {
            Request::WriteLock
            | Request::ReleaseLock
            | Request::AbortJoin
            | Request::Status
            | Request::Done(None) => f.write_str(keyword),
            Request::NextAddr(a)
            | Request::TransferRange(a)
            | Request::BroadcastNode(a)
            | Request::RemoveGroup(a)
            | Request::Done(Some(a)) => write!(f, "{keyword} {}", a.spaced()),
            Request::HandOver { to, end } => {
                write!(f, "{keyword} {} {}", to.spaced(), end.spaced())
            }
            Request::Progress { acked, total } => write!(f, "{keyword} {acked} {total}"),
            Request::EcsPut(part) => fmt_put(part, f),
            Request::Register(r) | Request::GroupMembers(r) => {
                write!(f, "{keyword} {}", r.ring.spaced())?;
                r.members.iter().try_for_each(|m| write!(f, " {m}"))
            }
            Request::ClusterView(v) => {
                write!(f, "{keyword} {}", v.version)?;
                v.nodes.iter().try_for_each(|n| write!(f, " {n}"))
            }
            Request::ForJoin { join, request } => write!(f, "{request} {JOIN_TAG}{join}"),
        }
    }
}

fn one_address(command: &'static str, tokens: Tokens<'_>) -> Result<HostPort, ParseError> {
    let mut args = Args::new(command, tokens);
    let address = args.host_port()?;
    args.finish()?;
    Ok(address)
}

/// One token after `ecs_put <transfer id> <part>`.
enum PutToken {
    Item(Item),
    Session(SessionEntry),
}

fn parse_put(tokens: Tokens<'_>) -> Result<PutPart, ParseError> {
    let mut args = Args::new(ECS_PUT, tokens);
    let transfer_id = args.number("transfer_id", 64)?;
    let part = args.number("part", 32)?;
    let tokens = args.rest_each(|index, token| {
        let bad = |reason| ParseError::BadItem {
            index,
            token: snippet(token),
            reason,
        };
        if SessionEntry::is_token(token) {
            SessionEntry::from_token(token)
                .map(PutToken::Session)
                .map_err(bad)
        } else {
            Item::from_token(token).map(PutToken::Item).map_err(bad)
        }
    })?;
    let mut put = PutPart {
        transfer_id,
        part,
        ..PutPart::default()
    };
    for token in tokens {
        match token {
            PutToken::Item(item) => put.items.push(item),
            PutToken::Session(entry) => put.sessions.push(entry),
        }
    }
    Ok(put)
}

fn parse_group(command: &'static str, tokens: Tokens<'_>) -> Result<Register, ParseError> {
    let mut args = Args::new(command, tokens);
    let ring = args.host_port()?;
    let members = args.rest_each(|index, token| {
        Member::from_token(token).map_err(|reason| ParseError::BadMember {
            index,
            token: snippet(token),
            reason,
        })
    })?;
    Ok(Register { ring, members })
}

fn parse_view(tokens: Tokens<'_>) -> Result<ClusterView, ParseError> {
    let mut args = Args::new("cluster_view", tokens);
    let version = args.number("version", 64)?;
    let nodes = args.rest_each(|index, token| {
        NodeEntry::from_token(token).map_err(|reason| ParseError::BadNode {
            index,
            token: snippet(token),
            reason,
        })
    })?;
    Ok(ClusterView { version, nodes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_match_the_canonical_line() {
        let a = HostPort::new("h", 1).unwrap();
        let all = [
            Request::WriteLock,
            Request::ReleaseLock,
            Request::NextAddr(a.clone()),
            Request::TransferRange(a.clone()),
            Request::EcsPut(PutPart::default()),
            Request::Done(None),
            Request::Done(Some(a.clone())),
            Request::BroadcastNode(a.clone()),
            Request::RemoveGroup(a.clone()),
            Request::Progress {
                acked: 3,
                total: 63,
            },
            Request::HandOver {
                to: a.clone(),
                end: HostPort::new("e", 2).unwrap(),
            },
            Request::Register(Register {
                ring: a,
                members: vec![],
            }),
            Request::ClusterView(ClusterView {
                version: 0,
                nodes: vec![],
            }),
        ];
        for r in all {
            assert!(r.keyword().len() <= MAX_KEYWORD_LEN);
            assert!(r.to_line().starts_with(r.keyword()));
            assert_eq!(Request::parse(&r.to_line()), Ok(r.clone()));
            let mut out = BytesMut::new();
            r.encode(&mut out);
            assert_eq!(&out[..], format!("{}\n", r.to_line()).as_bytes());
        }
    }
}
