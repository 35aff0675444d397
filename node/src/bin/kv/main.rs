//! `kv`: the store's command-line client.
//!
//! Parses the command line, runs one operation through [`node::client::Client`] on a
//! current-thread runtime, prints the result, and turns every failure into one
//! `error: ...` line on stderr. Exit codes: 0 success, 1 key not found (`get`, `del`) or
//! compare-and-set not swapped, 2 any error.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand};
use node::client::{Client, ClientConfig, Metadata};
use node::io::{Rng, TokioNet};

mod bench;
mod inspect;

const DEFAULT_ADDR: &str = "127.0.0.1:7001";

const AFTER_HELP: &str = "\
Keys and values are taken as UTF-8 text. A value that is not UTF-8 is printed as hex, \
with a note on stderr. `kv put KEY -` reads the value from standard input and \
`kv put KEY --file PATH` from a file, byte for byte (past the shell's argument length limit).

Limits: a node accepts a command of at most 256 KiB (262,144 bytes) by default, so a put's \
key and value together may take 262,118 bytes; a larger one is refused before it is sent.

Exit codes:
  0  success
  1  key not found (get, del), or compare-and-set not swapped
  2  error: bad arguments, no node reachable, command refused, timeout

Environment:
  KV_ADDR   comma-separated node addresses, used when no --addr is given
  RUST_LOG  log filter for stderr (default: warn; try RUST_LOG=node=debug)";

/// Command-line client for the distributed key-value store.
#[derive(Debug, Parser)]
#[command(name = "kv", version, after_help = AFTER_HELP)]
struct Args {
    /// Client address of a node to start from; repeat (or separate with commas) for
    /// more. Default: $KV_ADDR, else 127.0.0.1:7001.
    #[arg(
        long = "addr",
        env = "KV_ADDR",
        value_name = "HOST:PORT",
        value_delimiter = ',',
        global = true
    )]
    addrs: Vec<String>,

    /// Give up on the operation after this long, retries included (e.g. 500ms, 10s, 2m).
    #[arg(
        long,
        value_name = "DURATION",
        default_value = "10s",
        value_parser = parse_duration,
        global = true
    )]
    timeout: Duration,

    /// Print `meta`, `ring`, `owner`, `status` and `bench` as JSON, for scripts.
    #[arg(long, global = true)]
    json: bool,

    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Store VALUE under KEY (`-` reads the value from standard input; --file from a
    /// file, byte for byte).
    #[command(override_usage = "kv put [OPTIONS] <KEY> <VALUE>\n       \
                                kv put [OPTIONS] <KEY> -\n       \
                                kv put [OPTIONS] <KEY> --file <PATH>")]
    Put {
        /// The key.
        key: String,
        /// The value to store; `-` reads it from standard input.
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        value: Option<String>,
        /// Read the value from this file instead.
        #[arg(long, value_name = "PATH")]
        file: Option<PathBuf>,
    },
    /// Print the value stored under KEY (exit 1 if it is absent).
    Get {
        /// The key.
        key: String,
    },
    /// Remove KEY (exit 1 if it was absent).
    #[command(alias = "delete")]
    Del {
        /// The key.
        key: String,
    },
    /// Store NEW under KEY only if KEY now holds OLD, or with --absent only if KEY is
    /// absent (exit 1 if not swapped).
    #[command(override_usage = "kv cas [OPTIONS] <KEY> <OLD> <NEW>\n       \
                                kv cas [OPTIONS] --absent <KEY> <NEW>")]
    Cas {
        /// Expect KEY to be absent instead of holding OLD; then give only KEY and NEW.
        #[arg(long)]
        absent: bool,
        /// The key.
        key: String,
        /// The value KEY must hold now (with --absent: the new value).
        #[arg(value_name = "OLD")]
        old: String,
        /// The value to store if the comparison holds (left out with --absent).
        #[arg(value_name = "NEW")]
        new: Option<String>,
    },
    /// Print the cluster's nodes with their ids and groups, the group leader and the
    /// answering node.
    Meta,
    /// Print the groups in ring order: range, nodes, leader, term, and whether each is
    /// serving, write-locked or handing a range off (asks every node).
    Ring,
    /// Print which group owns KEY, its range and its nodes.
    Owner {
        /// The key.
        key: String,
    },
    /// Print what the ECS is doing: admitted groups, the queue, the join in progress with
    /// its step and how long it has been at it. Speaks the ECS protocol, so it needs the
    /// cluster secret when the ECS has one.
    Status {
        #[command(flatten)]
        ecs: EcsArgs,
    },
    /// Take a group off the ring: its range goes to the group before it, with the same
    /// locked hand-off as a join. Queued behind the join or removal in progress; follow it
    /// with `kv status`. Speaks the ECS protocol (`remove_group`), so it needs the cluster
    /// secret when the ECS has one.
    Remove {
        #[command(flatten)]
        ecs: EcsArgs,
        /// The group's ring address (HOST:PORT, as it registered; `kv ring` lists them).
        group: String,
    },
    /// Load the cluster with puts and gets from many concurrent clients; print
    /// throughput, latency percentiles and errors.
    Bench(bench::BenchArgs),
}

/// A command line after the checks clap cannot express.
enum Op {
    Put(String, Bytes),
    Get(String),
    Del(String),
    Cas {
        key: String,
        expected: Option<String>,
        new: String,
    },
    Meta,
    Ring,
    Owner(String),
    Status(EcsArgs),
    Remove(EcsArgs, String),
    Bench(bench::Options),
}

/// How `kv status` and `kv remove` reach the ECS: its address and the cluster secret.
#[derive(Debug, clap::Args)]
struct EcsArgs {
    /// The ECS's address.
    #[arg(
        long,
        value_name = "HOST:PORT",
        env = "KV_ECS",
        default_value = "127.0.0.1:7000"
    )]
    ecs: String,
    /// The cluster secret (what `cluster` made as DIR/secret); without it only an ECS run
    /// without a secret answers.
    #[arg(long, value_name = "FILE", env = "KV_SECRET_FILE")]
    secret_file: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let sub = match &args.command {
        Cmd::Put { .. } => "put",
        Cmd::Bench(_) => "bench",
        _ => "cas",
    };
    let op = match to_op(args.command) {
        Ok(op) => op,
        Err(message) => {
            // Report against the subcommand so the usage shown is the one that was broken.
            let mut cli = Args::command();
            cli.build();
            let mut cmd = cli.find_subcommand(sub).cloned().unwrap_or(cli);
            cmd.error(ErrorKind::ValueValidation, message).exit()
        }
    };
    node::cli::init_tracing("warn");
    let config = ClientConfig {
        seeds: seeds(&args.addrs),
        deadline: args.timeout,
        ..ClientConfig::default()
    };
    let result = node::cli::run_local(execute(op, config, args.json))
        .context("cannot start the runtime")
        .and_then(|r| r);
    match result {
        Ok(found) => ExitCode::from(if found { 0 } else { 1 }),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn to_op(cmd: Cmd) -> Result<Op, String> {
    Ok(match cmd {
        Cmd::Put { key, value, file } => Op::Put(key, read_value(value, file)?),
        Cmd::Get { key } => Op::Get(key),
        Cmd::Del { key } => Op::Del(key),
        Cmd::Cas {
            absent,
            key,
            old,
            new,
        } => {
            let (expected, new) = match (absent, new) {
                (false, Some(new)) => (Some(old), new),
                (true, None) => (None, old),
                (true, Some(_)) => return Err("with --absent give only <KEY> <NEW>".into()),
                (false, None) => {
                    return Err(
                        "missing <NEW>: give <KEY> <OLD> <NEW>, or --absent <KEY> <NEW>".into(),
                    )
                }
            };
            Op::Cas { key, expected, new }
        }
        Cmd::Meta => Op::Meta,
        Cmd::Ring => Op::Ring,
        Cmd::Owner { key } => Op::Owner(key),
        Cmd::Status { ecs } => Op::Status(ecs),
        Cmd::Remove { ecs, group } => Op::Remove(ecs, group),
        Cmd::Bench(args) => Op::Bench(args.validate()?),
    })
}

/// The value of `kv put`: the argument, standard input for `-`, or the file's bytes.
fn read_value(value: Option<String>, file: Option<PathBuf>) -> Result<Bytes, String> {
    let read = |what: &str, result: std::io::Result<Vec<u8>>| {
        result
            .map(Bytes::from)
            .map_err(|e| format!("cannot read the value from {what}: {e}"))
    };
    match (value, file) {
        (_, Some(path)) => read(&path.display().to_string(), std::fs::read(&path)),
        (Some(v), None) if v == "-" => {
            let mut bytes = Vec::new();
            read(
                "standard input",
                std::io::stdin().read_to_end(&mut bytes).map(|_| bytes),
            )
        }
        (Some(v), None) => Ok(Bytes::from(v)),
        (None, None) => {
            Err("missing <VALUE>: give a value, `-` for standard input, or --file".into())
        }
    }
}

/// The addresses to start from: `--addr` (clap falls back to `$KV_ADDR`), trimmed and
/// without empty items (`KV_ADDR="a:1, b:2,"` is two), else the default.
fn seeds(addrs: &[String]) -> Vec<String> {
    let clean: Vec<String> = addrs
        .iter()
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    if clean.is_empty() {
        vec![DEFAULT_ADDR.to_owned()]
    } else {
        clean
    }
}

/// Runs the operation; `Ok(false)` means "not found" or "not swapped" (exit code 1).
async fn execute(op: Op, config: ClientConfig, json: bool) -> anyhow::Result<bool> {
    if let Op::Status(to) = &op {
        let status = inspect::status(&to.ecs, to.secret_file.as_deref(), config.deadline).await?;
        say(&if json {
            status.to_string()
        } else {
            inspect::status_text(&status)
        })?;
        return Ok(true);
    }
    if let Op::Remove(to, group) = &op {
        inspect::remove(&to.ecs, to.secret_file.as_deref(), config.deadline, group).await?;
        say(&format!("removal of {group} queued (kv status follows it)"))?;
        return Ok(true);
    }
    let mut client = Client::new(TokioNet, config.clone(), Rng::from_entropy());
    match op {
        Op::Put(key, value) => {
            client
                .put(key.clone(), value)
                .await
                .with_context(|| format!("put {key:?}"))?;
            say("stored")?;
            Ok(true)
        }
        Op::Get(key) => match client
            .get(key.clone())
            .await
            .with_context(|| format!("get {key:?}"))?
        {
            Some(value) => {
                say(&show(&value))?;
                Ok(true)
            }
            None => {
                note(&format!("not found: {key:?}"));
                Ok(false)
            }
        },
        Op::Del(key) => {
            let existed = client
                .delete(key.clone())
                .await
                .with_context(|| format!("del {key:?}"))?;
            if existed {
                say("deleted")?;
            } else {
                note(&format!("not found: {key:?}"));
            }
            Ok(existed)
        }
        Op::Cas { key, expected, new } => {
            let outcome = client
                .compare_and_set(key.clone(), expected.map(Bytes::from), new)
                .await
                .with_context(|| format!("cas {key:?}"))?;
            if outcome.swapped {
                say("swapped")?;
            } else {
                let now = match &outcome.current {
                    Some(value) => format!("it holds {}", show(value)),
                    None => "it is absent".to_owned(),
                };
                note(&format!("not swapped: {now}"));
            }
            Ok(outcome.swapped)
        }
        Op::Meta => {
            let meta = client.metadata().await.context("meta")?;
            // The group of each node, from the same node's view (an older node without
            // the extension just leaves the column empty).
            let groups = match client.group_info_at(&meta.answered_by).await {
                Ok(view) => inspect::group_of_ids(&view),
                Err(_) => Default::default(),
            };
            if json {
                say(&meta_json(&meta, &groups).to_string())?;
            } else {
                say(&meta_table(&meta, &groups))?;
            }
            Ok(true)
        }
        Op::Ring => {
            let (rows, version) = inspect::ring(&mut client).await.context("ring")?;
            if json {
                say(&inspect::ring_json(&rows, version).to_string())?;
            } else {
                say(&inspect::ring_table(&rows, version))?;
            }
            Ok(true)
        }
        Op::Owner(key) => {
            let (view, _) = client.group_info().await.context("owner")?;
            say(&inspect::owner_text(&key, &view, json))?;
            Ok(true)
        }
        Op::Status(_) | Op::Remove(..) => {
            unreachable!("answered above, without a client")
        }
        Op::Bench(opts) => {
            bench::main(opts, config, json).await?;
            Ok(true)
        }
    }
}

/// Prints a result line on stdout.
fn say(line: &str) -> anyhow::Result<()> {
    writeln!(std::io::stdout().lock(), "{line}").context("cannot write to stdout")
}

/// Prints an explanation on stderr (never fails: there is nowhere left to report to).
fn note(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// A value as text if it is UTF-8, else as hex (with a note on stderr).
fn show(value: &[u8]) -> String {
    match std::str::from_utf8(value) {
        Ok(text) => text.to_owned(),
        Err(_) => {
            note("note: the value is not UTF-8; printed as hex");
            value.iter().map(|b| format!("{b:02x}")).collect()
        }
    }
}

fn meta_json(meta: &Metadata, groups: &BTreeMap<i32, String>) -> serde_json::Value {
    let nodes: Vec<serde_json::Value> = meta
        .addresses
        .iter()
        .enumerate()
        .map(|(id, addr)| {
            let id = i32::try_from(id).unwrap_or(i32::MAX);
            serde_json::json!({"id": id, "client": addr, "group": groups.get(&id)})
        })
        .collect();
    serde_json::json!({
        "nodes": nodes,
        "leader_id": meta.leader_id,
        "current_node_id": meta.current_node_id,
        "answered_by": meta.answered_by,
    })
}

fn meta_table(meta: &Metadata, groups: &BTreeMap<i32, String>) -> String {
    let width = meta.addresses.iter().map(String::len).max().unwrap_or(0);
    let width = width.max("ADDRESS".len());
    let gwidth = groups.values().map(String::len).max().unwrap_or(0);
    let gwidth = gwidth.max("GROUP".len());
    let mut out = format!(
        "{:>4}  {:<width$}  {:<gwidth$}  ROLE\n",
        "ID", "ADDRESS", "GROUP"
    );
    for (id, addr) in meta.addresses.iter().enumerate() {
        let id = i32::try_from(id).unwrap_or(i32::MAX);
        let group = groups.get(&id).map(String::as_str).unwrap_or("");
        let mut roles = Vec::new();
        if id == meta.leader_id {
            roles.push("group leader");
        }
        if id == meta.current_node_id {
            roles.push("answered");
        }
        let row = format!(
            "{id:>4}  {addr:<width$}  {group:<gwidth$}  {}",
            roles.join(", ")
        );
        out.push_str(row.trim_end());
        out.push('\n');
    }
    if meta.addresses.is_empty() {
        out.push_str("   (no nodes listed)\n");
    }
    let leader = match meta.leader_id {
        -1 => "none known (election or ring change in progress)".to_owned(),
        id => node_label(meta, id),
    };
    out.push_str(&format!("group leader: {leader}\n"));
    out.push_str(&format!(
        "answered by:  {}, reached at {}",
        node_label(meta, meta.current_node_id),
        meta.answered_by
    ));
    out
}

fn node_label(meta: &Metadata, id: i32) -> String {
    let addr = usize::try_from(id).ok().and_then(|i| meta.addresses.get(i));
    match addr {
        Some(addr) => format!("node {id} ({addr})"),
        None => format!("node {id}"),
    }
}

/// Parses a duration as `humantime` writes them (`500ms`, `1.5s`, `2m`, `1h 30m`); it
/// must be above zero.
fn parse_duration(text: &str) -> Result<Duration, String> {
    positive(parse_any_duration(text)?)
}

/// Parses a duration as [`parse_duration`] does, zero included; the error quotes the text
/// and shows the forms, since humantime's own message says only what went wrong.
fn parse_any_duration(text: &str) -> Result<Duration, String> {
    let hint = "use a number and a unit, e.g. 500ms, 1.5s, 2m or 1h";
    humantime::parse_duration(text.trim())
        .map_err(|e| format!("{:?} is not a duration ({e}); {hint}", text.trim()))
}

fn positive(d: Duration) -> Result<Duration, String> {
    if d.is_zero() {
        Err("the duration must be above zero".to_owned())
    } else {
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_reject_the_rest() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration(" 1m 30s "), Ok(Duration::from_secs(90)));
        for bad in [
            "",
            "10",
            "s",
            "-1s",
            "3 fortnights",
            "0s",
            "0ms",
            "99999999999999999999s",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(parse_duration(&format!("{}h", u64::MAX / 60)).is_err());
        let e = parse_duration("10").unwrap_err();
        assert!(e.contains("\"10\"") && e.contains("500ms"), "{e}");
    }

    #[test]
    fn seeds_come_from_flags_then_env_then_the_default() {
        use clap::FromArgMatches;
        // The flag falls back to $KV_ADDR, and the help says so next to it.
        let cli = Args::command();
        let addr = cli.get_arguments().find(|a| a.get_id() == "addrs").unwrap();
        assert_eq!(addr.get_env(), Some(std::ffi::OsStr::new("KV_ADDR")));
        let help = Args::command().render_help().to_string();
        assert!(help.contains("[env: KV_ADDR"), "{help}");
        // The same wiring under a variable of this test's own, so that no other test
        // (they parse command lines in parallel) ever sees a KV_ADDR it did not set.
        const VAR: &str = "KV_ADDR_FOR_SEEDS_TEST";
        let seeds_of = |env: Option<&str>, args: &[&str]| {
            match env {
                Some(v) => std::env::set_var(VAR, v),
                None => std::env::remove_var(VAR),
            }
            let matches = Args::command()
                .mut_arg("addrs", |a| a.env(VAR))
                .try_get_matches_from(["kv"].iter().chain(args).chain(&["get", "k"]))
                .unwrap();
            std::env::remove_var(VAR);
            seeds(&Args::from_arg_matches(&matches).unwrap().addrs)
        };
        let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let flags = ["--addr", "a:1, b:2 "];
        assert_eq!(seeds_of(Some("c:3"), &flags), v(&["a:1", "b:2"]));
        assert_eq!(seeds_of(Some("c:3, d:4,"), &[]), v(&["c:3", "d:4"]));
        assert_eq!(seeds_of(Some(" "), &[]), v(&[DEFAULT_ADDR]));
        assert_eq!(seeds_of(Some(""), &[]), v(&[DEFAULT_ADDR]));
        assert_eq!(seeds_of(None, &[]), v(&[DEFAULT_ADDR]));
    }

    #[test]
    fn cas_arguments_are_checked() {
        let parse = |argv: &[&str]| Args::try_parse_from(argv).map(|a| to_op(a.command));
        assert!(matches!(
            parse(&["kv", "cas", "k", "old", "new"]),
            Ok(Ok(Op::Cas {
                expected: Some(_),
                ..
            }))
        ));
        assert!(matches!(
            parse(&["kv", "cas", "--absent", "k", "new"]),
            Ok(Ok(Op::Cas { expected: None, .. }))
        ));
        assert!(matches!(parse(&["kv", "cas", "k", "old"]), Ok(Err(_))));
        assert!(matches!(
            parse(&["kv", "cas", "--absent", "k", "a", "b"]),
            Ok(Err(_))
        ));
        Args::command().debug_assert();
    }

    #[test]
    fn put_takes_its_value_from_the_argument_a_file_or_neither_twice() {
        let parse = |argv: &[&str]| Args::try_parse_from(argv).map(|a| to_op(a.command));
        assert!(matches!(
            parse(&["kv", "put", "k", "v"]),
            Ok(Ok(Op::Put(_, v))) if v == Bytes::from_static(b"v")
        ));
        let dir = std::env::temp_dir().join(format!("kv-put-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("value.bin");
        let bytes: Vec<u8> = (0..=255u8).cycle().take(300 * 1024).collect();
        std::fs::write(&path, &bytes).expect("write");
        let path_arg = path.to_str().expect("utf-8 path");
        assert!(matches!(
            parse(&["kv", "put", "k", "--file", path_arg]),
            Ok(Ok(Op::Put(_, v))) if v == bytes
        ));
        let missing = dir.join("absent");
        let missing_arg = missing.to_str().expect("utf-8 path");
        assert!(matches!(
            parse(&["kv", "put", "k", "--file", missing_arg]),
            Ok(Err(e)) if e.contains("cannot read the value")
        ));
        assert!(parse(&["kv", "put", "k"]).is_err(), "no value at all");
        assert!(
            parse(&["kv", "put", "k", "v", "--file", path_arg]).is_err(),
            "a value and a file"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_ecs_status_reads_for_people() {
        let status = serde_json::json!({
            "view_version": 4, "joins_begun": 3, "nodes": 6,
            "members": ["a:1", "b:1"], "queue": ["d:1"],
            "join": {"number": 3, "newcomer": "c:1", "predecessor": "a:1",
                     "step": "transfer_range", "in_step_ms": 2500,
                     "hand_off_parts": "12/63"},
        });
        let text = inspect::status_text(&status);
        assert!(text.contains("groups on the ring: a:1, b:1"), "{text}");
        assert!(text.contains("queued to join:     d:1"), "{text}");
        assert!(
            text.contains(
                "join 3 in progress: c:1 joining after a:1, at step transfer_range for 2.5 s"
            ),
            "{text}"
        );
        assert!(
            text.contains("its hand-off: 12/63 parts acknowledged"),
            "{text}"
        );
        let idle = serde_json::json!({"members": [], "queue": [], "join": null});
        let text = inspect::status_text(&idle);
        assert!(
            text.contains("groups on the ring: none") && text.contains("no join in progress"),
            "{text}"
        );
    }

    #[test]
    fn values_print_as_text_or_hex() {
        assert_eq!(show(b"hello"), "hello");
        assert_eq!(show(&[0xff, 0x00, 0x10]), "ff0010");
    }

    #[test]
    fn the_meta_table_marks_leader_and_answering_node() {
        let meta = Metadata {
            addresses: vec!["10.0.0.1:7001".into(), "10.0.0.2:7001".into()],
            leader_id: 0,
            current_node_id: 1,
            answered_by: "10.0.0.2:7001".into(),
        };
        let groups: BTreeMap<i32, String> = [
            (0, "10.0.0.1:7002".to_string()),
            (1, "10.0.0.1:7002".to_string()),
        ]
        .into();
        let table = meta_table(&meta, &groups);
        assert!(
            table.contains("   0  10.0.0.1:7001  10.0.0.1:7002  group leader\n"),
            "{table}"
        );
        assert!(
            table.contains("   1  10.0.0.2:7001  10.0.0.1:7002  answered\n"),
            "{table}"
        );
        assert!(
            table.contains("group leader: node 0 (10.0.0.1:7001)"),
            "{table}"
        );
        let none = meta_table(
            &Metadata {
                leader_id: -1,
                ..meta
            },
            &BTreeMap::new(),
        );
        assert!(none.contains("none known"), "{none}");
    }
}
