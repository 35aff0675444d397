//! Garbage and hand-typed lines on the node's and the ECS's ports: each gets a clear
//! answer, only the offending connection closes, and everyone else is still served.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use node::client::{Client, ClientConfig};
use node::ecs::EcsConfig;
use node::io::{Rng, StdDisk, TokioNet};
use node::server::NodeConfig;
use protocol::client::{Packet, PROTOCOL_VERSION};
use protocol::Limits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

mod common;

use common::{start_ecs_and_node, SingleNode};

/// Sends `text` and reads until the peer has answered `lines` lines.
async fn talk(stream: &mut TcpStream, text: &str, lines: usize) -> String {
    stream.write_all(text.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    while got.iter().filter(|&&b| b == b'\n').count() < lines {
        let mut buf = [0u8; 1024];
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap();
        assert!(
            n > 0,
            "connection closed early; got {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(got).unwrap()
}

/// Reads packets until the connection closes.
async fn packets_until_close(stream: &mut TcpStream) -> Vec<Packet> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    loop {
        while let Ok(Some((p, used))) = Packet::decode(&buf, &Limits::DEFAULT) {
            let _ = buf.split_to(used);
            out.push(p);
        }
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read_buf(&mut buf))
            .await
            .expect("the node answers or closes")
            .unwrap_or(0);
        if n == 0 {
            return out;
        }
    }
}

#[test]
fn garbage_gets_an_error_and_closes_only_its_own_connection() {
    let dir = tempfile::tempdir().unwrap();
    node::cli::run_local(async {
        let SingleNode {
            ecs: ecs_addr,
            admin,
            client: client_addr,
        } = start_ecs_and_node(dir.path());

        let config = ClientConfig {
            seeds: vec![client_addr.clone()],
            deadline: Duration::from_secs(20),
            ..ClientConfig::default()
        };
        let mut client = Client::new(TokioNet, config, Rng::from_seed(2));
        client.put(Bytes::from("k"), Bytes::from("v")).await.unwrap();

        // A person at the admin port, typing with telnet line endings and odd spacing.
        let mut typed = TcpStream::connect(&admin).await.unwrap();
        let answer = talk(&mut typed, "  WRITE_LOCK \r\nfrobnicate now\nnext_addr onlyhost\n", 3).await;
        let lines: Vec<&str> = answer.lines().collect();
        assert_eq!(lines[0], "ok");
        assert!(lines[1].starts_with("error ") && lines[1].contains("frobnicate"), "{}", lines[1]);
        assert!(lines[2].starts_with("error ") && lines[2].contains("next_addr"), "{}", lines[2]);
        // The seed answers every message `ok` or `error`: a blank line too, each its own.
        let answer = talk(&mut typed, "\n \t\r\n", 2).await;
        assert_eq!(answer, "error empty line\nerror empty line\n");
        let answer = talk(&mut typed, "release_lock\n", 1).await;
        assert_eq!(answer, "ok\n", "the connection survives mistyped lines");

        // Bytes that are not a line (not UTF-8) close that admin connection only.
        let mut binary = TcpStream::connect(&admin).await.unwrap();
        binary.write_all(b"\xff\xfe\xfd\n").await.unwrap();
        let mut rest = String::new();
        binary.read_to_string(&mut rest).await.unwrap();
        assert!(rest.starts_with("error "), "{rest:?}");

        // The ECS port too.
        let mut ecs = TcpStream::connect(&ecs_addr).await.unwrap();
        let answer = talk(&mut ecs, "write_lock\nregister a 1\n", 2).await;
        assert!(answer.lines().all(|l| l.starts_with("error ")), "{answer}");

        // Garbage on the client port: an 'e' naming the fault, then the connection closes.
        let mut garbage = TcpStream::connect(&client_addr).await.unwrap();
        garbage.write_all(b"Zhello").await.unwrap();
        let got = packets_until_close(&mut garbage).await;
        assert!(
            matches!(got.as_slice(), [Packet::ErrorResponse(m)] if m.contains("0x5a")),
            "{got:?}"
        );
        // An authorization type the seed does not define: the seed's refusal, 'a' false
        // with a reason, then the connection closes (the bytes after it are not read).
        let mut stranger = TcpStream::connect(&client_addr).await.unwrap();
        stranger.write_all(b"AQsome-token").await.unwrap();
        let got = packets_until_close(&mut stranger).await;
        assert!(
            matches!(got.as_slice(), [Packet::AuthorizationResponse(protocol::client::Outcome::Rejected(r))] if r.contains("unsupported authorization type 0x51")),
            "{got:?}"
        );
        // Skipping the handshake is refused the same way.
        let mut rude = TcpStream::connect(&client_addr).await.unwrap();
        let mut out = BytesMut::new();
        Packet::ClusterMetadataRequest.encode(&mut out);
        rude.write_all(&out).await.unwrap();
        let got = packets_until_close(&mut rude).await;
        assert!(matches!(got.as_slice(), [Packet::ErrorResponse(_)]), "{got:?}");
        // An incompatible version gets a 'b' with a reason.
        let mut old = TcpStream::connect(&client_addr).await.unwrap();
        let mut out = BytesMut::new();
        Packet::AuthorizationRequest(protocol::client::AuthMethod::None).encode(&mut out);
        Packet::BootstrapRequest { major: PROTOCOL_VERSION.0 + 1, minor: 0, patch: 0 }.encode(&mut out);
        old.write_all(&out).await.unwrap();
        let got = packets_until_close(&mut old).await;
        assert!(
            matches!(got.as_slice(), [Packet::AuthorizationResponse(_), Packet::BootstrapResponse(protocol::client::Outcome::Rejected(r))] if r.contains("version")),
            "{got:?}"
        );

        // Everyone else is still served.
        assert_eq!(client.get(Bytes::from("k")).await.unwrap(), Some(Bytes::from("v")));
    })
    .expect("a current-thread runtime");
}

/// Without a cluster secret, neither a node's admin port nor the ECS's may listen where
/// other machines reach it: each refuses to start, saying why, before binding anything.
#[test]
fn control_ports_open_to_other_machines_need_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut node_config = NodeConfig::new(
            "127.0.0.1:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
            "127.0.0.1:3".into(),
            dir.path().join("node"),
        );
        node_config.admin_bind = "0.0.0.0:0".into();
        let e = node::server::run(TokioNet, StdDisk, Rng::from_seed(1), node_config)
            .await
            .unwrap_err();
        assert!(
            matches!(e, node::server::NodeError::OpenAdminPort { .. }),
            "{e}"
        );
        assert!(e.to_string().contains("--secret-file"), "{e}");
        let ecs_config = EcsConfig::new("0.0.0.0:0".into(), dir.path().join("ecs"));
        let e = node::ecs::run(TokioNet, StdDisk, Rng::from_seed(2), ecs_config)
            .await
            .unwrap_err();
        assert!(matches!(e, node::ecs::EcsError::OpenPort { .. }), "{e}");
        assert!(e.to_string().contains("--secret-file"), "{e}");
    });
    assert!(
        !dir.path().join("node").exists() && !dir.path().join("ecs").exists(),
        "refused before touching storage"
    );
}

/// A port that another process holds stops the ECS and the node at once, with an error
/// that names which of their ports it was and where.
#[test]
fn a_busy_port_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let squatter = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = squatter.local_addr().unwrap().to_string();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tokio::task::LocalSet::new().block_on(&rt, async {
        let ecs_config = EcsConfig::new(busy.clone(), dir.path().join("ecs"));
        let e = node::ecs::run(TokioNet, StdDisk, Rng::from_seed(3), ecs_config)
            .await
            .unwrap_err();
        assert!(matches!(e, node::ecs::EcsError::Listen { .. }), "{e}");
        assert!(
            e.to_string().starts_with(&format!("ECS port {busy}: ")),
            "{e}"
        );
        let node_config = NodeConfig::new(
            busy.parse().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
            "127.0.0.1:1".into(),
            dir.path().join("node"),
        );
        let e = node::server::run(TokioNet, StdDisk, Rng::from_seed(4), node_config)
            .await
            .unwrap_err();
        assert!(
            e.to_string().starts_with(&format!("admin port {busy}: ")),
            "{e}"
        );
    });
}

/// Without a cluster secret the peer handshake proves nothing, so a node of a group of
/// more than one refuses to bind its Raft peer port anywhere other machines reach (a
/// wildcard, an IPv4-mapped loopback, a name other than `localhost`), before it touches
/// storage.
#[test]
fn a_peer_port_open_to_other_machines_needs_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        for bind in [
            "0.0.0.0:0",
            "[::]:0",
            "[::ffff:127.0.0.1]:0",
            "localhost.:0",
        ] {
            let mut config = NodeConfig::new(
                "127.0.0.1:1".parse().unwrap(),
                "127.0.0.1:2".parse().unwrap(),
                "127.0.0.1:3".into(),
                dir.path().join("node"),
            );
            config.members.push(protocol::ecs::Member {
                admin: "127.0.0.1:4".parse().unwrap(),
                client: "127.0.0.1:5".parse().unwrap(),
            });
            config.group = node::group::GroupSpec::member(
                protocol::peer::PeerId(0),
                2,
                [(protocol::peer::PeerId(1), "127.0.0.1:6".to_string())].into(),
            );
            config.peer_bind = Some(bind.into());
            let e = node::server::run(TokioNet, StdDisk, Rng::from_seed(1), config)
                .await
                .unwrap_err();
            assert!(
                matches!(e, node::server::NodeError::OpenPeerPort { .. }),
                "{bind}: {e}"
            );
            assert!(e.to_string().contains("--secret-file"), "{bind}: {e}");
        }
    });
    assert!(
        !dir.path().join("node").exists(),
        "refused before touching storage"
    );
}

/// `node` and `ecs` sync their data directory before they read it (what a killed process
/// left unsynced must not be trusted), so a data directory that is a file stops each of
/// them at that step, with the path in the error.
#[test]
fn the_binaries_sync_the_data_directory_before_reading_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("data");
    std::fs::write(&file, b"not a directory").unwrap();
    let file = file.to_str().unwrap();
    let node = std::process::Command::new(env!("CARGO_BIN_EXE_node"))
        .args(["--admin", "127.0.0.1:1", "--client", "127.0.0.1:2"])
        .args(["--ecs", "127.0.0.1:3", "--data-dir", file])
        .output()
        .unwrap();
    let ecs = std::process::Command::new(env!("CARGO_BIN_EXE_ecs"))
        .args(["--bind", "127.0.0.1:0", "--data-dir", file])
        .output()
        .unwrap();
    for (name, out) in [("node", node), ("ecs", ecs)] {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}: {stderr}");
        assert!(
            stderr.contains(&format!("syncing what {file} holds before reading it")),
            "{name}: {stderr}"
        );
        assert!(stderr.contains("not a directory"), "{name}: {stderr}");
    }
}
