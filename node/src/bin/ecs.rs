//! `ecs`: the external configuration service that keeps the ring and admits groups.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use node::auth::Secret;
use node::ecs::{self, EcsConfig};
use node::io::{Rng, StdDisk, TokioNet};

/// Runs the ECS: nodes `register` on --bind and the ECS admits them one at a time with the
/// join protocol (write_lock, next_addr, transfer_range, done, broadcast_node,
/// release_lock). Its state survives restarts in --data-dir; an unfinished join resumes.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Admin address to listen on (the ECS text protocol; try it with `nc`).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:7000")]
    bind: String,
    /// Directory for the ECS state file (created if missing).
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// Seconds to wait for `done` before resending transfer_range.
    #[arg(long, default_value_t = 30, value_name = "SECONDS")]
    transfer_timeout: u64,
    /// Seconds a join may go without headway before it is abandoned: the predecessor is
    /// unlocked and keeps its range, the newcomer stays off the ring (it may register
    /// again). Counted from the start of each step and again from each headway the
    /// hand-off reports (`progress`), so only a join that stops moving is abandoned. A join
    /// that has announced the new ring always finishes. `abort_join` on the admin port
    /// abandons the join in progress at once.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    join_deadline: u64,
    /// The cluster secret (64 hex digits, readable by its owner only; `cluster` creates
    /// one). Every connection to --bind must then prove it holds the secret, and the ECS
    /// proves it to every node it connects to. Without it the port is open to anyone who
    /// reaches it, so it may only bind a loopback address.
    #[arg(long, value_name = "FILE")]
    secret_file: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    node::cli::init_tracing("info");
    let mut config = EcsConfig::new(args.bind, args.data_dir);
    config.transfer_timeout = std::time::Duration::from_secs(args.transfer_timeout);
    config.join_deadline = std::time::Duration::from_secs(args.join_deadline);
    if let Some(path) = &args.secret_file {
        config.secret = Some(Secret::load(path)?);
    }
    node::cli::make_durable(&config.data_dir)?;
    node::cli::run_local(ecs::run(TokioNet, StdDisk, Rng::from_entropy(), config))
        .context("starting the runtime")?
        .context("ECS stopped")
}
