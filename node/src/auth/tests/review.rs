//! A hostile review of the handshake: pipelining, odd spellings of the proof, proofs of
//! other nonces, lines after `ok`, and connections that never finish the handshake. Each
//! test passes when the port does the right thing.

use std::time::Duration;

use super::*;

/// How long a port may wait for an unauthenticated peer's proof before it gives up.
const PATIENCE: Duration = Duration::from_secs(20);

/// The first nonce a `Port::new` gate sends (its RNG is seeded with 7), and the right
/// proof line for it with `secret(1)`.
async fn first_nonce_and_proof() -> ([u8; NONCE_LEN], String) {
    let twin = Port::new(Some(secret(1)));
    let nonce = challenge_of(&raw_conversation(&twin, b"").await);
    (nonce, proof_line(&secret(1), &nonce))
}

/// The second nonce a `Port::new` gate sends.
async fn second_nonce() -> [u8; NONCE_LEN] {
    let twin = Port::new(Some(secret(1)));
    raw_conversation(&twin, b"").await;
    challenge_of(&raw_conversation(&twin, b"").await)
}

fn assert_refused(answer: &str) {
    let lines: Vec<&str> = answer.lines().collect();
    assert_eq!(lines.len(), 2, "a challenge, a refusal, closed: {answer:?}");
    challenge_of(answer);
    assert!(lines[1].starts_with("error unauthenticated"), "{answer:?}");
}

#[tokio::test]
async fn a_wrong_proof_pipelined_with_requests_in_one_segment_applies_nothing() {
    let port = Port::new(Some(secret(1)));
    let wrong = proof_line(&secret(2), &[0; NONCE_LEN]);
    let answer = raw_conversation(
        &port,
        format!("{wrong}\nwrite_lock\nnext_addr 127.0.0.1 9\nrelease_lock\n").as_bytes(),
    )
    .await;
    assert_refused(&answer);
    assert!(port.applied().is_empty());
}

#[tokio::test]
async fn a_right_proof_pipelined_with_requests_serves_them_after_ok() {
    let (_, proof) = first_nonce_and_proof().await;
    let port = Port::new(Some(secret(1)));
    // One write: proof (CRLF-terminated, as telnet sends), then two requests.
    let answer = raw_conversation(
        &port,
        format!("{proof}\r\nwrite_lock join=3\nrelease_lock join=3\n").as_bytes(),
    )
    .await;
    let lines: Vec<&str> = answer.lines().collect();
    assert!(lines[1].starts_with("auth_ok "), "{answer:?}");
    assert_eq!(lines[2..], ["ok", "ok"], "{answer:?}");
    assert_eq!(port.applied().len(), 2);
}

#[tokio::test]
async fn upper_case_hex_and_extra_whitespace_are_the_same_proof() {
    let (_, proof) = first_nonce_and_proof().await;
    let args = proof.strip_prefix("auth ").unwrap().to_ascii_uppercase();
    let args = args
        .replace(' ', " \t ")
        .replace(&ME.to_ascii_uppercase(), ME);
    let port = Port::new(Some(secret(1)));
    let answer = raw_conversation(
        &port,
        format!("\n  \t\n  AuTh \t {args}  \r\nwrite_lock\n").as_bytes(),
    )
    .await;
    let lines: Vec<&str> = answer.lines().collect();
    assert!(lines[1].starts_with("auth_ok "), "{answer:?}");
    assert_eq!(lines[2..], ["ok"]);
    assert_eq!(port.applied(), [Request::WriteLock]);
}

#[tokio::test]
async fn malformed_proofs_are_refused_and_apply_nothing() {
    let (_, proof) = first_nonce_and_proof().await;
    let args = proof.strip_prefix("auth ").unwrap();
    let hex = &args[..64];
    let nonce = &args[65..97];
    for first in [
        "auth".to_string(),
        "auth ".to_string(),
        format!("auth {hex}"),
        format!("auth {hex} {nonce}"),
        format!("auth {} {nonce} {ME}", &hex[..63]),
        format!("auth {hex}0 {nonce} {ME}"),
        format!("auth {}g {nonce} {ME}", &hex[..63]),
        format!("auth {args} write_lock"),
        format!("auth 0x{} {nonce} {ME}", &hex[..62]),
        format!("auth_challenge {}", &hex[..32]),
        format!("authwrite_lock {args}"),
        // A proof whose hex has a multi-byte character where a digit should be.
        format!("auth {}é {nonce} {ME}", &hex[..62]),
    ] {
        let port = Port::new(Some(secret(1)));
        let answer = raw_conversation(
            &port,
            format!("{first}\nwrite_lock\nrelease_lock\n").as_bytes(),
        )
        .await;
        assert_refused(&answer);
        assert!(port.applied().is_empty(), "{first:?}");
    }
}

#[tokio::test]
async fn a_proof_of_another_nonce_of_the_same_port_is_refused() {
    // The attacker saw a legitimate proof for the port's second nonce (or predicted it)
    // and offers it on the port's first connection.
    let second = second_nonce().await;
    let port = Port::new(Some(secret(1)));
    let other = proof_line(&secret(1), &second);
    let answer = raw_conversation(&port, format!("{other}\nwrite_lock\n").as_bytes()).await;
    assert_refused(&answer);
    assert!(port.applied().is_empty());
}

#[tokio::test]
async fn a_proof_without_the_label_is_refused() {
    // HMAC over the bare nonce (no domain-separation label) is not the proof.
    let (nonce, _) = first_nonce_and_proof().await;
    let mut mac = <HmacSha256 as Mac>::new_from_slice(&[1u8; SECRET_LEN]).unwrap();
    mac.update(&nonce);
    let bare: [u8; PROOF_LEN] = mac.finalize().into_bytes().into();
    let port = Port::new(Some(secret(1)));
    let line = AuthLine::Proof {
        proof: bare,
        nonce: DIAL_NONCE,
        target: ME.to_owned(),
    };
    let answer = raw_conversation(
        &port,
        format!("{}\nwrite_lock\n", line.to_line()).as_bytes(),
    )
    .await;
    assert_refused(&answer);
    assert!(port.applied().is_empty());
}

#[tokio::test]
async fn a_second_auth_after_ok_is_an_unknown_request_and_changes_nothing() {
    let (_, proof) = first_nonce_and_proof().await;
    let port = Port::new(Some(secret(1)));
    let answer = raw_conversation(
        &port,
        format!(
            "{proof}\n{proof}\nauth_challenge {}\nwrite_lock\n",
            "0".repeat(32)
        )
        .as_bytes(),
    )
    .await;
    let lines: Vec<&str> = answer.lines().collect();
    assert_eq!(lines.len(), 5, "{answer:?}");
    assert!(lines[1].starts_with("auth_ok "), "{answer:?}");
    assert!(lines[2].starts_with("error"), "{answer:?}");
    assert!(lines[3].starts_with("error"), "{answer:?}");
    assert_eq!(lines[4], "ok");
    assert_eq!(port.applied(), [Request::WriteLock]);
}

#[tokio::test]
async fn a_partial_line_then_close_applies_nothing() {
    let port = Port::new(Some(secret(1)));
    let answer = raw_conversation(&port, b"write_lock").await;
    assert_eq!(answer.lines().count(), 1, "only the challenge: {answer:?}");
    assert!(port.applied().is_empty());
    let (_, proof) = first_nonce_and_proof().await;
    let port = Port::new(Some(secret(1)));
    // A right proof without its newline is not a line: nothing is admitted.
    let answer = raw_conversation(&port, proof.as_bytes()).await;
    assert_eq!(answer.lines().count(), 1, "{answer:?}");
    assert!(port.applied().is_empty());
}

#[tokio::test]
async fn an_overlong_first_line_closes_the_connection_and_applies_nothing() {
    let port = Port::new(Some(secret(1)));
    let mut bytes = vec![b'a'; 5000];
    bytes.extend_from_slice(b"\nwrite_lock\n");
    let answer = raw_conversation(&port, &bytes).await;
    assert!(!answer.contains("ok"), "{answer:?}");
    assert!(port.applied().is_empty());
}

#[tokio::test]
async fn a_captured_auth_line_is_useless_on_a_second_connection_to_the_same_port() {
    let port = Port::new(Some(secret(1)));
    let (_, proof) = first_nonce_and_proof().await;
    // The first connection uses it honestly...
    let first = raw_conversation(&port, format!("{proof}\nwrite_lock\n").as_bytes()).await;
    let first: Vec<&str> = first.lines().collect();
    assert!(first[1].starts_with("auth_ok "), "{first:?}");
    assert_eq!(first[2..], ["ok"]);
    // ...an eavesdropper sends it again on the next one.
    let again = raw_conversation(&port, format!("{proof}\nrelease_lock\n").as_bytes()).await;
    assert_refused(&again);
    assert_eq!(port.applied(), [Request::WriteLock]);
}

/// A port must not wait forever for the proof: an attacker who opens connections and
/// never answers (or answers one byte an hour) holds a task and a buffer per connection.
#[tokio::test]
async fn a_connection_that_never_answers_the_challenge_is_closed() {
    let port = Port::new(Some(secret(1)));
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    let idle = async {
        let mut buf = [0u8; 256];
        let n = client.read(&mut buf).await.unwrap();
        challenge_of(std::str::from_utf8(&buf[..n]).unwrap());
        // Keep the connection open, send nothing, and wait for the port to close it.
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
    };
    let served =
        tokio::time::timeout(PATIENCE, async { tokio::join!(idle, port.serve(server)) }).await;
    assert!(
        served.is_ok(),
        "the port still waits for the proof after {PATIENCE:?}"
    );
    assert!(port.applied().is_empty());
}

/// Before the proof, a port reads at most an auth line's worth of bytes: an attacker who
/// does not know the secret cannot make it buffer (and rescan) a megabyte per connection.
#[tokio::test]
async fn a_first_line_longer_than_any_auth_line_closes_the_connection_at_once() {
    let port = Port::new(Some(secret(1)));
    let (mut client, server) = tokio::io::duplex(64 * 1024);
    let flood = async {
        client.write_all(&[b'0'; 1024]).await.unwrap();
        // No newline and no close: a port that waits for the rest of the line hangs.
        let mut rest = Vec::new();
        client.read_to_end(&mut rest).await.unwrap();
        String::from_utf8(rest).unwrap()
    };
    let served = tokio::time::timeout(Duration::from_secs(2), async {
        tokio::join!(flood, port.serve(server)).0
    })
    .await;
    let answer = served.expect("the port buffers a 1 KiB first line, waiting for more");
    assert!(!answer.contains("\nok"), "{answer:?}");
    assert!(port.applied().is_empty());
}

/// `Rng::from_entropy` seeds the nonce stream of every real port. If its seed is the
/// clock and the pid, an attacker who connects once (every connection is sent a nonce)
/// and knows roughly when the process started recovers the seed offline and predicts
/// every later nonce of the port (and of the RNG's forks: transfer ids, the node's gate).
#[test]
fn a_real_binarys_rng_is_not_recoverable_from_the_start_time_and_pid() {
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = Rng::from_entropy();
    let after = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let observed = [rng.next_u64(), rng.next_u64()];
    // The attacker's search: every nanosecond of the window, with this pid (a container
    // often runs its one process as a small, known pid).
    let pid = u64::from(std::process::id()).rotate_left(32);
    let window = after.saturating_sub(before).min(10_000_000);
    let found = (0..=window).any(|dt| {
        let mut guess = Rng::from_seed((before + dt) ^ pid);
        [guess.next_u64(), guess.next_u64()] == observed
    });
    assert!(
        !found,
        "the nonce stream was reproduced from the wall clock and the pid"
    );
}

#[cfg(unix)]
mod files {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn a_dangling_symlink_at_the_path_is_not_followed_when_creating() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let target = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        let made = Secret::load_or_create(&path, || Ok([9; SECRET_LEN]));
        assert!(made.is_err(), "{made:?}");
        assert!(
            !target.exists(),
            "the secret was written through the symlink"
        );
    }

    #[test]
    fn an_existing_file_others_may_read_is_refused_not_fixed_or_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, format!("{}\n", "ab".repeat(32))).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let made = Secret::load_or_create(&path, || panic!("must not create over a file"));
        assert!(
            matches!(made, Err(SecretFileError::TooOpen { .. })),
            "{made:?}"
        );
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o644
        );
    }

    #[test]
    fn either_case_and_either_line_end_read_the_same_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        for text in [
            "ab".repeat(32),
            format!("{}\n", "AB".repeat(32)),
            format!("{}\r\n", "aB".repeat(32)),
        ] {
            std::fs::write(&path, &text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            assert_eq!(Secret::load(&path).unwrap(), secret(0xab), "{text:?}");
        }
        for text in [
            format!(" {}\n", "ab".repeat(32)),
            format!("{} \n", "ab".repeat(32)),
            format!("\u{feff}{}\n", "ab".repeat(32)),
            format!("{}\n", "ab".repeat(16)),
        ] {
            std::fs::write(&path, &text).unwrap();
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

/// Reads from `stream` up to and including the first newline.
async fn read_one_line(stream: &mut DuplexStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.last() != Some(&b'\n') {
        if stream.read(&mut byte).await.unwrap() == 0 {
            break;
        }
        line.push(byte[0]);
    }
    String::from_utf8(line).unwrap()
}

/// The relay of the review (fixed since): a host that an honest party connects to (the
/// ECS broadcasting to a member's admin address that now belongs to someone else, a
/// hand-off sender dialling a receiver's address) passes a real port's challenge on to it,
/// gets it signed, and relays the proof to the real port. The proof names the address the
/// honest side dialled, so the real port refuses it, and a relay that rewrites the name
/// breaks the proof; the honest side, which never saw the port's own proof, sends nothing.
#[tokio::test]
async fn a_challenge_relayed_through_an_honest_connecting_side_does_not_admit_the_relay() {
    for rewrite_target in [false, true] {
        let port = Port::new(Some(secret(1)));
        let (mut to_port, server) = tokio::io::duplex(64 * 1024);
        let (honest_end, mut relay_end) = tokio::io::duplex(64 * 1024);
        let relay = async {
            let challenge = read_one_line(&mut to_port).await;
            relay_end.write_all(challenge.as_bytes()).await.unwrap();
            let mut proof = read_one_line(&mut relay_end).await;
            if rewrite_target {
                proof = proof.replace(RELAY, ME);
            }
            to_port
                .write_all(format!("{proof}write_lock\n").as_bytes())
                .await
                .unwrap();
            to_port.shutdown().await.unwrap();
            let mut rest = String::new();
            to_port.read_to_string(&mut rest).await.unwrap();
            // Whatever the port said, the honest side hears a bare `ok`.
            relay_end.write_all(b"ok\n").await.unwrap();
            rest
        };
        let honest = async {
            let mut conn = LineConn::new(honest_end, 4096);
            authenticate(&mut conn, &secret(1), RELAY, &mut Rng::from_seed(9)).await
        };
        let (answer, honest_result, ()) =
            within(async { tokio::join!(relay, honest, port.serve(server)) }).await;
        assert!(
            matches!(honest_result, Err(LineError::PortUnproven(_))),
            "the honest side must not believe a port that proved nothing: {honest_result:?}"
        );
        assert!(
            port.applied().is_empty(),
            "the relay was admitted and its write_lock applied: {answer:?}"
        );
        // The relay read the challenge itself; the rest is the port's verdict.
        let refusal = answer.lines().next().unwrap_or_default();
        let why = if rewrite_target {
            "the proof does not match"
        } else {
            "names \"10.9.9.9:7001\" but this port is \"127.0.0.1:7001\""
        };
        assert!(refusal.contains(why), "{answer:?}");
    }
}

/// The address the honest side dialled in the relay test: the relay's.
const RELAY: &str = "10.9.9.9:7001";

/// An impostor at an address the honest side dials (it does not hold the secret) answers
/// the proof with `ok` or a forged `auth_ok`: the honest side refuses it and sends no
/// request (a hand-off sender would otherwise stream a range's values to it).
#[tokio::test]
async fn an_impostor_port_gets_no_request() {
    for answer in ["ok".to_string(), format!("auth_ok {}", "ab".repeat(32))] {
        let (client, mut impostor) = tokio::io::duplex(64 * 1024);
        let talk = async {
            let mut conn = LineConn::new(client, 4096);
            authenticate(&mut conn, &secret(1), ME, &mut Rng::from_seed(9)).await
        };
        let impostor = async {
            let challenge = format!("auth_challenge {}\n", "00".repeat(16));
            impostor.write_all(challenge.as_bytes()).await.unwrap();
            read_one_line(&mut impostor).await;
            impostor
                .write_all(format!("{answer}\n").as_bytes())
                .await
                .unwrap();
            let mut rest = String::new();
            impostor.read_to_string(&mut rest).await.unwrap();
            rest
        };
        let (result, rest) = within(async { tokio::join!(talk, impostor) }).await;
        assert!(
            matches!(result, Err(LineError::PortUnproven(_))),
            "{answer}: {result:?}"
        );
        assert_eq!(rest, "", "{answer}: nothing after the proof");
    }
}
