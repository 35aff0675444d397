//! `cluster`: starts an ECS and N nodes on loopback as child processes, for trying the
//! store by hand. Ctrl-C stops them all.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;

/// Starts a local cluster: the ECS on 127.0.0.1:BASE_PORT, and node i (from 0) with its
/// client port at base+1+2i and its admin port at base+2+2i. Each process logs to
/// DIR/NAME.log and keeps its data in DIR/NAME/. Nodes start one after another,
/// so each joins the ring with a range hand-off. Run it again with the same --dir to
/// restart the cluster on its existing data.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Number of nodes (each a replica group of one).
    #[arg(long, default_value_t = 3)]
    nodes: u16,
    /// Folder for data directories and logs (created if missing).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// ECS port; nodes take the ports after it.
    #[arg(long, default_value_t = 7000)]
    base_port: u16,
    /// Milliseconds between starting one node and the next.
    #[arg(long, default_value_t = 500)]
    stagger_ms: u64,
}

/// Child processes, killed when dropped so an error never leaves strays behind.
struct Children(Vec<(String, Child)>);

impl Drop for Children {
    fn drop(&mut self) {
        for (name, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("stopped {name}");
        }
    }
}

fn sibling(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("locating this executable")?;
    let path = exe.with_file_name(name);
    if !path.exists() {
        bail!(
            "{} not found next to {}; build all binaries first (cargo build -p node)",
            path.display(),
            exe.display()
        );
    }
    Ok(path)
}

fn spawn(
    children: &mut Children,
    dir: &Path,
    name: &str,
    program: &Path,
    args: &[String],
) -> anyhow::Result<()> {
    let log_path = dir.join(format!("{name}.log"));
    let log =
        File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    println!(
        "started {name:<6} pid {:<7} log {}",
        child.id(),
        log_path.display()
    );
    children.0.push((name.to_string(), child));
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.nodes == 0 {
        bail!("--nodes must be at least 1");
    }
    let last_port = u32::from(args.base_port) + 2 * u32::from(args.nodes);
    if last_port > u32::from(u16::MAX) {
        bail!(
            "--base-port {} leaves no room for {} nodes",
            args.base_port,
            args.nodes
        );
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let (node_bin, ecs_bin) = (sibling("node")?, sibling("ecs")?);
    let mut children = Children(Vec::new());
    let ecs_addr = format!("127.0.0.1:{}", args.base_port);
    let data = |name: &str| args.dir.join(name).display().to_string();
    spawn(
        &mut children,
        &args.dir,
        "ecs",
        &ecs_bin,
        &[
            "--bind".into(),
            ecs_addr.clone(),
            "--data-dir".into(),
            data("ecs"),
        ],
    )?;
    for i in 0..args.nodes {
        std::thread::sleep(Duration::from_millis(args.stagger_ms));
        let client = format!("127.0.0.1:{}", args.base_port + 1 + 2 * i);
        let admin = format!("127.0.0.1:{}", args.base_port + 2 + 2 * i);
        let name = format!("node{i}");
        spawn(
            &mut children,
            &args.dir,
            &name,
            &node_bin,
            &[
                "--admin".into(),
                admin,
                "--client".into(),
                client.clone(),
                "--ecs".into(),
                ecs_addr.clone(),
                "--data-dir".into(),
                data(&name),
            ],
        )?;
    }
    println!(
        "cluster up: ECS at {ecs_addr}, clients at 127.0.0.1:{}..{}; try `kv --addr 127.0.0.1:{} meta`. Ctrl-C stops it.",
        args.base_port + 1,
        args.base_port + 2 * args.nodes - 1,
        args.base_port + 1
    );
    wait_for_exit(&mut children)
}

/// Returns when Ctrl-C arrives or a child dies (reported as an error).
fn wait_for_exit(children: &mut Children) -> anyhow::Result<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    let interrupted = tx.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        if let Ok(rt) = rt {
            if rt.block_on(tokio::signal::ctrl_c()).is_ok() {
                let _ = interrupted.send(());
            }
        }
    });
    drop(tx);
    loop {
        if rx.recv_timeout(Duration::from_millis(200)).is_ok() {
            println!("interrupted; stopping the cluster");
            return Ok(());
        }
        for (name, child) in &mut children.0 {
            if let Some(status) = child.try_wait()? {
                bail!("{name} exited with {status}; see its log");
            }
        }
    }
}
