//! The handshake end to end over in-memory streams, through `serve_requests` (the server
//! side every port runs), and the secret file.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

use protocol::ecs::{Reply, Request};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

use super::*;
use crate::lines::serve_requests;

fn secret(byte: u8) -> Secret {
    Secret::from_bytes([byte; SECRET_LEN])
}

fn peer() -> SocketAddr {
    "127.0.0.1:9".parse().unwrap()
}

/// The admin address the test port answers to.
const ME: &str = "127.0.0.1:7001";

/// The nonce the tests' connecting side sends in its `auth` line.
const DIAL_NONCE: [u8; NONCE_LEN] = [0x5a; NONCE_LEN];

/// The `auth` line a connecting side holding `secret` sends for the port's `nonce`,
/// meaning to reach [`ME`].
fn proof_line(secret: &Secret, nonce: &[u8; NONCE_LEN]) -> String {
    proof_line_for(secret, nonce, ME)
}

/// The `auth` line for the port's `nonce`, meaning to reach `target`.
fn proof_line_for(secret: &Secret, nonce: &[u8; NONCE_LEN], target: &str) -> String {
    let handshake = Handshake {
        port_nonce: *nonce,
        dial_nonce: DIAL_NONCE,
        target,
    };
    AuthLine::Proof {
        proof: handshake.proof(secret, Side::Dialler),
        nonce: DIAL_NONCE,
        target: target.to_owned(),
    }
    .to_line()
}

/// Whether `line` is the port's `auth_ok` for `nonce` (and [`DIAL_NONCE`], [`ME`]).
fn is_accepted(line: &str, secret: &Secret, nonce: &[u8; NONCE_LEN]) -> bool {
    let handshake = Handshake {
        port_nonce: *nonce,
        dial_nonce: DIAL_NONCE,
        target: ME,
    };
    matches!(AuthLine::parse(line), Ok(AuthLine::Accepted(p)) if handshake.verify(secret, Side::Acceptor, &p))
}

/// A port guarded by `gate` whose handler records every request it is given (what would
/// be applied) and answers `ok`.
struct Port {
    gate: Gate,
    applied: Rc<RefCell<Vec<Request>>>,
}

impl Port {
    fn new(secret: Option<Secret>) -> Port {
        Port {
            gate: Gate::new(secret, Rng::from_seed(7), ME.to_owned()),
            applied: Rc::default(),
        }
    }

    /// Serves one connection on `stream` until it ends.
    async fn serve(&self, stream: DuplexStream) {
        let applied = self.applied.clone();
        serve_requests(
            LineConn::new(stream, 4096),
            peer(),
            "test",
            &self.gate,
            move |r| {
                applied.borrow_mut().push(r);
                std::future::ready(Reply::Ok)
            },
        )
        .await;
    }

    fn applied(&self) -> Vec<Request> {
        self.applied.borrow().clone()
    }
}

/// Writes `bytes` as a raw client, half-closes, and returns everything the port answered
/// until it closed.
async fn raw_conversation(port: &Port, bytes: &[u8]) -> String {
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    let talk = async {
        client.write_all(bytes).await.unwrap();
        client.shutdown().await.unwrap();
        let mut out = String::new();
        client.read_to_string(&mut out).await.unwrap();
        out
    };
    within(async { tokio::join!(talk, port.serve(server)).0 }).await
}

/// Runs a conversation, failing the test if it hangs (a side waiting for a line the
/// other never sends) rather than hanging the test run.
async fn within<T>(conversation: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(std::time::Duration::from_secs(5), conversation)
        .await
        .expect("the conversation hung: one side waits for a line the other never sends")
}

/// Connects as [`authenticate`] does, then sends `requests`; returns the handshake's
/// result and the replies.
async fn client_conversation(
    port: &Port,
    secret: &Secret,
    requests: &[Request],
) -> (Result<(), LineError>, Vec<String>) {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let talk = async move {
        let mut conn = LineConn::new(client, 4096);
        let result = authenticate(&mut conn, secret, ME, &mut Rng::from_seed(9)).await;
        let mut replies = Vec::new();
        if result.is_ok() {
            for r in requests {
                replies.push(format!("{:?}", conn.request(r).await));
            }
        }
        (result, replies)
    };
    within(async { tokio::join!(talk, port.serve(server)).0 }).await
}

fn challenge_of(answer: &str) -> [u8; NONCE_LEN] {
    match AuthLine::parse(answer.lines().next().unwrap()) {
        Ok(AuthLine::Challenge(n)) => n,
        other => panic!("no challenge first: {other:?} in {answer:?}"),
    }
}

#[tokio::test]
async fn the_right_secret_is_admitted_and_its_requests_served() {
    let port = Port::new(Some(secret(1)));
    let (result, replies) = client_conversation(
        &port,
        &secret(1),
        &[Request::WriteLock, Request::ReleaseLock],
    )
    .await;
    result.unwrap();
    assert_eq!(replies, ["Ok(Ok)", "Ok(Ok)"]);
    assert_eq!(port.applied(), [Request::WriteLock, Request::ReleaseLock]);
}

#[tokio::test]
async fn a_wrong_secret_is_refused_and_nothing_is_applied() {
    let port = Port::new(Some(secret(1)));
    let (result, _) = client_conversation(&port, &secret(2), &[Request::WriteLock]).await;
    match result {
        Err(LineError::Refused(why)) => assert!(why.starts_with("error unauthenticated"), "{why}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(port.applied().is_empty());
}

#[tokio::test]
async fn lines_without_auth_are_refused_and_the_connection_closes() {
    let port = Port::new(Some(secret(1)));
    let answer =
        raw_conversation(&port, b"write_lock\nnext_addr 127.0.0.1 9\nrelease_lock\n").await;
    let lines: Vec<&str> = answer.lines().collect();
    assert_eq!(
        lines.len(),
        2,
        "a challenge, one refusal, then closed: {answer:?}"
    );
    challenge_of(&answer);
    assert!(lines[1].starts_with("error unauthenticated"), "{answer:?}");
    assert!(port.applied().is_empty());
}

#[tokio::test]
async fn lines_before_a_correct_auth_are_refused_and_nothing_is_applied() {
    let port = Port::new(Some(secret(1)));
    // The gate's first nonce, learned from a twin gate with the same seed: the proof
    // below is right for this connection, but comes after a request.
    let twin = Port::new(Some(secret(1)));
    let nonce = challenge_of(&raw_conversation(&twin, b"").await);
    let proof = proof_line(&secret(1), &nonce);
    let answer = raw_conversation(
        &port,
        format!("write_lock\n{proof}\nrelease_lock\n").as_bytes(),
    )
    .await;
    assert_eq!(challenge_of(&answer), nonce);
    assert_challenged_then_refused(&answer);
    assert!(port.applied().is_empty());
}

#[tokio::test]
async fn a_captured_conversation_replayed_on_a_new_connection_is_refused() {
    let port = Port::new(Some(secret(1)));
    // An honest conversation, recorded byte for byte as its client wrote it.
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    let honest = async {
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while !got.contains(&b'\n') {
            let n = client.read(&mut buf).await.unwrap();
            got.extend_from_slice(&buf[..n]);
        }
        let nonce = challenge_of(std::str::from_utf8(&got).unwrap());
        let sent = format!(
            "{}\nwrite_lock join=3\nrelease_lock join=3\n",
            proof_line(&secret(1), &nonce)
        );
        client.write_all(sent.as_bytes()).await.unwrap();
        client.shutdown().await.unwrap();
        let mut rest = String::new();
        client.read_to_string(&mut rest).await.unwrap();
        let lines: Vec<&str> = rest.lines().collect();
        assert!(is_accepted(lines[0], &secret(1), &nonce), "{rest:?}");
        assert_eq!(lines[1..], ["ok", "ok"]);
        sent
    };
    let (captured, ()) = within(async { tokio::join!(honest, port.serve(server)) }).await;
    assert_eq!(port.applied().len(), 2);
    // The same bytes on a new connection: a new nonce, so the old proof fails.
    let answer = raw_conversation(&port, captured.as_bytes()).await;
    assert_challenged_then_refused(&answer);
    assert_eq!(port.applied().len(), 2, "the replay applied nothing");
}

#[tokio::test]
async fn every_connection_gets_a_fresh_nonce() {
    let port = Port::new(Some(secret(1)));
    let a = challenge_of(&raw_conversation(&port, b"").await);
    let b = challenge_of(&raw_conversation(&port, b"").await);
    assert_ne!(a, b);
}

#[tokio::test]
async fn an_open_port_speaks_the_seed_protocol() {
    let port = Port::new(None);
    let answer = raw_conversation(&port, b"write_lock\n").await;
    assert_eq!(answer, "ok\n");
    assert_eq!(port.applied(), [Request::WriteLock]);
}

#[tokio::test]
async fn a_client_with_a_secret_reports_a_port_that_sends_no_challenge() {
    let (client, mut server) = tokio::io::duplex(4096);
    // A port without a secret answers the first request; this one answers at once.
    server.write_all(b"ok\n").await.unwrap();
    let result = authenticate(
        &mut LineConn::new(client, 4096),
        &secret(1),
        ME,
        &mut Rng::from_seed(9),
    )
    .await;
    assert!(
        matches!(result, Err(LineError::NoChallenge(_))),
        "{result:?}"
    );
}

#[test]
fn the_proofs_are_hmac_sha256_over_label_nonces_and_target() {
    // Computed independently: python3 -c 'import hmac,hashlib; m=b"ringkv control dial
    // v2\n"+bytes(range(16))+bytes(range(16,32))+b"127.0.0.1:7001";
    // print(hmac.new(bytes([1]*32),m,hashlib.sha256).hexdigest())' (and "accept").
    let handshake = Handshake {
        port_nonce: std::array::from_fn(|i| i as u8),
        dial_nonce: std::array::from_fn(|i| 16 + i as u8),
        target: "127.0.0.1:7001",
    };
    let dial = handshake.proof(&secret(1), Side::Dialler);
    let accept = handshake.proof(&secret(1), Side::Acceptor);
    assert_eq!(
        to_hex(&dial),
        "5d77be579e04c03da0d32014d74bfca1f4c97ed64a3a724ba4adbdd023500c22"
    );
    assert_eq!(
        to_hex(&accept),
        "b86228cc9f04d5202d539782d816448554b696f2ad8f6bb33c97f00b5cfe68b5"
    );
    assert!(handshake.verify(&secret(1), Side::Dialler, &dial));
    assert!(
        !handshake.verify(&secret(1), Side::Acceptor, &dial),
        "reflected"
    );
    assert!(!handshake.verify(&secret(2), Side::Dialler, &dial));
    assert!(!handshake.verify(&secret(1), Side::Dialler, &[0u8; PROOF_LEN]));
    let elsewhere = Handshake {
        target: "127.0.0.1:7002",
        ..handshake
    };
    assert!(
        !elsewhere.verify(&secret(1), Side::Dialler, &dial),
        "another target"
    );
}

#[test]
fn secret_debug_does_not_print_it() {
    assert_eq!(format!("{:?}", secret(0xab)), "Secret(..)");
}

#[cfg(unix)]
mod files {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_missing_file_is_created_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let (made, created) = Secret::load_or_create(&path, || Ok([9; SECRET_LEN])).unwrap();
        assert!(created);
        assert_eq!(made, secret(9));
        assert_eq!(mode(&path), 0o600);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", "09".repeat(32))
        );
        // A second call reads it and does not draw new bytes.
        let (again, created) =
            Secret::load_or_create(&path, || panic!("must not create twice")).unwrap();
        assert!(!created);
        assert_eq!(again, made);
        assert_eq!(Secret::load(&path).unwrap(), made);
    }

    #[test]
    fn a_file_others_may_read_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        Secret::load_or_create(&path, || Ok([9; SECRET_LEN])).unwrap();
        for open in [0o640, 0o604, 0o660, 0o620, 0o602] {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(open)).unwrap();
            match Secret::load(&path) {
                Err(e @ SecretFileError::TooOpen { .. }) => {
                    assert!(e.to_string().contains("chmod 600"), "{e}")
                }
                other => panic!("mode {open:o} accepted: {other:?}"),
            }
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        assert_eq!(Secret::load(&path).unwrap(), secret(9));
    }

    #[test]
    fn a_file_without_64_hex_digits_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        for text in [
            "",
            "abc\n",
            &"0".repeat(63),
            &format!("{}\n\n", "1".repeat(64)),
            // A lone CR is not a line end (the file format says: digits, then \n or \r\n).
            &format!("{}\r", "1".repeat(64)),
        ] {
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            assert!(
                matches!(
                    Secret::load(&path),
                    Err(SecretFileError::BadContents { .. })
                ),
                "{text:?}"
            );
        }
    }
}

#[cfg(unix)]
mod file_hardening {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn private_file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        (dir, path)
    }

    /// A hostile review found these accepted: a placeholder of zeros, and both line ends
    /// still work.
    #[test]
    fn an_all_zero_secret_is_refused_and_both_line_ends_read() {
        let (_d, zeros) = private_file(&format!("{}\n", "0".repeat(64)));
        assert!(matches!(
            Secret::load(&zeros),
            Err(SecretFileError::AllZero { .. })
        ));
        for end in ["", "\n", "\r\n"] {
            let (_d, path) = private_file(&format!("{}{end}", "09".repeat(32)));
            assert_eq!(Secret::load(&path).unwrap(), secret(9), "{end:?}");
        }
    }

    /// A file another user owns is refused even with mode 0600: they could replace it, or
    /// have read it before. Needs root to give the file away; skipped (said so) otherwise.
    #[test]
    fn a_file_another_user_owns_is_refused() {
        // SAFETY: geteuid(2) has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("SKIPPED a_file_another_user_owns_is_refused: needs root to chown");
            return;
        }
        let (_d, path) = private_file(&format!("{}\n", "09".repeat(32)));
        std::os::unix::fs::chown(&path, Some(4242), None).unwrap();
        match Secret::load(&path) {
            Err(e @ SecretFileError::NotOwner { owner: 4242, .. }) => {
                assert!(e.to_string().contains("user 4242"), "{e}")
            }
            other => panic!("a file owned by uid 4242 was taken: {other:?}"),
        }
    }
}

#[test]
fn only_loopback_binds_count_as_private() {
    for private in [
        "127.0.0.1:7002",
        "127.1.2.3:1",
        "[::1]:7002",
        "localhost:7002",
    ] {
        assert!(is_loopback_bind(private), "{private}");
    }
    for public in [
        "0.0.0.0:7002",
        "[::]:7002",
        "10.0.0.1:7002",
        "example.org:7002",
        "n1:7002",
    ] {
        assert!(!is_loopback_bind(public), "{public}");
    }
}

/// The port's whole answer was its challenge, then one refusal (and the connection closed).
fn assert_challenged_then_refused(answer: &str) {
    assert_eq!(answer.lines().count(), 2, "{answer:?}");
    assert!(
        answer
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("error unauthenticated"),
        "{answer:?}"
    );
}

mod review;
