//! `node`: one KV node (a replica group of one), serving clients and the ECS.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use node::io::{Rng, StdDisk, TokioNet};
use node::server::{self, NodeConfig};
use protocol::ecs::HostPort;

/// Runs a KV node: the binary client protocol on --client, the ECS text protocol on
/// --admin. On first start it registers with the ECS and waits to be admitted to the ring;
/// afterwards it recovers its keys from --data-dir.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Admin address (ECS protocol) as other hosts reach it; also the group's ring address.
    #[arg(long, value_name = "HOST:PORT")]
    admin: HostPort,
    /// Client address (binary protocol) as clients reach it.
    #[arg(long, value_name = "HOST:PORT")]
    client: HostPort,
    /// The ECS's admin address.
    #[arg(long, value_name = "HOST:PORT")]
    ecs: String,
    /// Directory for the write-ahead log and snapshot (created if missing).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// Bind the admin listener here instead of --admin (e.g. 0.0.0.0:7002).
    #[arg(long, value_name = "HOST:PORT")]
    bind_admin: Option<String>,
    /// Bind the client listener here instead of --client.
    #[arg(long, value_name = "HOST:PORT")]
    bind_client: Option<String>,
    /// Longest ecs_put line this node sends when handing off a range, in bytes.
    #[arg(long, default_value_t = 64 * 1024, value_name = "BYTES")]
    part_size: usize,
    /// Seed for the node's random choices (transfer ids); random if not given.
    #[arg(long)]
    seed: Option<u64>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    node::cli::init_tracing("info");
    let mut config = NodeConfig::new(args.admin, args.client, args.ecs, args.data_dir);
    if let Some(b) = args.bind_admin {
        config.admin_bind = b;
    }
    if let Some(b) = args.bind_client {
        config.client_bind = b;
    }
    config.part_size_bytes.set(args.part_size);
    let rng = args.seed.map_or_else(Rng::from_entropy, Rng::from_seed);
    node::cli::run_local(server::run(TokioNet, StdDisk, rng, config))
        .context("starting the runtime")?
        .context("node stopped")
}
