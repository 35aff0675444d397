//! The stored form of a whole [`GroupState`], written when the log is compacted.

use bytes::{BufMut, Bytes, BytesMut};
use protocol::ecs::HostPort;

use super::command::GroupCommand;
use super::session::Session;
use super::state::{GroupState, Transfer};
use crate::codec::{put_bytes, put_host_port, Corrupt, Cursor};
use crate::ring::{member_position, Arc};

const FORMAT_VERSION: u8 = 6;
/// The format before session entries kept answers without values; still read.
const WHOLE_ANSWERS_VERSION: u8 = 5;
/// The format before joins were numbered; still read.
const UNNUMBERED_JOINS_VERSION: u8 = 4;
/// The format before session entries recorded their key; still read.
const KEYLESS_SESSIONS_VERSION: u8 = 3;

/// Encodes `state` as of log index `applied`.
pub fn encode(state: &GroupState, applied: u64) -> BytesMut {
    let mut out = BytesMut::new();
    out.put_u8(FORMAT_VERSION);
    out.put_u64(applied);
    out.put_u64(state.kv.len() as u64);
    for (k, v) in &state.kv {
        put_bytes(&mut out, k);
        put_bytes(&mut out, v);
    }
    out.put_u8(u8::from(state.locked));
    put_optional_addr(&mut out, state.next.as_ref());
    match &state.transfer {
        None => out.put_u8(0),
        Some(t) => {
            out.put_u8(1);
            put_host_port(&mut out, &t.target);
            put_host_port(&mut out, &t.end);
            out.put_u64(t.transfer_id);
            out.put_u32(t.part_size as u32);
            out.put_u8(u8::from(t.finished));
        }
    }
    out.put_u32(state.received.len() as u32);
    for (id, parts) in &state.received {
        out.put_u64(*id);
        out.put_u32(parts.len() as u32);
        for p in parts {
            out.put_u32(*p);
        }
    }
    out.put_u32(state.ring.len() as u32);
    for m in state.ring.members() {
        put_host_port(&mut out, m);
    }
    match &state.view {
        None => out.put_u8(0),
        Some(v) => {
            out.put_u8(1);
            let mut cmd = BytesMut::new();
            GroupCommand::SetView(v.clone()).encode(&mut cmd);
            put_bytes(&mut out, &cmd);
        }
    }
    out.put_u32(state.groups.len() as u32);
    for (ring, admins) in &state.groups {
        put_host_port(&mut out, ring);
        out.put_u32(admins.len() as u32);
        for a in admins {
            put_host_port(&mut out, a);
        }
    }
    out.put_u32(state.sessions.len() as u32);
    // Oldest first: reading them back in order rebuilds which session is dropped next.
    for (client, session) in state.sessions.iter_by_use() {
        out.put_u64(client);
        out.put_u64(session.sequence);
        put_bytes(&mut out, &session.answer_bytes());
        put_bytes(&mut out, &session.key);
    }
    out.put_u64(state.join);
    out.put_u8(u8::from(state.join_closed));
    // 0: no transfer, or one of no numbered join (join numbers start at 1).
    out.put_u64(state.transfer.as_ref().and_then(|t| t.join).unwrap_or(0));
    out.put_u32(state.transfer.as_ref().map_or(0, |t| t.acked));
    out
}

/// Decodes a snapshot into the state of the group at `own` and its log index.
pub fn decode(own: HostPort, bytes: &[u8]) -> Result<(GroupState, u64), Corrupt> {
    let mut c = Cursor::new(bytes);
    let version = c.u8("format version")?;
    if ![
        FORMAT_VERSION,
        WHOLE_ANSWERS_VERSION,
        UNNUMBERED_JOINS_VERSION,
        KEYLESS_SESSIONS_VERSION,
    ]
    .contains(&version)
    {
        return Err(Corrupt(format!("unknown snapshot format {version}")));
    }
    let applied = c.u64("applied index")?;
    let mut state = GroupState::new(own);
    for _ in 0..c.u64("key count")? {
        let k = c.bytes("key")?;
        let v = c.bytes("value")?;
        state.kv.insert(k, v);
    }
    state.locked = c.u8("locked")? != 0;
    state.next = optional_addr(&mut c, "next")?;
    if c.u8("transfer flag")? != 0 {
        let target = c.host_port("transfer target")?;
        let end = c.host_port("transfer end")?;
        state.transfer = Some(Transfer {
            arc: Arc {
                start: member_position(&target),
                end: member_position(&end),
            },
            target,
            end,
            transfer_id: c.u64("transfer id")?,
            part_size: c.u32("part size")? as usize,
            finished: c.u8("transfer finished")? != 0,
            acked: 0,
            join: None,
        });
    }
    for _ in 0..c.u32("received count")? {
        let id = c.u64("transfer id")?;
        let parts = state.received.entry(id).or_default();
        for _ in 0..c.u32("part count")? {
            parts.insert(c.u32("part")?);
        }
    }
    for _ in 0..c.u32("ring size")? {
        state.ring.insert(c.host_port("ring member")?);
    }
    if c.u8("view flag")? != 0 {
        match GroupCommand::decode(&c.bytes("view")?)? {
            GroupCommand::SetView(v) => state.view = Some(v),
            other => return Err(Corrupt(format!("view slot holds {other:?}"))),
        }
    }
    for _ in 0..c.u32("group count")? {
        let ring = c.host_port("group ring")?;
        let mut admins = Vec::new();
        for _ in 0..c.u32("group size")? {
            admins.push(c.host_port("group member")?);
        }
        state.groups.insert(ring, admins);
    }
    for _ in 0..c.u32("session count")? {
        let client = c.u64("client id")?;
        let seq = c.u64("sequence")?;
        let answer = c.bytes("answer")?;
        // Sessions of the oldest format name no key: read as the empty key's.
        let key = if version == KEYLESS_SESSIONS_VERSION {
            Bytes::new()
        } else {
            c.bytes("session key")?
        };
        state
            .sessions
            .record(client, Session::from_stored(seq, key, &answer));
    }
    if version >= WHOLE_ANSWERS_VERSION {
        state.join = c.u64("join")?;
        state.join_closed = c.u8("join closed")? != 0;
        let transfer_join = c.u64("transfer join")?;
        let acked = c.u32("parts acknowledged")?;
        if let Some(t) = state.transfer.as_mut() {
            t.join = (transfer_join != 0).then_some(transfer_join);
            t.acked = acked;
        }
    }
    c.finish("snapshot")?;
    Ok((state, applied))
}

fn put_optional_addr(out: &mut BytesMut, a: Option<&HostPort>) {
    match a {
        None => out.put_u8(0),
        Some(a) => {
            out.put_u8(1);
            put_host_port(out, a);
        }
    }
}

fn optional_addr(c: &mut Cursor<'_>, what: &str) -> Result<Option<HostPort>, Corrupt> {
    if c.u8(what)? != 0 {
        Ok(Some(c.host_port(what)?))
    } else {
        Ok(None)
    }
}
