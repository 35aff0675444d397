//! A second hostile review of the control handshake (v2): how exactly a port compares the
//! target, and whether a connecting side can be fooled by its own proof sent back.

use super::*;

/// The port's first nonce (its RNG is seeded with 7, as in every `Port::new`).
async fn first_nonce() -> [u8; NONCE_LEN] {
    let twin = Port::new(Some(secret(1)));
    challenge_of(&raw_conversation(&twin, b"").await)
}

/// The target is compared byte for byte: every other spelling of the port's own address
/// (case, a trailing dot, a leading zero, an IPv4-mapped IPv6 form, `localhost`) and the
/// ECS's name are refused as a wrong target even with the right secret. Strict is right
/// (the proof signs the bytes, and "the same host" is not decidable here), but it means
/// every connecting side must spell a node's admin address exactly as the node's
/// `--admin` does: the ECS and the members take it from `--member` lists and `register`
/// lines, so those must agree byte for byte, or the honest cluster cannot talk.
#[tokio::test]
async fn a_target_spelled_otherwise_than_the_port_is_refused() {
    let nonce = first_nonce().await;
    for target in [
        "localhost:7001",
        "127.0.0.1:7001.",
        "127.0.0.1.:7001",
        "127.0.0.01:7001",
        "127.0.0.1:07001",
        "[::ffff:127.0.0.1]:7001",
        "127.0.0.1",
        ECS_TARGET,
        "ECS",
    ] {
        let port = Port::new(Some(secret(1)));
        let line = proof_line_for(&secret(1), &nonce, target);
        let answer = raw_conversation(&port, format!("{line}\nwrite_lock\n").as_bytes()).await;
        let lines: Vec<&str> = answer.lines().collect();
        assert_eq!(lines.len(), 2, "{target}: {answer:?}");
        assert!(
            lines[1].starts_with("error unauthenticated: the connection names"),
            "{target}: {answer:?}"
        );
        assert!(port.applied().is_empty(), "{target}");
    }
}

/// The ECS's gate is `ecs`, and refuses a proof made for a node's admin address (a
/// node's proof relayed to the ECS) just the same.
#[tokio::test]
async fn the_ecs_refuses_a_proof_made_for_a_node() {
    let ecs = || Port {
        gate: Gate::new(Some(secret(1)), Rng::from_seed(7), ECS_TARGET.to_owned()),
        applied: Rc::default(),
    };
    let nonce = challenge_of(&raw_conversation(&ecs(), b"").await);
    let port = ecs();
    let line = proof_line_for(&secret(1), &nonce, ME);
    let answer = raw_conversation(&port, format!("{line}\ndone\n").as_bytes()).await;
    assert!(answer.contains("error unauthenticated"), "{answer:?}");
    assert!(port.applied().is_empty());
    // And the right target passes (the test is not vacuous).
    let port = ecs();
    let line = proof_line_for(&secret(1), &nonce, ECS_TARGET);
    let answer = raw_conversation(&port, format!("{line}\ndone\n").as_bytes()).await;
    assert!(
        answer.lines().nth(1).unwrap().starts_with("auth_ok "),
        "{answer:?}"
    );
    assert_eq!(port.applied(), [Request::Done(None)]);
}

/// Reflection against the connecting side: an impostor without the secret sends a
/// challenge made of the connecting side's... nothing it knows, then answers the `auth`
/// line with `auth_ok` carrying the connecting side's own proof. The labels differ, so the
/// connecting side refuses it and sends nothing more.
#[tokio::test]
async fn the_connecting_side_s_own_proof_sent_back_as_auth_ok_is_refused() {
    let (client, mut impostor) = tokio::io::duplex(64 * 1024);
    let talk = async {
        let mut conn = LineConn::new(client, 4096);
        authenticate(&mut conn, &secret(1), ME, &mut Rng::from_seed(9)).await
    };
    let impostor = async {
        let challenge = format!("auth_challenge {}\n", "00".repeat(16));
        impostor.write_all(challenge.as_bytes()).await.unwrap();
        let mut line = Vec::new();
        let mut byte = [0u8; 1];
        while line.last() != Some(&b'\n') {
            impostor.read_exact(&mut byte).await.unwrap();
            line.push(byte[0]);
        }
        let line = String::from_utf8(line).unwrap();
        let Ok(AuthLine::Proof { proof, .. }) = AuthLine::parse(line.trim_end()) else {
            panic!("no auth line: {line:?}");
        };
        let back = format!("{}\n", AuthLine::Accepted(proof).to_line());
        impostor.write_all(back.as_bytes()).await.unwrap();
        let mut rest = String::new();
        impostor.read_to_string(&mut rest).await.unwrap();
        rest
    };
    let (result, rest) = within(async { tokio::join!(talk, impostor) }).await;
    assert!(
        matches!(result, Err(LineError::PortUnproven(_))),
        "{result:?}"
    );
    assert_eq!(rest, "");
}
