//! Typed errors: each malformed line gives the variant that names its fault, with the
//! command, the argument and the offending text.

use protocol::ecs::{AddrError, FieldError, ItemError, ParseError, Reply, Request, SNIPPET_CHARS};

fn req_err(line: &str) -> ParseError {
    match Request::parse(line) {
        Ok(v) => panic!("{line:?} parsed as {v:?}"),
        Err(e) => e,
    }
}

fn reply_err(line: &str) -> ParseError {
    match Reply::parse(line) {
        Ok(v) => panic!("{line:?} parsed as {v:?}"),
        Err(e) => e,
    }
}

fn missing(command: &'static str, arg: &'static str) -> ParseError {
    ParseError::MissingArgument { command, arg }
}

#[test]
fn empty_lines() {
    for line in ["", "   ", "\r\n", "\t \r\n"] {
        assert_eq!(req_err(line), ParseError::Empty);
        assert_eq!(reply_err(line), ParseError::Empty);
    }
}

#[test]
fn unknown_commands() {
    assert_eq!(
        req_err("frobnicate 1 2"),
        ParseError::UnknownCommand {
            token: "frobnicate".into()
        }
    );
    assert_eq!(
        req_err("ok"),
        ParseError::UnknownCommand { token: "ok".into() }
    );
    assert_eq!(
        reply_err("write_lock"),
        ParseError::UnknownCommand {
            token: "write_lock".into()
        }
    );
    assert_eq!(
        reply_err("okay"),
        ParseError::UnknownCommand {
            token: "okay".into()
        }
    );
    // A long first word is quoted cut to SNIPPET_CHARS characters.
    let long = "w".repeat(1000);
    assert_eq!(
        req_err(&long),
        ParseError::UnknownCommand {
            token: format!("{}...", "w".repeat(SNIPPET_CHARS))
        }
    );
}

#[test]
fn missing_arguments() {
    assert_eq!(req_err("next_addr"), missing("next_addr", "address"));
    assert_eq!(req_err("next_addr h"), missing("next_addr", "port"));
    assert_eq!(
        req_err("transfer_range"),
        missing("transfer_range", "address")
    );
    assert_eq!(
        req_err("broadcast_node h"),
        missing("broadcast_node", "port")
    );
    assert_eq!(req_err("done h"), missing("done", "port"));
    assert_eq!(req_err("ecs_put"), missing("ecs_put", "transfer_id"));
    assert_eq!(req_err("ecs_put 1"), missing("ecs_put", "part"));
    assert_eq!(req_err("register"), missing("register", "address"));
    assert_eq!(req_err("register h"), missing("register", "port"));
    assert_eq!(req_err("cluster_view"), missing("cluster_view", "version"));
    assert_eq!(
        reply_err("error not_leader"),
        missing("not_leader", "address")
    );
    assert_eq!(
        reply_err("error not_leader h"),
        missing("not_leader", "port")
    );
}

#[test]
fn extra_arguments() {
    let extra = |command, token: &str, count| ParseError::ExtraArguments {
        command,
        token: token.into(),
        count,
    };
    assert_eq!(req_err("write_lock now"), extra("write_lock", "now", 1));
    assert_eq!(req_err("release_lock a b c"), extra("release_lock", "a", 3));
    assert_eq!(req_err("next_addr h 1 2"), extra("next_addr", "2", 1));
    assert_eq!(req_err("done h 1 x y"), extra("done", "x", 2));
    assert_eq!(reply_err("ok fine"), extra("ok", "fine", 1));
    assert_eq!(
        reply_err("error not_leader h 1 x"),
        extra("not_leader", "x", 1)
    );
    assert_eq!(
        reply_err("error not_leader unknown x"),
        ParseError::BadPort {
            command: "not_leader",
            token: "x".into()
        }
    );
}

#[test]
fn bad_ports_and_numbers() {
    let bad_port = |command, token: &str| ParseError::BadPort {
        command,
        token: token.into(),
    };
    assert_eq!(req_err("next_addr h 70000"), bad_port("next_addr", "70000"));
    assert_eq!(req_err("next_addr h x"), bad_port("next_addr", "x"));
    assert_eq!(req_err("next_addr h -1"), bad_port("next_addr", "-1"));
    assert_eq!(req_err("done h +80"), bad_port("done", "+80"));
    assert_eq!(req_err("register h 65536"), bad_port("register", "65536"));
    assert_eq!(
        reply_err("error not_leader h 99999"),
        bad_port("not_leader", "99999")
    );
    assert_eq!(
        req_err("ecs_put x 0"),
        ParseError::BadNumber {
            command: "ecs_put",
            arg: "transfer_id",
            bits: 64,
            token: "x".into()
        }
    );
    assert_eq!(
        req_err("ecs_put 1 4294967296"),
        ParseError::BadNumber {
            command: "ecs_put",
            arg: "part",
            bits: 32,
            token: "4294967296".into()
        }
    );
    assert_eq!(
        req_err("cluster_view 18446744073709551616"),
        ParseError::BadNumber {
            command: "cluster_view",
            arg: "version",
            bits: 64,
            token: "18446744073709551616".into()
        }
    );
}

#[test]
fn bad_addresses() {
    let bad = |token: &str, reason| ParseError::BadAddress {
        command: "next_addr",
        token: token.into(),
        reason,
    };
    assert_eq!(
        req_err("next_addr [::1 80"),
        bad("[::1", AddrError::UnclosedBracket)
    );
    assert_eq!(
        req_err("next_addr a/b 80"),
        bad("a/b", AddrError::BadHostChar { ch: '/' })
    );
    assert_eq!(req_err("next_addr [] 80"), bad("[]", AddrError::EmptyHost));
    assert_eq!(
        req_err("next_addr hé 80"),
        bad("hé", AddrError::BadHostChar { ch: 'é' })
    );
}

#[test]
fn bad_items() {
    assert!(matches!(
        req_err("ecs_put 1 0 aw=:dg=="),
        ParseError::BadItem {
            index: 0,
            reason: ItemError::BadBase64 { field: "key", .. },
            ..
        }
    ));
    assert!(matches!(
        req_err("ecs_put 1 0 aw==:dg== aw==:d!=="),
        ParseError::BadItem {
            index: 1,
            reason: ItemError::BadBase64 { field: "value", .. },
            ..
        }
    ));
    // Padding is required.
    assert!(matches!(
        req_err("ecs_put 1 0 aw:dg"),
        ParseError::BadItem {
            reason: ItemError::BadBase64 { field: "key", .. },
            ..
        }
    ));
    assert_eq!(
        req_err("ecs_put 1 0 aw==:dg== aw=="),
        ParseError::BadItem {
            index: 1,
            token: "aw==".into(),
            reason: ItemError::MissingSeparator
        }
    );
}

#[test]
fn bad_members_and_nodes() {
    assert_eq!(
        req_err("register g 1 a:1"),
        ParseError::BadMember {
            index: 0,
            token: "a:1".into(),
            reason: FieldError::FieldCount {
                expected: 2,
                found: 1
            }
        }
    );
    assert_eq!(
        req_err("register g 1 a:1/b:2 a:1/b:x"),
        ParseError::BadMember {
            index: 1,
            token: "a:1/b:x".into(),
            reason: FieldError::BadAddress {
                field: "client",
                reason: AddrError::BadPort { text: "x".into() }
            }
        }
    );
    assert_eq!(
        req_err("register g 1 ::1:80/b:2"),
        ParseError::BadMember {
            index: 0,
            token: "::1:80/b:2".into(),
            reason: FieldError::BadAddress {
                field: "admin",
                reason: AddrError::UnbracketedColon
            }
        }
    );
    assert_eq!(
        req_err("cluster_view 1 x/a:1/b:2/c:3"),
        ParseError::BadNode {
            index: 0,
            token: "x/a:1/b:2/c:3".into(),
            reason: FieldError::BadId { text: "x".into() }
        }
    );
    assert_eq!(
        req_err("cluster_view 1 0/a:1/b:2"),
        ParseError::BadNode {
            index: 0,
            token: "0/a:1/b:2".into(),
            reason: FieldError::FieldCount {
                expected: 4,
                found: 3
            }
        }
    );
}

#[test]
fn messages_name_the_command_and_the_fault() {
    let msg = req_err("next_addr h 70000").to_string();
    assert_eq!(
        msg,
        "next_addr: <port> must be a decimal number from 0 to 65535, got \"70000\""
    );
    let msg = req_err("ecs_put 1 0 aw==").to_string();
    assert_eq!(
        msg,
        "ecs_put: bad item 0 \"aw==\": expected <base64 key>:<base64 value>, found no ':'"
    );
    let msg = req_err("done h").to_string();
    assert_eq!(msg, "done: missing argument <port>");
}
