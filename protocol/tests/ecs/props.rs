//! Property round trips: for every request and reply variant, with arbitrary hosts and
//! binary keys and values, `parse(to_line(x)) == x`, and the line is one clean line.

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use protocol::ecs::{
    split_line, ClusterView, HostPort, Item, Member, NodeEntry, PutPart, Register, Reply, Request,
    SessionEntry, DEFAULT_MAX_LINE_LEN,
};

/// Hosts: DNS-like names, IPv6-like texts (with `:`, so bracketed in `host:port`), and
/// any printable ASCII a host may hold.
pub fn host() -> impl Strategy<Value = String> {
    let any_printable = proptest::collection::vec(
        proptest::char::range('!', '~').prop_filter("not / [ ]", |c| !"/[]".contains(*c)),
        1..24,
    )
    .prop_map(|cs| cs.into_iter().collect::<String>());
    prop_oneof![
        "[a-z0-9][a-z0-9.-]{0,30}",
        "[0-9a-f]{0,4}(:[0-9a-f]{0,4}){1,7}",
        any_printable,
    ]
}

pub fn host_port() -> impl Strategy<Value = HostPort> {
    (host(), any::<u16>()).prop_map(|(h, p)| HostPort::new(h, p).expect("strategy host"))
}

fn bytes(max: usize) -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..max).prop_map(Bytes::from)
}

pub fn item() -> impl Strategy<Value = Item> {
    (bytes(40), bytes(80)).prop_map(|(key, value)| Item { key, value })
}

/// A session entry with any id, sequence, key and answer bytes.
pub fn session() -> impl Strategy<Value = SessionEntry> {
    (any::<u64>(), any::<u64>(), bytes(40), bytes(40)).prop_map(
        |(client_id, sequence, key, answer)| SessionEntry {
            client_id,
            sequence,
            key,
            answer,
        },
    )
}

fn member() -> impl Strategy<Value = Member> {
    (host_port(), host_port()).prop_map(|(admin, client)| Member { admin, client })
}

fn node() -> impl Strategy<Value = NodeEntry> {
    (any::<u32>(), host_port(), host_port(), host_port()).prop_map(|(id, ring, admin, client)| {
        NodeEntry {
            id,
            ring,
            admin,
            client,
        }
    })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        Just(Request::WriteLock),
        Just(Request::ReleaseLock),
        Just(Request::AbortJoin),
        Just(Request::Status),
        host_port().prop_map(Request::NextAddr),
        host_port().prop_map(Request::TransferRange),
        host_port().prop_map(Request::BroadcastNode),
        host_port().prop_map(Request::RemoveGroup),
        (host_port(), host_port()).prop_map(|(to, end)| Request::HandOver { to, end }),
        (any::<u32>(), any::<u32>()).prop_map(|(acked, total)| Request::Progress { acked, total }),
        proptest::option::of(host_port()).prop_map(Request::Done),
        (
            any::<u64>(),
            any::<u32>(),
            vec(item(), 0..6),
            vec(session(), 0..3)
        )
            .prop_map(|(transfer_id, part, items, sessions)| {
                Request::EcsPut(PutPart {
                    transfer_id,
                    part,
                    items,
                    sessions,
                })
            }),
        (host_port(), vec(member(), 0..5))
            .prop_map(|(ring, members)| Request::Register(Register { ring, members })),
        (any::<u64>(), vec(node(), 0..5))
            .prop_map(|(version, nodes)| Request::ClusterView(ClusterView { version, nodes })),
        (host_port(), vec(member(), 0..5))
            .prop_map(|(ring, members)| Request::GroupMembers(Register { ring, members })),
    ]
}

/// Any request, tagged with a join or not.
pub fn tagged_request() -> impl Strategy<Value = Request> {
    (request(), proptest::option::of(any::<u64>())).prop_map(|(r, join)| match join {
        Some(j) => r.for_join(j),
        None => r,
    })
}

/// A reason that reads back unchanged: no control characters, no surrounding spaces,
/// and not starting with the word `not_leader`.
fn reason() -> impl Strategy<Value = String> {
    prop_oneof!["[ -~]{0,40}", "\\PC{0,20}"]
        .prop_map(|s| s.trim().to_owned())
        .prop_filter("reserved word", |s| {
            !s.split(' ')
                .next()
                .is_some_and(|w| w.eq_ignore_ascii_case("not_leader"))
        })
}

fn reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        Just(Reply::Ok),
        reason().prop_map(Reply::Error),
        proptest::option::of(host_port()).prop_map(Reply::NotLeader),
        reason().prop_map(Reply::Status),
    ]
}

/// A canonical line is one line: no CR or LF, no surrounding whitespace, and it comes
/// back whole through the framing.
fn assert_clean_line(line: &str) -> Result<(), TestCaseError> {
    prop_assert!(!line.contains(['\n', '\r']), "line break in {line:?}");
    prop_assert_eq!(line.trim(), line);
    let framed = format!("{line}\r\n");
    prop_assert_eq!(
        split_line(framed.as_bytes(), DEFAULT_MAX_LINE_LEN),
        Ok(Some((line, framed.len())))
    );
    Ok(())
}

proptest! {
    #[test]
    fn requests_round_trip(r in tagged_request()) {
        let line = r.to_line();
        assert_clean_line(&line)?;
        prop_assert_eq!(Request::parse(&line), Ok(r.clone()));
        // Whatever the case of the keyword and the spacing, the value is the same.
        let shouty = line.replacen(r.keyword(), &r.keyword().to_uppercase(), 1);
        let spread = format!(" \t{}\r\n", shouty.replace(' ', " \t "));
        prop_assert_eq!(Request::parse(&spread), Ok(r.clone()));
        if let Request::EcsPut(part) = &r {
            prop_assert_eq!(part.line_len(), line.len());
        }
    }

    #[test]
    fn replies_round_trip(r in reply()) {
        let line = r.to_line();
        assert_clean_line(&line)?;
        prop_assert_eq!(Reply::parse(&line), Ok(r));
    }

    #[test]
    fn host_port_text_round_trips(a in host_port()) {
        let text = a.to_string();
        prop_assert_eq!(text.parse::<HostPort>(), Ok(a));
    }

    #[test]
    fn item_tokens_round_trip(i in item()) {
        let token = i.to_token();
        prop_assert_eq!(token.len(), i.token_len());
        prop_assert_eq!(Item::from_token(&token), Ok(i));
    }

    #[test]
    fn session_tokens_round_trip(e in session()) {
        let token = e.to_token();
        prop_assert_eq!(token.len(), e.token_len());
        prop_assert!(SessionEntry::is_token(&token));
        prop_assert_eq!(SessionEntry::from_token(&token), Ok(e));
    }
}
