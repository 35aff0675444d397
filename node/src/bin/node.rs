//! `node`: one KV node, a member of a replica group, serving clients and the ECS.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::Parser;
use node::auth::Secret;
use node::group::GroupSpec;
use node::io::{Rng, StdDisk, TokioNet};
use node::ring::member_position;
use node::server::{self, NodeConfig};
use protocol::ecs::{HostPort, Member};
use protocol::peer::PeerId;

/// Runs a KV node: the binary client protocol on --client, the ECS text protocol on
/// --admin and, in a group of more than one, Raft between the members on their peer
/// addresses. On first start the group registers with the ECS and waits to be admitted
/// to the ring; afterwards the node recovers its state from --data-dir.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Admin address (ECS protocol) as other hosts reach it.
    #[arg(long, value_name = "HOST:PORT")]
    admin: HostPort,
    /// Client address (binary protocol) as clients reach it.
    #[arg(long, value_name = "HOST:PORT")]
    client: HostPort,
    /// The ECS's admin address.
    #[arg(long, value_name = "HOST:PORT")]
    ecs: String,
    /// Directory for the Raft log and snapshot (created if missing).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// A member of this node's group as ADMIN/CLIENT/PEER addresses; repeat for every
    /// member, in the same order on every member (this node included, found by --admin).
    /// The first member's admin address is the group's ring address. Without --member the
    /// node is a group of one.
    #[arg(long = "member", value_name = "ADMIN/CLIENT/PEER")]
    members: Vec<String>,
    /// Bind the admin listener here instead of --admin (e.g. 0.0.0.0:7002). An address
    /// other machines can reach is refused without --secret-file.
    #[arg(long, value_name = "HOST:PORT")]
    bind_admin: Option<String>,
    /// The cluster secret (64 hex digits, readable by its owner only; `cluster` creates
    /// one). Every connection to the admin port must then prove it holds the secret, and
    /// this node proves it to every port it connects to. Without it the admin port is
    /// open to anyone who reaches it, so it may only bind a loopback address.
    #[arg(long, value_name = "FILE")]
    secret_file: Option<PathBuf>,
    /// Bind the client listener here instead of --client.
    #[arg(long, value_name = "HOST:PORT")]
    bind_client: Option<String>,
    /// Longest ecs_put line this node sends when handing off a range, in bytes.
    #[arg(long, default_value_t = 64 * 1024, value_name = "BYTES")]
    part_size: usize,
    /// Seed for the node's random choices (election timeouts, transfer ids); random if
    /// not given. It is mixed with --admin, so nodes given the same seed still draw
    /// different election timeouts (identical draws make two candidates split every
    /// vote, for ever). Not with --secret-file: a node restarted with the same seed would send
    /// the same challenge nonces again, and a recorded conversation could be replayed.
    #[arg(long)]
    seed: Option<u64>,
    /// This member's data directory was lost (a replaced disk or machine) and starts
    /// empty, in a group that already holds data: the member first asks every other
    /// member for its term (it follows no leader until all have answered), then votes in
    /// no election until it has caught up with a leader, since a vote from it could elect
    /// a member that lacks writes it had acknowledged. Not for the first start of a new group (its
    /// members must vote to elect a first leader). It acts only on an empty --data-dir,
    /// where the node records that it is catching up until it has (a power loss
    /// meanwhile does not end it), so leaving it on afterwards changes nothing.
    #[arg(long)]
    replaced_disk: bool,
}

/// One `--member` value.
struct MemberArg {
    admin: HostPort,
    client: HostPort,
    peer: String,
}

fn parse_member(text: &str) -> anyhow::Result<MemberArg> {
    let parts: Vec<&str> = text.split('/').collect();
    let [admin, client, peer] = parts.as_slice() else {
        bail!("--member {text:?}: expected ADMIN/CLIENT/PEER, three host:port addresses");
    };
    Ok(MemberArg {
        admin: admin
            .parse()
            .with_context(|| format!("--member {text:?}: admin address"))?,
        client: client
            .parse()
            .with_context(|| format!("--member {text:?}: client address"))?,
        peer: peer
            .parse::<HostPort>()
            .with_context(|| format!("--member {text:?}: peer address"))?
            .to_string(),
    })
}

fn config(args: Args) -> anyhow::Result<NodeConfig> {
    let mut config = NodeConfig::new(
        args.admin.clone(),
        args.client.clone(),
        args.ecs,
        args.data_dir,
    );
    if let Some(b) = args.bind_admin {
        config.admin_bind = b;
    }
    if let Some(b) = args.bind_client {
        config.client_bind = b;
    }
    config.part_size_bytes.set(args.part_size);
    let replaced_disk = args.replaced_disk;
    if let Some(path) = &args.secret_file {
        if args.seed.is_some() {
            bail!(
                "--seed cannot be combined with --secret-file: every start with the same seed \
                 would issue the same challenge nonces, so a recorded conversation could be replayed"
            );
        }
        config.secret = Some(Secret::load(path)?);
    }
    if args.members.is_empty() {
        config.group.raft.replaced_disk = replaced_disk;
        return Ok(config);
    }
    let members = args
        .members
        .iter()
        .map(|m| parse_member(m))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if ![1, 3, 5].contains(&members.len()) {
        bail!(
            "{} members given: a group has 1, 3 or 5 (an odd number, so a majority survives a minority's loss)",
            members.len()
        );
    }
    let Some(me) = members.iter().position(|m| m.admin == args.admin) else {
        bail!(
            "--admin {} is not one of the --member admin addresses",
            args.admin
        );
    };
    if members[me].client != args.client {
        bail!(
            "--client {} differs from this node's --member entry ({})",
            args.client,
            members[me].client
        );
    }
    let peer_addrs: BTreeMap<PeerId, String> = members
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != me)
        .map(|(i, m)| (PeerId(i as u32), m.peer.clone()))
        .collect();
    config.ring = members[0].admin.clone();
    config.peer_bind = Some(members[me].peer.clone());
    config.members = members
        .iter()
        .map(|m| Member {
            admin: m.admin.clone(),
            client: m.client.clone(),
        })
        .collect();
    config.group = GroupSpec::member(PeerId(me as u32), members.len() as u32, peer_addrs);
    config.group.own_peer_addr = members[me].peer.clone();
    config.group.raft.replaced_disk = replaced_disk;
    Ok(config)
}

/// `seed` mixed with the node's admin address (its ring position, the MD5 the ring already
/// uses, folded to 64 bits): the same `--seed` on every member of a group would otherwise
/// give them the same election timeouts, and after their leader dies both would campaign
/// at the same instant in every term, each voting for itself.
fn node_seed(seed: u64, admin: &HostPort) -> u64 {
    seed ^ member_position(admin) as u64
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    node::cli::init_tracing("info");
    let rng = match args.seed {
        Some(seed) => Rng::from_seed(node_seed(seed, &args.admin)),
        None => Rng::from_entropy(),
    };
    let config = config(args)?;
    node::cli::make_durable(&config.data_dir)?;
    node::cli::run_local(server::run(TokioNet, StdDisk, rng, config))
        .context("starting the runtime")?
        .context("node stopped")
}

#[cfg(test)]
mod tests {
    use super::node_seed;

    fn admin(addr: &str) -> protocol::ecs::HostPort {
        addr.parse().expect("an address")
    }

    #[test]
    fn one_seed_gives_each_node_its_own_stream() {
        let a = node_seed(7, &admin("127.0.0.1:7002"));
        let b = node_seed(7, &admin("127.0.0.1:7005"));
        assert_ne!(a, b);
        assert_eq!(
            a,
            node_seed(7, &admin("127.0.0.1:7002")),
            "a restart draws the same"
        );
    }
}
