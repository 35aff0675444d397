//! The `cluster` launcher as a person uses it: up, `join` and `restart` from another
//! command while it runs, logs kept across restarts, SIGTERM stops every child and frees
//! its ports, and a second cluster on busy ports is refused before it starts anything.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use bytes::Bytes;
use node::client::{Client, ClientConfig};
use node::io::{Rng, TokioNet};
use node::ring::Ring;
use protocol::ecs::HostPort;

mod common;

const CLUSTER: &str = env!("CARGO_BIN_EXE_cluster");

/// A base port with its next 12 ports free, as far as a bind can tell.
fn free_base() -> u16 {
    common::free_ports(13)
}

/// Starts `cluster` and returns it with a channel of its stdout lines.
fn start(dir: &Path, base: u16, layout: &[&str]) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(CLUSTER)
        .args(["--dir", dir.to_str().unwrap()])
        .args(layout)
        .args(["--base-port", &base.to_string(), "--stagger-ms", "100"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cluster starts");
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

fn wait_for(lines: &mpsc::Receiver<String>, text: &str) -> String {
    loop {
        match lines.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if line.contains(text) => return line,
            Ok(_) => {}
            Err(e) => panic!("no line with {text:?}: {e}"),
        }
    }
}

fn cluster(args: &[&str]) -> (bool, String) {
    let out = Command::new(CLUSTER)
        .args(args)
        .output()
        .expect("cluster runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// A put and a get by a fresh client (its own seed: a client id reused with a restarted
/// sequence would be answered from the session table, not applied).
fn put_and_get(addr: String, key: &str, seed: u64) {
    node::cli::run_local(async move {
        let config = ClientConfig {
            seeds: vec![addr],
            deadline: Duration::from_secs(30),
            ..ClientConfig::default()
        };
        let mut c = Client::new(TokioNet, config, Rng::from_seed(seed));
        c.put(key.to_owned(), "v").await.unwrap();
        assert_eq!(c.get(key.to_owned()).await.unwrap(), Some(Bytes::from("v")));
    })
    .unwrap();
}

const KV: &str = env!("CARGO_BIN_EXE_kv");

/// `kv --addr ADDR ARGS...`'s standard output; panics unless it succeeds.
fn kv(args: &[&str]) -> String {
    let out = Command::new(KV)
        .arg("--addr")
        .args(args)
        .output()
        .expect("kv runs");
    assert!(
        out.status.success(),
        "kv {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `kv ring --json` once it shows `groups` groups, each serving with a leader.
fn wait_for_ring(addr: &str, groups: usize) -> serde_json::Value {
    let mut last = String::new();
    for _ in 0..100 {
        last = kv(&[addr, "--json", "ring"]);
        let ring: serde_json::Value = serde_json::from_str(&last).unwrap();
        let ready = ring["groups"].as_array().is_some_and(|g| {
            g.len() == groups
                && g.iter()
                    .all(|g| g["state"] == "serving" && !g["leader"].is_null())
        });
        if ready {
            return ring;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("the ring never showed {groups} serving groups: {last}");
}

#[test]
fn join_restart_sigterm_and_busy_ports() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let base = free_base();
    let (mut up, lines) = start(dir.path(), base, &["--groups", "1"]);
    wait_for(&lines, "cluster up");
    let client0 = format!("127.0.0.1:{}", base + 1);
    put_and_get(client0.clone(), "before", 1);

    // A second cluster on the same folder, or the same ports, starts nothing.
    let other = tempfile::tempdir().unwrap();
    let base_port = base.to_string();
    for (folder, refusal) in [
        (d, "another cluster"),
        (other.path().to_str().unwrap(), "ports in use"),
    ] {
        let (ok, said) = cluster(&["--dir", folder, "--groups", "1", "--base-port", &base_port]);
        assert!(!ok && said.contains(refusal), "{said}");
    }

    let (ok, said) = cluster(&["join", "--dir", d]);
    assert!(ok && said.contains("started group 1 (node1)"), "{said}");
    // kv ring shows both groups serving, each with a leader, their ranges meeting; kv
    // owner names the group the ring of their admin addresses gives.
    let kv_addr = format!("127.0.0.1:{}", base + 1);
    let ring = wait_for_ring(&kv_addr, 2);
    let groups = ring["groups"].as_array().unwrap();
    assert_eq!(groups[0]["end"], groups[1]["start"], "{ring}");
    assert_eq!(groups[1]["end"], groups[0]["start"], "{ring}");
    let admins: Vec<HostPort> = [base + 2, base + 5]
        .iter()
        .map(|p| format!("127.0.0.1:{p}").parse().unwrap())
        .collect();
    let expected = Ring::new(admins);
    for key in ["alpha", "beta", "gamma", "delta"] {
        let out = kv(&[&kv_addr, "--json", "owner", key]);
        let owner: serde_json::Value = serde_json::from_str(&out).unwrap();
        let want = expected.owner_of_key(key.as_bytes()).unwrap().to_string();
        assert_eq!(owner["group"], want.as_str(), "{out}");
    }
    // kv status asks the ECS (with the cluster's secret): both groups admitted, nothing
    // queued, no join left running; without the secret the ECS does not answer it.
    let ecs = format!("127.0.0.1:{base}");
    let secret = dir.path().join("secret");
    let out = kv(&[
        &kv_addr,
        "--json",
        "status",
        "--ecs",
        &ecs,
        "--secret-file",
        secret.to_str().unwrap(),
    ]);
    let status: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(status["members"].as_array().map(Vec::len), Some(2), "{out}");
    assert_eq!(status["queue"].as_array().map(Vec::len), Some(0), "{out}");
    assert!(status["join"].is_null(), "{out}");
    let refused = Command::new(KV)
        .args(["status", "--ecs", &ecs])
        .output()
        .unwrap();
    assert!(
        !refused.status.success(),
        "status answered without the secret"
    );
    let (ok, said) = cluster(&["restart", "node0", "--dir", d]);
    assert!(ok && said.contains("started node0 again"), "{said}");
    let (ok, said) = cluster(&["restart", "node7", "--dir", d]);
    assert!(!ok && said.contains("no process named"), "{said}");
    // The restarted node's previous log is kept, not truncated.
    let old = std::fs::read_to_string(dir.path().join("node0.log.1")).unwrap();
    assert!(old.contains("node starting"), "{old}");
    put_and_get(client0, "after", 2);

    // SIGTERM: every child is stopped and waited for; their ports are free again.
    let pid = libc::pid_t::try_from(up.id()).unwrap();
    // SAFETY: kill(2) on the child this test spawned and has not reaped.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let status = up.wait().unwrap();
    assert!(status.success(), "{status}");
    for port in [base, base + 1, base + 2, base + 4, base + 5] {
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", port)).is_ok(),
            "port {port} still held after SIGTERM"
        );
    }
    let (ok, said) = cluster(&["join", "--dir", d]);
    assert!(!ok && said.contains("no cluster is running"), "{said}");
}

/// A group of three real processes with the cluster secret: its members must pass the
/// peer handshake over TCP to elect a leader and replicate, then serve a put and a get.
/// With a member whose peer proofs fail, no leader could be elected and the put would
/// time out.
#[test]
fn a_group_of_three_with_the_secret_elects_a_leader_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let base = free_base();
    let (mut up, lines) = start(dir.path(), base, &["--groups", "1", "--group-size", "3"]);
    wait_for(&lines, "cluster up");
    assert!(dir.path().join("secret").exists(), "cluster made no secret");
    put_and_get(format!("127.0.0.1:{}", base + 1), "replicated", 3);
    let logs: String = (0..3)
        .map(|i| std::fs::read_to_string(dir.path().join(format!("node{i}.log"))).unwrap())
        .collect();
    assert!(logs.contains("elected leader"), "{logs}");
    assert!(!logs.contains("failed to prove"), "{logs}");
    // SAFETY: kill(2) on the child this test spawned and has not reaped.
    unsafe {
        libc::kill(libc::pid_t::try_from(up.id()).unwrap(), libc::SIGTERM);
    }
    assert!(up.wait().unwrap().success());
}
