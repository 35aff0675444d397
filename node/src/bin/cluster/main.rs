//! `cluster`: starts an ECS and N nodes on loopback as child processes, for trying the
//! store by hand; restarts one of them or adds a group while it runs. Ctrl-C or SIGTERM
//! stops them all.

mod children;
mod control;
mod layout;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args as ClapArgs, Parser, Subcommand};

use children::Children;
use layout::Layout;

/// Starts a local cluster: the ECS on 127.0.0.1:BASE_PORT, and node i (from 0) with its
/// client port at base+1+3i, its admin port at base+2+3i and its Raft peer port at
/// base+3+3i. Nodes form groups of --group-size in order (nodes 0..size are group 0).
/// Each process logs to DIR/NAME.log (the previous run's log is kept as NAME.log.1, up to
/// .5) and keeps its data in DIR/NAME/. Groups start one after another, so each joins the
/// ring with a range hand-off. Run it again with the same --dir to restart the cluster on
/// its existing data.
#[derive(Debug, Parser)]
#[command(
    version,
    args_conflicts_with_subcommands = true,
    after_help = "While it runs, from another terminal:\n  \
        cluster restart node1 --dir DIR   stop node1 if it runs, start it again on its data\n  \
        cluster join --dir DIR            start one more group, which joins the ring\n  \
        cluster remove 1 --dir DIR        take group 1 off the ring (its processes keep running)\n\n\
        Ctrl-C or SIGTERM stops every process (SIGTERM, then SIGKILL after 5 s) and waits for it."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    up: Up,
}

/// The options of starting a cluster (the command without a subcommand).
#[derive(Debug, ClapArgs)]
struct Up {
    /// Number of replica groups.
    #[arg(long, default_value_t = 3)]
    groups: u16,
    /// Nodes per group: 1, 3 or 5.
    #[arg(long, default_value_t = 1)]
    group_size: u16,
    /// Folder for data directories and logs (created if missing).
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
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

/// 32 bytes from the operating system's random source (`getrandom`, through rand_core's
/// `OsRng`): a secret, so never from the seedable generator the simulation replays.
fn os_random() -> std::io::Result<[u8; node::auth::SECRET_LEN]> {
    use rand_core::TryRngCore;
    let mut bytes = [0u8; node::auth::SECRET_LEN];
    rand_core::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(std::io::Error::other)?;
    Ok(bytes)
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Ask the running cluster in DIR to stop NODE (if it runs) and start it again with
    /// the same command line, on its data.
    Restart {
        /// The process: `node3`, `ecs`.
        node: String,
        /// The running cluster's folder.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
    /// Ask the running cluster in DIR to start one more group (of its group size), which
    /// registers with the ECS and joins the ring with a range hand-off.
    Join {
        /// The running cluster's folder.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
    /// Ask the running cluster in DIR to take group GROUP (its number, from 0) off the
    /// ring: its range goes to the group before it on the ring (`kv remove` to the ECS).
    /// Its processes keep running, off the ring, until the cluster stops.
    Remove {
        /// The group's number (group g is nodes g*size .. (g+1)*size).
        group: u16,
        /// The running cluster's folder.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Cmd::Restart { node, dir }) => ask(&dir, &format!("restart {node}")),
        Some(Cmd::Join { dir }) => ask(&dir, "join"),
        Some(Cmd::Remove { group, dir }) => ask(&dir, &format!("remove {group}")),
        None => up(cli.up),
    }
}

/// Sends a request to the running cluster and prints its answer.
fn ask(dir: &Path, request: &str) -> anyhow::Result<()> {
    let answer = control::send(dir, request)?;
    match answer.strip_prefix("error: ") {
        Some(error) => bail!("{error}"),
        None => {
            println!("{answer}");
            Ok(())
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

fn up(args: Up) -> anyhow::Result<()> {
    let Some(dir) = args.dir else {
        bail!("--dir is required: the folder for the processes' data and logs");
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let secret_path = args.secret_file.unwrap_or_else(|| dir.join("secret"));
    let (_, created) = node::auth::Secret::load_or_create(&secret_path, os_random)?;
    println!(
        "{} cluster secret {}",
        if created { "created" } else { "using" },
        secret_path.display()
    );
    let mut layout = Layout::new(args.base_port, args.group_size, args.groups, secret_path)?;
    let running = control::Running::claim(&dir)?;
    layout.check_ports_free()?;
    let (node_bin, ecs_bin) = (sibling("node")?, sibling("ecs")?);
    let mut children = Children::new(&dir);
    children.start("ecs", &ecs_bin, layout.ecs_args(&dir))?;
    for g in 0..layout.groups {
        std::thread::sleep(Duration::from_millis(args.stagger_ms));
        for (name, node_args) in layout.group(g, &dir) {
            children.start(&name, &node_bin, node_args)?;
        }
    }
    println!(
        "cluster up: ECS at {}, clients at {}; try `kv --addr {} meta`. Ctrl-C stops it.",
        layout.ecs_addr(),
        layout.client_range(),
        layout.client(0)
    );
    supervise(&mut children, &running, &mut layout, &dir, &node_bin)?;
    println!("stopping the cluster");
    children.stop_all();
    Ok(())
}

/// Runs until Ctrl-C or SIGTERM (then returns so the caller stops every process), or
/// fails when every process has exited; carries out `restart` and `join` requests.
fn supervise(
    children: &mut Children,
    running: &control::Running,
    layout: &mut Layout,
    dir: &Path,
    node_bin: &Path,
) -> anyhow::Result<()> {
    let stop = stop_signal();
    loop {
        if stop.recv_timeout(Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        for (name, status) in children.reap()? {
            let alive = children.running();
            if alive.is_empty() {
                bail!(
                    "{name} exited ({status}); no process is left running; see the logs in {}",
                    dir.display()
                );
            }
            println!(
                "{name} exited ({status}); still running: {}",
                alive.join(", ")
            );
        }
        if let Some(request) = running.take_request() {
            let answer = match carry_out(&request, children, layout, dir, node_bin) {
                Ok(said) => said,
                Err(e) => format!("error: {e:#}"),
            };
            println!("{request}: {answer}");
            running.reply(&answer);
        }
    }
}

fn carry_out(
    request: &str,
    children: &mut Children,
    layout: &mut Layout,
    dir: &Path,
    node_bin: &Path,
) -> anyhow::Result<String> {
    let words: Vec<&str> = request.split_whitespace().collect();
    match words.as_slice() {
        ["restart", name] => children.restart(name),
        ["join"] => {
            let g = layout.add_group()?;
            let mut names = Vec::new();
            for (name, node_args) in layout.group(g, dir) {
                children.start(&name, node_bin, node_args)?;
                names.push(name);
            }
            Ok(format!(
                "started group {g} ({}); it joins the ring once the ECS admits it",
                names.join(", ")
            ))
        }
        ["remove", group] => remove(group, layout),
        _ => bail!("unknown request {request:?}"),
    }
}

/// Asks the ECS to remove group `group` with the `kv` next to this executable.
fn remove(group: &str, layout: &Layout) -> anyhow::Result<String> {
    let g: u16 = group
        .parse()
        .with_context(|| format!("group {group:?} is not a number"))?;
    let Some(ring) = layout.ring_of(g) else {
        bail!("no group {g}: this cluster has groups 0..{}", layout.groups);
    };
    let output = std::process::Command::new(sibling("kv")?)
        .arg("remove")
        .args(["--ecs", &layout.ecs_addr()])
        .arg("--secret-file")
        .arg(layout.secret())
        .arg(&ring)
        .output()
        .context("running kv remove")?;
    if !output.status.success() {
        bail!("{}", String::from_utf8_lossy(&output.stderr).trim());
    }
    Ok(format!(
        "group {g} ({ring}): {}",
        String::from_utf8_lossy(&output.stdout).trim()
    ))
}

/// A channel that receives once on Ctrl-C (SIGINT) or SIGTERM.
fn stop_signal() -> std::sync::mpsc::Receiver<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    // The signal futures need a runtime; this process otherwise runs none.
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let Ok(rt) = rt else { return };
        rt.block_on(async {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut term) = signal(SignalKind::terminate()) else {
                return;
            };
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        });
        let _ = tx.send(());
    });
    rx
}
