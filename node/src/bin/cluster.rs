//! `cluster`: starts an ECS and N nodes on loopback as child processes, for trying the
//! store by hand. Ctrl-C stops them all.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;

/// Starts a local cluster: the ECS on 127.0.0.1:BASE_PORT, and node i (from 0) with its
/// client port at base+1+3i, its admin port at base+2+3i and its Raft peer port at
/// base+3+3i. Nodes form groups of --group-size in order (nodes 0..size are group 0).
/// Each process logs to DIR/NAME.log and keeps its data in DIR/NAME/. Groups start one
/// after another, so each joins the ring with a range hand-off. Run it again with the
/// same --dir to restart the cluster on its existing data.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Number of replica groups.
    #[arg(long, default_value_t = 3)]
    groups: u16,
    /// Nodes per group: 1, 3 or 5.
    #[arg(long, default_value_t = 1)]
    group_size: u16,
    /// Folder for data directories and logs (created if missing).
    #[arg(long, value_name = "DIR")]
    dir: PathBuf,
    /// ECS port; nodes take the ports after it.
    #[arg(long, default_value_t = 7000)]
    base_port: u16,
    /// Milliseconds between starting one group and the next.
    #[arg(long, default_value_t = 500)]
    stagger_ms: u64,
    /// The cluster secret every process is given (--secret-file), so only they can speak
    /// on the admin ports; created with 32 random bytes, mode 0600, if it does not exist.
    /// Default: DIR/secret.
    #[arg(long, value_name = "FILE")]
    secret_file: Option<PathBuf>,
}

/// 32 bytes from the operating system's random source.
fn os_random() -> std::io::Result<[u8; node::auth::SECRET_LEN]> {
    let mut bytes = [0u8; node::auth::SECRET_LEN];
    std::io::Read::read_exact(&mut File::open("/dev/urandom")?, &mut bytes)?;
    Ok(bytes)
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
    if args.groups == 0 {
        bail!("--groups must be at least 1");
    }
    if ![1, 3, 5].contains(&args.group_size) {
        bail!("--group-size must be 1, 3 or 5 (odd, so a majority survives a minority's loss)");
    }
    let nodes = args.groups * args.group_size;
    let last_port = u32::from(args.base_port) + 3 * u32::from(nodes);
    if last_port > u32::from(u16::MAX) {
        bail!(
            "--base-port {} leaves no room for {} nodes",
            args.base_port,
            nodes
        );
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let (node_bin, ecs_bin) = (sibling("node")?, sibling("ecs")?);
    let secret_path = args
        .secret_file
        .clone()
        .unwrap_or_else(|| args.dir.join("secret"));
    let (_, created) = node::auth::Secret::load_or_create(&secret_path, os_random)?;
    println!(
        "{} cluster secret {}",
        if created { "created" } else { "using" },
        secret_path.display()
    );
    let secret_arg = secret_path.display().to_string();
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
            "--secret-file".into(),
            secret_arg.clone(),
        ],
    )?;
    let port = |i: u16, k: u16| format!("127.0.0.1:{}", args.base_port + k + 3 * i);
    for g in 0..args.groups {
        std::thread::sleep(Duration::from_millis(args.stagger_ms));
        let members: Vec<u16> = (g * args.group_size..(g + 1) * args.group_size).collect();
        for &i in &members {
            let name = format!("node{i}");
            let mut node_args = vec![
                "--admin".into(),
                port(i, 2),
                "--client".into(),
                port(i, 1),
                "--ecs".into(),
                ecs_addr.clone(),
                "--data-dir".into(),
                data(&name),
                "--secret-file".into(),
                secret_arg.clone(),
            ];
            if args.group_size > 1 {
                for &m in &members {
                    node_args.push("--member".into());
                    node_args.push(format!("{}/{}/{}", port(m, 2), port(m, 1), port(m, 3)));
                }
            }
            spawn(&mut children, &args.dir, &name, &node_bin, &node_args)?;
        }
    }
    println!(
        "cluster up: ECS at {ecs_addr}, clients at 127.0.0.1:{}..{}; try `kv --addr 127.0.0.1:{} meta`. Ctrl-C stops it.",
        args.base_port + 1,
        args.base_port + 3 * nodes - 2,
        args.base_port + 1
    );
    wait_for_exit(&mut children)
}

/// Returns when Ctrl-C arrives, or fails when every child has exited.
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
    // A process that dies (say, to a `kill -9` while trying fault tolerance) is reported
    // and the others keep running; the cluster stops on Ctrl-C or when none is left.
    let mut exited = std::collections::BTreeSet::new();
    loop {
        if rx.recv_timeout(Duration::from_millis(200)).is_ok() {
            println!("interrupted; stopping the cluster");
            return Ok(());
        }
        for (name, child) in &mut children.0 {
            if !exited.contains(name) {
                if let Some(status) = child.try_wait()? {
                    println!("{name} exited ({status}); the others keep running");
                    exited.insert(name.clone());
                }
            }
        }
        if exited.len() == children.0.len() {
            bail!("every process has exited; see the logs");
        }
    }
}
