//! `kv ring`, `kv owner` and the group column of `kv meta`: the ring as the nodes see it,
//! from the group-info extension ('I'/'i') of the client port.

use std::collections::BTreeMap;

use node::client::{Client, ClientError, GroupInfo};
use node::io::TokioNet;
use node::ring::{member_position, position_of, Position, Ring};
use protocol::ecs::HostPort;
use serde_json::{json, Value};

/// One group in ring order, with what its members said.
pub struct GroupRow {
    /// Its ring address.
    pub ring: String,
    /// The arc it owns, `[start, end)`.
    pub start: Position,
    /// End of the arc.
    pub end: Position,
    /// Its members' client addresses, by node id.
    pub members: Vec<(i32, String)>,
    /// Its leader's client address, from the member with the highest term.
    pub leader: Option<String>,
    /// That member's term.
    pub term: u64,
    /// "serving", "write-locked", "handing off to X", or why nobody answered.
    pub state: String,
}

/// The groups of `view` (an 'i' answer) in ring order.
fn groups_of(view: &GroupInfo) -> Vec<(HostPort, Vec<(i32, String)>)> {
    let mut by_ring: BTreeMap<String, Vec<(i32, String)>> = BTreeMap::new();
    for n in &view.nodes {
        by_ring
            .entry(n.ring.clone())
            .or_default()
            .push((n.id, n.client.clone()));
    }
    let mut groups: Vec<(HostPort, Vec<(i32, String)>)> = by_ring
        .into_iter()
        .filter_map(|(ring, members)| ring.parse::<HostPort>().ok().map(|hp| (hp, members)))
        .collect();
    groups.sort_by_key(|(hp, _)| member_position(hp));
    groups
}

/// Asks any node for the view, then every member of every group for its own state.
pub async fn ring(client: &mut Client<TokioNet>) -> Result<(Vec<GroupRow>, u64), ClientError> {
    let (view, _) = client.group_info().await?;
    let groups = groups_of(&view);
    let ring = Ring::new(groups.iter().map(|(hp, _)| hp.clone()));
    let mut rows = Vec::new();
    for (hp, members) in groups {
        let arc = ring
            .arc_of(&hp)
            .expect("a member of the ring it was built from");
        let mut best: Option<GroupInfo> = None;
        let mut failures = Vec::new();
        for (_, addr) in &members {
            match client.group_info_at(addr).await {
                Ok(info) if best.as_ref().is_none_or(|b| info.term > b.term) => best = Some(info),
                Ok(_) => {}
                Err(e) => failures.push(format!("{addr}: {e}")),
            }
        }
        let address_of = |id: i32| {
            view.nodes
                .iter()
                .find(|n| n.id == id)
                .map(|n| n.client.clone())
        };
        let (leader, term, state) = match &best {
            Some(info) => (
                address_of(info.leader_id),
                info.term,
                if !info.handing_off_to.is_empty() {
                    format!("handing off to {}", info.handing_off_to)
                } else if info.locked {
                    "write-locked".to_owned()
                } else if info.on_ring {
                    "serving".to_owned()
                } else {
                    "not on the ring yet".to_owned()
                },
            ),
            None => (
                None,
                0,
                format!("no member answered ({})", failures.join("; ")),
            ),
        };
        rows.push(GroupRow {
            ring: hp.to_string(),
            start: arc.start,
            end: arc.end,
            members,
            leader,
            term,
            state,
        });
    }
    Ok((rows, view.view_version))
}

/// The first 8 hex digits of a position: enough to tell arcs apart by eye.
fn short(p: Position) -> String {
    format!("{:08x}", p >> 96)
}

/// The rows as a table for people.
pub fn ring_table(rows: &[GroupRow], version: u64) -> String {
    let mut out = format!(
        "{:<22} {:<18} {:<5} {:<22} {:<5} {}\n",
        "GROUP", "RANGE", "NODES", "LEADER", "TERM", "STATE"
    );
    for r in rows {
        let members: Vec<String> = r.members.iter().map(|(id, _)| id.to_string()).collect();
        out.push_str(&format!(
            "{:<22} {}..{} {:<5} {:<22} {:<5} {}\n",
            r.ring,
            short(r.start),
            short(r.end),
            members.join(","),
            r.leader.as_deref().unwrap_or("none known"),
            r.term,
            r.state
        ));
    }
    if rows.is_empty() {
        out.push_str("(no group on the ring yet)\n");
    }
    let groups = match rows.len() {
        1 => "1 group".to_string(),
        n => format!("{n} groups"),
    };
    out.push_str(&format!(
        "{groups}, cluster view version {version}; RANGE is [start, end) of the 128-bit MD5 ring, first 8 hex digits"
    ));
    out
}

/// The rows as JSON for scripts (positions in full, as hex).
pub fn ring_json(rows: &[GroupRow], version: u64) -> Value {
    json!({
        "view_version": version,
        "groups": rows.iter().map(|r| json!({
            "ring": r.ring,
            "start": format!("{:032x}", r.start),
            "end": format!("{:032x}", r.end),
            "members": r.members.iter().map(|(id, client)| json!({"id": id, "client": client})).collect::<Vec<_>>(),
            "leader": r.leader,
            "term": r.term,
            "state": r.state,
        })).collect::<Vec<_>>(),
    })
}

/// The group owning a key, as `kv owner` prints it.
struct Owner {
    ring: String,
    start: Position,
    end: Position,
    /// (node id, client address).
    members: Vec<(i32, String)>,
}

/// The group that owns `key` in `view`.
fn owner(view: &GroupInfo, key: &[u8]) -> Option<Owner> {
    let groups = groups_of(view);
    let ring = Ring::new(groups.iter().map(|(hp, _)| hp.clone()));
    let owner = ring.owner_of_key(key)?.clone();
    let arc = ring.arc_of(&owner)?;
    let members = groups
        .into_iter()
        .find(|(hp, _)| *hp == owner)
        .map(|(_, m)| m)
        .unwrap_or_default();
    Some(Owner {
        ring: owner.to_string(),
        start: arc.start,
        end: arc.end,
        members,
    })
}

/// `kv owner`'s answer, for people or as JSON.
pub fn owner_text(key: &str, view: &GroupInfo, json_out: bool) -> String {
    let position = position_of(key.as_bytes());
    match owner(view, key.as_bytes()) {
        Some(Owner { ring, start, end, members }) if json_out => json!({
            "key": key,
            "position": format!("{position:032x}"),
            "group": ring,
            "start": format!("{start:032x}"),
            "end": format!("{end:032x}"),
            "members": members.iter().map(|(id, client)| json!({"id": id, "client": client})).collect::<Vec<_>>(),
            "view_version": view.view_version,
        })
        .to_string(),
        Some(Owner { ring, start, end, members }) => {
            let clients: Vec<String> = members
                .iter()
                .map(|(id, client)| format!("node {id} ({client})"))
                .collect();
            format!(
                "{key:?} (position {}) is owned by group {ring}, range {}..{}: {}",
                short(position),
                short(start),
                short(end),
                clients.join(", ")
            )
        }
        None if json_out => json!({"key": key, "group": null}).to_string(),
        None => format!("{key:?}: no group is on the ring yet"),
    }
}

/// Node id -> its group's ring address, from an 'i' answer (for `kv meta`).
pub fn group_of_ids(view: &GroupInfo) -> BTreeMap<i32, String> {
    view.nodes.iter().map(|n| (n.id, n.ring.clone())).collect()
}

/// Asks the ECS at `ecs` for its status (`status`, an ECS-protocol extension), proving the
/// cluster secret first if one is given; returns its JSON.
pub async fn status(
    ecs: &str,
    secret_file: Option<&std::path::Path>,
    timeout: std::time::Duration,
) -> anyhow::Result<Value> {
    use anyhow::Context;
    use protocol::ecs::{Reply, Request};

    let reply = ask_ecs(ecs, secret_file, timeout, &Request::Status).await?;
    match reply {
        Reply::Status(json) => serde_json::from_str(&json)
            .with_context(|| format!("the ECS's status is not JSON: {json}")),
        other => anyhow::bail!("the ECS at {ecs} answered {}", other.to_line()),
    }
}

/// Asks the ECS at `ecs` to take the group at ring address `group` off the ring
/// (`remove_group`, an ECS-protocol extension). `ok` means queued: the removal runs once
/// the join or removal in progress is over (`kv status` follows it).
pub async fn remove(
    ecs: &str,
    secret_file: Option<&std::path::Path>,
    timeout: std::time::Duration,
    group: &str,
) -> anyhow::Result<()> {
    use anyhow::Context;
    use protocol::ecs::{HostPort, Reply, Request};

    let group: HostPort = group
        .parse()
        .with_context(|| format!("the group's ring address {group:?} (HOST:PORT)"))?;
    let request = Request::RemoveGroup(group.clone());
    match ask_ecs(ecs, secret_file, timeout, &request).await? {
        Reply::Ok => Ok(()),
        Reply::Error(reason) => anyhow::bail!("the ECS refused to remove {group}: {reason}"),
        other => anyhow::bail!("the ECS at {ecs} answered {}", other.to_line()),
    }
}

/// Sends one line to the ECS at `ecs`, proving the cluster secret first if one is given.
async fn ask_ecs(
    ecs: &str,
    secret_file: Option<&std::path::Path>,
    timeout: std::time::Duration,
    request: &protocol::ecs::Request,
) -> anyhow::Result<protocol::ecs::Reply> {
    use anyhow::Context;
    use node::admin_link::{AdminLink, LinkTiming};

    let secret = secret_file
        .map(node::auth::Secret::load)
        .transpose()
        .context("the cluster secret")?;
    let timing = LinkTiming {
        attempt_timeout: timeout,
        ..LinkTiming::default()
    };
    let mut link = AdminLink::new(
        TokioNet,
        timing,
        protocol::ecs::DEFAULT_MAX_LINE_LEN,
        secret,
        node::io::Rng::from_entropy(),
    )
    .with_ecs(ecs);
    link.send(ecs, request)
        .await
        .with_context(|| format!("asking the ECS at {ecs}"))
}

/// Adds how far the hand-off of a join or removal got, if its sender said
/// (`hand_off_parts`, from its last `progress`).
fn push_hand_off(out: &mut String, reconfiguration: &Value) {
    if let Some(parts) = reconfiguration["hand_off_parts"].as_str() {
        out.push_str(&format!("  its hand-off: {parts} parts acknowledged\n"));
    }
}

/// The ECS's status for people.
pub fn status_text(status: &Value) -> String {
    let list = |v: &Value| -> String {
        let items: Vec<&str> = v
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if items.is_empty() {
            "none".to_owned()
        } else {
            items.join(", ")
        }
    };
    let mut out = format!(
        "groups on the ring: {}\nqueued to join:     {}\n",
        list(&status["members"]),
        list(&status["queue"])
    );
    match status["join"].as_object() {
        Some(j) => out.push_str(&format!(
            "join {} in progress: {} joining after {}, at step {} for {}\n",
            j["number"],
            j["newcomer"].as_str().unwrap_or("?"),
            j["predecessor"].as_str().unwrap_or("nobody (first group)"),
            j["step"].as_str().unwrap_or("?"),
            j["in_step_ms"]
                .as_u64()
                .map(|ms| format!("{:.1} s", ms as f64 / 1000.0))
                .unwrap_or_else(|| "an unknown time".to_owned()),
        )),
        None => out.push_str("no join in progress\n"),
    }
    push_hand_off(&mut out, &status["join"]);
    if let Some(r) = status["removal"].as_object() {
        out.push_str(&format!(
            "removal {} in progress: {} handing its range to {}, at step {}\n",
            r["number"],
            r["leaving"].as_str().unwrap_or("?"),
            r["receiver"].as_str().unwrap_or("?"),
            r["step"].as_str().unwrap_or("?"),
        ));
        push_hand_off(&mut out, &status["removal"]);
    }
    if !list(&status["removal_queue"]).starts_with("none") {
        out.push_str(&format!(
            "queued to leave:    {}\n",
            list(&status["removal_queue"])
        ));
    }
    out.push_str(&format!(
        "{} joins begun, {} nodes known, cluster view version {}",
        status["joins_begun"], status["nodes"], status["view_version"]
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(ring: &str) -> GroupRow {
        GroupRow {
            ring: ring.into(),
            start: 0,
            end: 0,
            members: vec![(0, "127.0.0.1:7001".into())],
            leader: Some("127.0.0.1:7001".into()),
            term: 1,
            state: "serving".into(),
        }
    }

    #[test]
    fn the_ring_table_counts_its_groups_in_words() {
        assert!(ring_table(&[row("a:1")], 2).contains("\n1 group, cluster view version 2;"));
        let two = ring_table(&[row("a:1"), row("b:1")], 3);
        assert!(two.contains("\n2 groups, cluster view version 3;"), "{two}");
    }
}
