//! The whole system on loopback TCP with real processes: an ECS and nodes started from
//! the built binaries, joins with range hand-offs while a client writes, a `kill -9` and a
//! restart, then every node's data directory checked against ring ownership.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bytes::Bytes;
use node::client::{Client, ClientConfig};
use node::group;
use node::io::{Rng, StdDisk, TokioNet};
use node::ring::Ring;
use protocol::ecs::HostPort;

mod common;
use common::free_port;

/// A child process killed (SIGKILL) when dropped, named for the messages about it.
struct Proc {
    child: Child,
    name: String,
}

impl Proc {
    /// Panics if the process has exited (a node that could not bind its ports exits at
    /// once): a test that kills one member of a group assumes the others are up.
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("{} exited ({status}); its log follows", self.name);
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // In a failing test, one that had exited by itself is the first thing to know
        // (one killed by a signal leaves no word in its log).
        if std::thread::panicking() {
            if let Ok(Some(status)) = self.child.try_wait() {
                eprintln!(
                    "==== {} had exited before the test ended: {status}",
                    self.name
                );
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Prints the tail of every log under a test's root if the test panics, so a failure on
/// a CI machine says what the ECS and nodes were doing (the root is deleted with the
/// test). Declared after the root and before the processes, so it drops after every
/// process was killed and before the root is removed.
struct LogsOnPanic<'a>(&'a Path);

impl Drop for LogsOnPanic<'_> {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        let Ok(entries) = std::fs::read_dir(self.0) else {
            return;
        };
        let mut logs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        logs.sort();
        for log in logs {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
            eprintln!("==== last {} lines of {} ====", tail.len(), log.display());
            for line in tail {
                eprintln!("{line}");
            }
        }
    }
}

/// Lines of each log printed when a test fails.
const LOG_TAIL_LINES: usize = 150;

struct NodeSpec {
    /// Its number in the test, as in its data directory's name.
    index: usize,
    admin: String,
    client: String,
    peer: String,
    /// `--member` values of the node's group, if it is a group of more than one.
    members: Vec<String>,
    dir: PathBuf,
    log: PathBuf,
}

impl NodeSpec {
    fn new(root: &Path, i: usize) -> Self {
        NodeSpec {
            index: i,
            admin: format!("127.0.0.1:{}", free_port()),
            client: format!("127.0.0.1:{}", free_port()),
            peer: format!("127.0.0.1:{}", free_port()),
            members: Vec::new(),
            dir: root.join(format!("node{i}")),
            log: root.join(format!("node{i}.log")),
        }
    }

    fn start(&self, ecs: &str) -> Proc {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_node"))
            .args([
                "--admin",
                &self.admin,
                "--client",
                &self.client,
                "--ecs",
                ecs,
            ])
            .arg("--data-dir")
            .arg(&self.dir)
            .args(self.members.iter().flat_map(|m| ["--member", m.as_str()]))
            // Small parts so every hand-off takes many ecs_put messages.
            .args(["--part-size", "2048", "--seed", "7"])
            // Votes and elections at debug: what a failed failover needs explained.
            .env("RUST_LOG", "info,node::raft::election=debug")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start node");
        Proc {
            child,
            name: format!("node {}", self.index),
        }
    }
}

fn start_ecs(root: &Path, addr: &str) -> Proc {
    // Appended to: a restarted ECS keeps its first run's log.
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join("ecs.log"))
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_ecs"))
        .args(["--bind", addr])
        .arg("--data-dir")
        .arg(root.join("ecs"))
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start ecs");
    Proc {
        child,
        name: "the ECS".to_string(),
    }
}

/// Waits until the ECS's state file shows `members` groups and no join in progress.
async fn wait_for_members(root: &Path, members: usize) {
    let path = root.join("ecs").join("ecs-state");
    for _ in 0..600 {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let count = text.lines().filter(|l| l.starts_with("member ")).count();
        if count == members && !text.lines().any(|l| l.starts_with("join ")) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "ECS never reached {members} members; state:\n{}",
        std::fs::read_to_string(&path).unwrap_or_default()
    );
}

fn client(nodes: &[NodeSpec], seed: u64) -> Client<TokioNet> {
    let config = ClientConfig {
        seeds: nodes.iter().map(|n| n.client.clone()).collect(),
        deadline: Duration::from_secs(30),
        ..ClientConfig::default()
    };
    Client::new(TokioNet, config, Rng::from_seed(seed))
}

/// The cluster's metadata once the answering node knows its leader (a node that just lost
/// its leader answers -1 until the election ends).
async fn metadata_with_leader(c: &mut Client<TokioNet>) -> node::client::Metadata {
    for _ in 0..100 {
        let meta = c.metadata().await.unwrap();
        if meta.leader_id >= 0 {
            return meta;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no leader known after 10 s");
}

/// Writes `key{i}` for `i` in `range`, returning what was acknowledged.
async fn write_keys(
    client: &mut Client<TokioNet>,
    prefix: &str,
    range: std::ops::Range<usize>,
) -> BTreeMap<Bytes, Bytes> {
    let mut acked = BTreeMap::new();
    for i in range {
        let key = Bytes::from(format!("{prefix}{i}"));
        let value = Bytes::from(format!("value-{i}-{}", "x".repeat(i % 40)));
        client
            .put(key.clone(), value.clone())
            .await
            .unwrap_or_else(|e| panic!("put {prefix}{i}: {e}"));
        acked.insert(key, value);
    }
    acked
}

async fn read_back(client: &mut Client<TokioNet>, acked: &BTreeMap<Bytes, Bytes>) {
    for (k, v) in acked {
        let got = client.get(k.clone()).await.expect("get");
        assert_eq!(got.as_ref(), Some(v), "key {k:?}");
    }
}

/// The node's own runtime shape: a current-thread runtime inside a `LocalSet`.
fn run_local<F: std::future::Future>(f: F) -> F::Output {
    node::cli::run_local(f).expect("a current-thread runtime")
}

#[test]
fn joins_hand_off_ranges_and_a_killed_node_keeps_every_acknowledged_key() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let _logs = LogsOnPanic(root);
    let ecs_addr = format!("127.0.0.1:{}", free_port());
    let _ecs = start_ecs(root, &ecs_addr);
    let specs: Vec<NodeSpec> = (0..3).map(|i| NodeSpec::new(root, i)).collect();
    let mut procs = vec![specs[0].start(&ecs_addr)];

    let acked = run_local(async {
        wait_for_members(root, 1).await;
        let mut c = client(&specs[..1], 1);
        let mut acked = write_keys(&mut c, "key", 0..1000).await;

        // Join the second and third node while a second client keeps writing: writes
        // that hit a write-locked range are refused as retryable and retried.
        for joining in 1..3 {
            let mut writer = client(&specs[..joining], 10 + joining as u64);
            let prefix = format!("during-join-{joining}-");
            let background =
                tokio::task::spawn_local(
                    async move { write_keys(&mut writer, &prefix, 0..200).await },
                );
            procs.push(specs[joining].start(&ecs_addr));
            wait_for_members(root, joining + 1).await;
            acked.extend(background.await.unwrap());
        }

        let mut c = client(&specs, 2);
        read_back(&mut c, &acked).await;
        let meta = c.metadata().await.unwrap();
        assert_eq!(meta.addresses.len(), 3);
        acked
    });

    // kill -9 the first node, restart it on its data, and read everything again.
    drop(procs.remove(0));
    procs.insert(0, specs[0].start(&ecs_addr));
    run_local(async {
        let mut c = client(&specs, 3);
        read_back(&mut c, &acked).await;
    });
    drop(procs);

    check_disks(&specs, &acked);

    // Both joins were real hand-offs, in ecs_put parts of 2 KiB.
    let logs: String = (0..3)
        .map(|i| std::fs::read_to_string(root.join(format!("node{i}.log"))).unwrap_or_default())
        .collect();
    let hand_offs: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("handing off range"))
        .collect();
    // A sender killed mid-hand-off resumes it when it restarts (logging the same
    // transfer to the same receiver again), so count hand-offs, not lines. (Transfer ids
    // alone can repeat: a node restarted with the same --seed draws the same ones.)
    let transfers: std::collections::BTreeSet<(&str, &str)> = hand_offs
        .iter()
        .filter_map(|l| {
            let word = |prefix: &str| l.split_whitespace().find(|w| w.starts_with(prefix));
            Some((word("transfer=")?, word("to=")?))
        })
        .collect();
    assert_eq!(transfers.len(), 2, "{hand_offs:?}");
    // Ring positions come from random free ports, so a newcomer's arc (and its hand-off)
    // can be tiny: both hand-offs fit one part in about one run of a hundred (CI saw 12
    // and 5 items). An item here is at most ~80 bytes, so 100 items or more need more
    // than one 2 KiB part; the simulator's scenarios pin multi-part hand-offs for sure.
    let number = |l: &str, prefix: &str| -> Option<u64> {
        l.split_whitespace()
            .find_map(|w| w.strip_prefix(prefix))
            .and_then(|n| n.parse().ok())
    };
    for l in &hand_offs {
        if number(l, "items=").is_some_and(|items| items >= 100) {
            assert!(number(l, "parts=").is_some_and(|p| p > 1), "{l}");
        }
    }
    // What an operator follows at the default level: each node saw itself elected and
    // admitted, and the hand-offs reported their progress to the last part.
    for i in 0..3 {
        let log = std::fs::read_to_string(root.join(format!("node{i}.log"))).unwrap_or_default();
        for expected in [
            "elected leader",
            "admitted to the ring",
            "registered with the ECS",
        ] {
            assert!(
                log.contains(expected),
                "node{i}.log lacks {expected:?}:\n{log}"
            );
        }
    }
    assert!(
        logs.lines().any(
            |l| l.contains("hand-off progress") && l.contains("parts=") && {
                let parts = l.split_whitespace().find(|w| w.starts_with("parts="));
                parts
                    .and_then(|w| w.trim_start_matches("parts=").split_once('/'))
                    .is_some_and(|(done, total)| done == total)
            }
        ),
        "no hand-off reported its last part:\n{logs}"
    );
}

/// Every acknowledged key is on the disk of exactly the node whose arc holds it, and no
/// node is left write-locked.
fn check_disks(specs: &[NodeSpec], acked: &BTreeMap<Bytes, Bytes>) {
    let ring = Ring::new(specs.iter().map(|s| s.admin.parse::<HostPort>().unwrap()));
    let mut total = 0;
    for spec in specs {
        let own: HostPort = spec.admin.parse().unwrap();
        let state = group::inspect(StdDisk, &spec.dir, own.clone()).unwrap();
        let kv = &state.kv;
        let expected: BTreeMap<&Bytes, &Bytes> = acked
            .iter()
            .filter(|(k, _)| ring.owner_of_key(k) == Some(&own))
            .collect();
        assert_eq!(kv.len(), expected.len(), "key count on {own}");
        for (k, v) in expected {
            assert_eq!(kv.get(k), Some(v), "{k:?} on {own}");
        }
        assert!(!state.locked, "{own} left write-locked");
        total += kv.len();
    }
    assert_eq!(total, acked.len());
}

/// Waits until the ECS's state file shows the current join at `step`.
async fn wait_for_step(root: &Path, step: &str) {
    let path = root.join("ecs").join("ecs-state");
    for _ in 0..600 {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text
            .lines()
            .any(|l| l.starts_with(&format!("join {step} ")))
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("join never reached {step}");
}

#[test]
fn an_ecs_restarted_mid_join_resumes_it() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let _logs = LogsOnPanic(root);
    let ecs_addr = format!("127.0.0.1:{}", free_port());
    let mut ecs = start_ecs(root, &ecs_addr);
    let specs: Vec<NodeSpec> = (0..2).map(|i| NodeSpec::new(root, i)).collect();
    let mut first = specs[0].start(&ecs_addr);
    let acked = run_local(async {
        wait_for_members(root, 1).await;
        write_keys(&mut client(&specs[..1], 1), "key", 0..300).await
    });

    // With the predecessor down, the join stalls at its first step on it; then the ECS
    // dies too. Both come back and the join must finish from the recorded step.
    drop(first);
    let _second = specs[1].start(&ecs_addr);
    run_local(wait_for_step(root, "lock-predecessor"));
    drop(ecs);
    first = specs[0].start(&ecs_addr);
    ecs = start_ecs(root, &ecs_addr);
    run_local(async {
        wait_for_members(root, 2).await;
        read_back(&mut client(&specs, 2), &acked).await;
    });
    drop((first, ecs, _second));
    check_disks(&specs, &acked);
}

#[test]
fn a_three_node_group_survives_kill_9_of_its_leader_while_a_client_writes() {
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let _logs = LogsOnPanic(root);
    let ecs_addr = format!("127.0.0.1:{}", free_port());
    let _ecs = start_ecs(root, &ecs_addr);
    let mut specs: Vec<NodeSpec> = (0..3).map(|i| NodeSpec::new(root, i)).collect();
    let members: Vec<String> = specs
        .iter()
        .map(|s| format!("{}/{}/{}", s.admin, s.client, s.peer))
        .collect();
    for s in &mut specs {
        s.members = members.clone();
    }
    let mut procs: Vec<Option<Proc>> = specs.iter().map(|s| Some(s.start(&ecs_addr))).collect();

    let (acked, leader) = run_local(async {
        wait_for_members(root, 1).await;
        let mut c = client(&specs, 1);
        let acked = write_keys(&mut c, "before", 0..100).await;
        let meta = metadata_with_leader(&mut c).await;
        let leader_client = meta.addresses[meta.leader_id as usize].clone();
        let leader = specs
            .iter()
            .position(|s| s.client == leader_client)
            .unwrap();
        (acked, leader)
    });

    for p in &mut procs {
        p.as_mut().expect("started").assert_running();
    }
    // kill -9 the leader while a client keeps writing: the other two elect a new leader
    // and every acknowledged write survives.
    let mut acked = acked;
    run_local(async {
        let mut writer = client(&specs, 2);
        let background =
            tokio::task::spawn_local(
                async move { write_keys(&mut writer, "during", 0..150).await },
            );
        tokio::time::sleep(Duration::from_millis(200)).await;
        drop(procs[leader].take());
        acked.extend(background.await.unwrap());
        let mut c = client(&specs, 3);
        read_back(&mut c, &acked).await;
        let meta = metadata_with_leader(&mut c).await;
        assert_ne!(
            meta.addresses[meta.leader_id as usize], specs[leader].client,
            "a new leader was elected"
        );
    });

    // The old leader comes back as a follower and catches up.
    procs[leader] = Some(specs[leader].start(&ecs_addr));
    run_local(async {
        let mut c = client(&specs, 4);
        acked.extend(write_keys(&mut c, "after", 0..20).await);
        read_back(&mut c, &acked).await;
    });
}
