//! The peer protocol: golden vectors, corruption, round trips, garbage and limits.

use std::collections::BTreeSet;

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::prelude::*;
use protocol::peer::{
    marker, max_body_len, AppendEntries, AppendEntriesReply, Entry, Hello, HelloProof, HelloReply,
    InstallSnapshot, InstallSnapshotReply, LogIndex, PeerId, PeerMessage, RequestVote,
    RequestVoteReply, Term, BODY_ALLOWANCE, HEADER_LEN, NONCE_LEN, PROOF_LEN, TRAILER_LEN,
};
use protocol::{DecodeError, Limits};

// ---------------------------------------------------------------------------------------
// Golden vectors

const VECTORS: &str = include_str!("vectors/peer.txt");

/// `(name, bytes)` for each block of `vectors/peer.txt`.
fn vectors() -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut in_hex = false;
    for line in VECTORS.lines() {
        if let Some(name) = line.strip_prefix("===") {
            out.push((name.trim().to_owned(), String::new()));
            in_hex = true;
        } else if line.starts_with("---") {
            in_hex = false;
        } else if in_hex {
            let hex = line.split('#').next().unwrap_or("");
            let (_, acc) = out.last_mut().expect("hex before the first ===");
            acc.extend(hex.chars().filter(|c| !c.is_whitespace()));
        }
    }
    out.into_iter()
        .map(|(name, hex)| {
            assert!(hex.len() % 2 == 0, "{name}: odd number of hex digits");
            let bytes = (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digit"))
                .collect();
            (name, bytes)
        })
        .collect()
}

/// `N` bytes counting up from `first`.
fn counting<const N: usize>(first: u8) -> [u8; N] {
    std::array::from_fn(|i| first + i as u8)
}

/// The message each golden vector must decode to, built independently of the bytes.
fn expected(name: &str) -> Option<PeerMessage> {
    let m: PeerMessage = match name {
        "hello" => Hello {
            from: PeerId(3),
            to: PeerId(1),
            nonce: counting(0x00),
        }
        .into(),
        "hello_reply" => HelloReply {
            from: PeerId(1),
            nonce: counting(0x10),
            proof: counting(0x20),
        }
        .into(),
        "hello_proof" => HelloProof {
            proof: counting(0x40),
        }
        .into(),
        "request_vote" => RequestVote {
            term: Term(7),
            candidate: PeerId(2),
            last_log_index: LogIndex(41),
            last_log_term: Term(6),
            pre_vote: false,
        }
        .into(),
        "request_vote_pre_vote" => RequestVote {
            term: Term(8),
            candidate: PeerId(2),
            last_log_index: LogIndex(41),
            last_log_term: Term(6),
            pre_vote: true,
        }
        .into(),
        "request_vote_reply" => RequestVoteReply {
            term: Term(4_294_967_303),
            vote_granted: true,
            pre_vote: false,
        }
        .into(),
        "append_entries" => AppendEntries {
            term: Term(7),
            leader: PeerId(1),
            prev_log_index: LogIndex(41),
            prev_log_term: Term(6),
            leader_commit: LogIndex(40),
            entries: vec![
                Entry {
                    term: Term(7),
                    data: Bytes::from_static(b"x=1"),
                },
                Entry {
                    term: Term(7),
                    data: Bytes::new(),
                },
            ],
            round: 5,
        }
        .into(),
        "append_entries_heartbeat" => AppendEntries {
            term: Term(7),
            leader: PeerId(1),
            prev_log_index: LogIndex(43),
            prev_log_term: Term(7),
            leader_commit: LogIndex(43),
            entries: vec![],
            round: 6,
        }
        .into(),
        "append_entries_reply" => AppendEntriesReply {
            term: Term(7),
            success: true,
            last_log_index: LogIndex(43),
            round: 6,
        }
        .into(),
        "append_entries_reply_reject" => AppendEntriesReply {
            term: Term(7),
            success: false,
            last_log_index: LogIndex(16),
            round: 5,
        }
        .into(),
        "install_snapshot" => InstallSnapshot {
            term: Term(7),
            leader: PeerId(1),
            last_included_index: LogIndex(100),
            last_included_term: Term(6),
            offset: 4096,
            data: Bytes::from_static(&[0xde, 0xad, 0xbe, 0xef]),
            done: true,
        }
        .into(),
        "install_snapshot_reply" => InstallSnapshotReply {
            term: Term(7),
            next_offset: 4100,
        }
        .into(),
        _ => return None,
    };
    Some(m)
}

fn encode(m: &PeerMessage) -> Vec<u8> {
    let mut out = BytesMut::new();
    m.encode(&mut out);
    out.to_vec()
}

fn decode(buf: &[u8]) -> Result<Option<(PeerMessage, usize)>, DecodeError> {
    PeerMessage::decode(buf, &Limits::DEFAULT)
}

#[test]
fn golden_vectors_decode_encode_and_need_more_bytes_when_cut() {
    let vectors = vectors();
    assert_eq!(
        vectors.len(),
        12,
        "vectors/peer.txt changed; update this test"
    );
    let mut markers = BTreeSet::new();
    for (name, bytes) in &vectors {
        let want = expected(name).unwrap_or_else(|| panic!("no expected message for {name}"));
        assert_eq!(
            decode(bytes),
            Ok(Some((want.clone(), bytes.len()))),
            "{name}: decode"
        );
        assert_eq!(&encode(&want), bytes, "{name}: encode");
        assert_eq!(want.encoded_len(), bytes.len(), "{name}: encoded_len");
        for cut in 0..bytes.len() {
            assert_eq!(
                decode(&bytes[..cut]),
                Ok(None),
                "{name}: prefix of {cut} bytes"
            );
        }
        markers.insert(bytes[0]);
    }
    assert_eq!(
        markers,
        marker::ALL.into_iter().collect(),
        "every marker has a golden vector"
    );
}

#[test]
fn golden_frames_back_to_back_decode_one_at_a_time() {
    let vectors = vectors();
    let stream: Vec<u8> = vectors.iter().flat_map(|(_, b)| b.clone()).collect();
    let mut pos = 0;
    for (name, bytes) in &vectors {
        let (m, used) = decode(&stream[pos..]).expect("valid").expect("complete");
        assert_eq!(Some(m), expected(name));
        assert_eq!(used, bytes.len());
        pos += used;
    }
    assert_eq!(pos, stream.len());
}

// ---------------------------------------------------------------------------------------
// Corruption

#[test]
fn any_single_bit_flip_in_a_golden_frame_is_caught() {
    for (name, bytes) in vectors() {
        for byte in 0..bytes.len() {
            for bit in 0..8 {
                let mut bad = bytes.clone();
                bad[byte] ^= 1 << bit;
                let got = decode(&bad);
                if byte >= HEADER_LEN {
                    // Body or trailer: the CRC32 catches every single-bit error, and it is
                    // checked before the body is parsed.
                    assert!(
                        matches!(got, Err(DecodeError::BadChecksum { .. })),
                        "{name}: byte {byte} bit {bit}: {got:?}"
                    );
                } else {
                    // Marker or length: unknown marker, bad length, a checksum mismatch, or
                    // waiting for a body that is now longer; never a message.
                    assert!(
                        !matches!(got, Ok(Some(_))),
                        "{name}: byte {byte} bit {bit}: {got:?}"
                    );
                }
            }
        }
    }
}

/// Builds a frame around `body` with a correct CRC, so the body parser is what gets tested.
fn frame(marker: u8, body: &[u8]) -> Vec<u8> {
    let mut f = vec![marker];
    f.extend_from_slice(&i32::try_from(body.len()).expect("small").to_be_bytes());
    f.extend_from_slice(body);
    let crc = crc32fast::hash(&f);
    f.extend_from_slice(&crc.to_be_bytes());
    f
}

fn body_of(m: &PeerMessage) -> Vec<u8> {
    let f = encode(m);
    f[HEADER_LEN..f.len() - TRAILER_LEN].to_vec()
}

#[test]
fn checksum_is_checked_before_the_body_is_parsed() {
    // A body one byte short, under a wrong CRC: the answer is the CRC, not the body.
    let mut f = frame(b'v', &[0; 9]);
    let last = f.len() - 1;
    f[last] ^= 0xff;
    assert!(matches!(decode(&f), Err(DecodeError::BadChecksum { .. })));
    // The same body under a right CRC is a short body.
    assert_eq!(
        decode(&frame(b'v', &[0; 9])),
        Err(DecodeError::Truncated {
            what: "RequestVoteReply"
        })
    );
}

#[test]
fn malformed_bodies_under_a_valid_checksum_are_typed_errors() {
    let reply: PeerMessage = AppendEntriesReply {
        term: Term(1),
        success: true,
        last_log_index: LogIndex(2),
        round: 3,
    }
    .into();
    let mut body = body_of(&reply);
    body.push(0);
    assert_eq!(
        decode(&frame(b'a', &body)),
        Err(DecodeError::TrailingBytes(1))
    );

    let mut body = body_of(&reply);
    body[8] = 2; // success flag
    assert_eq!(
        decode(&frame(b'a', &body)),
        Err(DecodeError::UnknownInnerMarker {
            what: "success flag",
            marker: 2
        })
    );

    // An entry whose data length runs past the end of the body.
    let ae: PeerMessage = AppendEntries {
        term: Term(1),
        leader: PeerId(1),
        prev_log_index: LogIndex(0),
        prev_log_term: Term(0),
        leader_commit: LogIndex(0),
        entries: vec![Entry {
            term: Term(1),
            data: Bytes::from_static(b"abc"),
        }],
        round: 1,
    }
    .into();
    let mut body = body_of(&ae);
    assert_eq!(&body[48..52], &[0, 0, 0, 3]);
    // Data length 3 -> 12, one more than the body holds after it (3 data, 8 round).
    body[51] = 12;
    assert_eq!(
        decode(&frame(b'A', &body)),
        Err(DecodeError::Truncated {
            what: "AppendEntries"
        })
    );

    // A negative entry count.
    let mut body = body_of(&ae);
    body[36..40].copy_from_slice(&(-1i32).to_be_bytes());
    assert_eq!(
        decode(&frame(b'A', &body)),
        Err(DecodeError::NegativeLength {
            what: "entries",
            len: -1
        })
    );
}

#[test]
fn unknown_markers_fail_on_the_first_byte() {
    for b in 0..=255u8 {
        let got = decode(&[b]);
        if marker::ALL.contains(&b) {
            assert_eq!(got, Ok(None));
        } else {
            assert_eq!(got, Err(DecodeError::UnknownMarker(b)));
        }
    }
}

// ---------------------------------------------------------------------------------------
// Limits

#[test]
fn an_oversized_length_is_refused_from_the_header_alone() {
    let small = Limits {
        max_field_len: 1024,
        max_array_len: 4,
    };
    let max = max_body_len(&small);
    assert_eq!(max, 1024 + BODY_ALLOWANCE);
    for m in marker::ALL {
        let mut header = vec![m];
        header.extend_from_slice(&u32::try_from(max + 1).unwrap().to_be_bytes());
        assert_eq!(
            PeerMessage::decode(&header, &small),
            Err(DecodeError::TooLong {
                what: "peer frame body",
                len: max + 1,
                max
            })
        );
        // At the bound, the header alone just waits for the body.
        let mut header = vec![m];
        header.extend_from_slice(&u32::try_from(max).unwrap().to_be_bytes());
        assert_eq!(PeerMessage::decode(&header, &small), Ok(None));
    }
    // The defaults: a 2 GiB claim is refused without waiting for 2 GiB.
    let header = [b'A', 0x7f, 0xff, 0xff, 0xff];
    assert!(matches!(
        decode(&header),
        Err(DecodeError::TooLong {
            len: 0x7fff_ffff,
            ..
        })
    ));
    let header = [b'S', 0xff, 0xff, 0xff, 0xfe];
    assert_eq!(
        decode(&header),
        Err(DecodeError::NegativeLength {
            what: "peer frame body",
            len: -2
        })
    );
}

#[test]
fn one_full_size_field_always_fits_a_frame() {
    let small = Limits {
        max_field_len: 1024,
        max_array_len: 4,
    };
    let full = Bytes::from(vec![0xa5; 1024]);
    let ae: PeerMessage = AppendEntries {
        term: Term(u64::MAX),
        leader: PeerId(i32::MAX as u32),
        prev_log_index: LogIndex(u64::MAX),
        prev_log_term: Term(u64::MAX),
        leader_commit: LogIndex(u64::MAX),
        entries: vec![Entry {
            term: Term(u64::MAX),
            data: full.clone(),
        }],
        round: u64::MAX,
    }
    .into();
    let snap: PeerMessage = InstallSnapshot {
        term: Term(1),
        leader: PeerId(1),
        last_included_index: LogIndex(1),
        last_included_term: Term(1),
        offset: 0,
        data: full.clone(),
        done: false,
    }
    .into();
    for m in [ae, snap] {
        let bytes = encode(&m);
        assert!(m.body_len() <= max_body_len(&small));
        assert_eq!(
            PeerMessage::decode(&bytes, &small),
            Ok(Some((m, bytes.len())))
        );
    }
    // One byte more in the field is refused by the field's own limit.
    let over: PeerMessage = InstallSnapshot {
        term: Term(1),
        leader: PeerId(1),
        last_included_index: LogIndex(1),
        last_included_term: Term(1),
        offset: 0,
        data: Bytes::from(vec![0; 1025]),
        done: false,
    }
    .into();
    assert!(matches!(
        PeerMessage::decode(&encode(&over), &small),
        Err(DecodeError::TooLong {
            what: "snapshot chunk",
            len: 1025,
            max: 1024
        })
    ));
}

#[test]
fn entry_count_is_bounded_by_max_array_len() {
    let small = Limits {
        max_field_len: 1024,
        max_array_len: 2,
    };
    let entry = Entry {
        term: Term(1),
        data: Bytes::new(),
    };
    let ae = |n: usize| -> PeerMessage {
        AppendEntries {
            term: Term(1),
            leader: PeerId(1),
            prev_log_index: LogIndex(0),
            prev_log_term: Term(0),
            leader_commit: LogIndex(0),
            entries: vec![entry.clone(); n],
            round: 1,
        }
        .into()
    };
    let two = ae(2);
    let bytes = encode(&two);
    assert_eq!(
        PeerMessage::decode(&bytes, &small),
        Ok(Some((two, bytes.len())))
    );
    assert_eq!(
        PeerMessage::decode(&encode(&ae(3)), &small),
        Err(DecodeError::TooLong {
            what: "entries",
            len: 3,
            max: 2
        })
    );
}

// ---------------------------------------------------------------------------------------
// Round trips

fn check_roundtrip(m: PeerMessage) -> Result<(), TestCaseError> {
    let bytes = encode(&m);
    prop_assert_eq!(bytes.len(), m.encoded_len());
    prop_assert_eq!(bytes[0], m.marker());
    prop_assert_eq!(decode(&bytes), Ok(Some((m.clone(), bytes.len()))));
    // A following frame's first bytes do not change what the first one decodes to.
    let mut two = bytes.clone();
    two.extend_from_slice(&bytes[..bytes.len() / 2]);
    prop_assert_eq!(decode(&two), Ok(Some((m, bytes.len()))));
    prop_assert_eq!(decode(&bytes[..bytes.len() - 1]), Ok(None));
    prop_assert_eq!(decode(&bytes[..HEADER_LEN]), Ok(None));
    Ok(())
}

fn term() -> impl Strategy<Value = Term> {
    any::<u64>().prop_map(Term)
}

fn index() -> impl Strategy<Value = LogIndex> {
    any::<u64>().prop_map(LogIndex)
}

/// Node ids travel as Int32 on the client wire, so generate only what a cluster can use.
fn peer() -> impl Strategy<Value = PeerId> {
    (0..=i32::MAX as u32).prop_map(PeerId)
}

fn data() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..256).prop_map(Bytes::from)
}

fn entry() -> impl Strategy<Value = Entry> {
    (term(), data()).prop_map(|(term, data)| Entry { term, data })
}

proptest! {
    #[test]
    fn hello_roundtrips(from in peer(), to in peer(), nonce in any::<[u8; NONCE_LEN]>()) {
        check_roundtrip(Hello { from, to, nonce }.into())?;
    }

    #[test]
    fn hello_reply_roundtrips(
        from in peer(), nonce in any::<[u8; NONCE_LEN]>(), proof in any::<[u8; PROOF_LEN]>(),
    ) {
        check_roundtrip(HelloReply { from, nonce, proof }.into())?;
    }

    #[test]
    fn hello_proof_roundtrips(proof in any::<[u8; PROOF_LEN]>()) {
        check_roundtrip(HelloProof { proof }.into())?;
    }

    #[test]
    fn request_vote_roundtrips(
        term in term(), candidate in peer(), last_log_index in index(),
        last_log_term in term(), pre_vote in any::<bool>(),
    ) {
        check_roundtrip(
            RequestVote { term, candidate, last_log_index, last_log_term, pre_vote }.into(),
        )?;
    }

    #[test]
    fn request_vote_reply_roundtrips(
        term in term(), vote_granted in any::<bool>(), pre_vote in any::<bool>(),
    ) {
        check_roundtrip(RequestVoteReply { term, vote_granted, pre_vote }.into())?;
    }

    #[test]
    fn append_entries_roundtrips(
        term in term(), leader in peer(), prev_log_index in index(), prev_log_term in term(),
        leader_commit in index(), entries in vec(entry(), 0..16), round in any::<u64>(),
    ) {
        check_roundtrip(
            AppendEntries {
                term, leader, prev_log_index, prev_log_term, leader_commit, entries, round,
            }
            .into(),
        )?;
    }

    #[test]
    fn append_entries_reply_roundtrips(
        term in term(), success in any::<bool>(), last_log_index in index(),
        round in any::<u64>(),
    ) {
        check_roundtrip(AppendEntriesReply { term, success, last_log_index, round }.into())?;
    }

    #[test]
    fn install_snapshot_roundtrips(
        term in term(), leader in peer(), last_included_index in index(),
        last_included_term in term(), offset in any::<u64>(), data in data(),
        done in any::<bool>(),
    ) {
        check_roundtrip(
            InstallSnapshot {
                term, leader, last_included_index, last_included_term, offset, data, done,
            }
            .into(),
        )?;
    }

    #[test]
    fn install_snapshot_reply_roundtrips(term in term(), next_offset in any::<u64>()) {
        check_roundtrip(InstallSnapshotReply { term, next_offset }.into())?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..128)) {
        let _ = decode(&bytes);
    }
}

// ---------------------------------------------------------------------------------------
// Garbage

/// xorshift64: deterministic, dependency-free noise.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn fill(&mut self, buf: &mut [u8]) {
        for b in buf {
            *b = self.next() as u8;
        }
    }
}

/// Fails if a decoded message breaks a limit the decoder was given.
fn assert_within(m: &PeerMessage, limits: &Limits) {
    assert!(m.body_len() <= max_body_len(limits), "{m:?}");
    match m {
        PeerMessage::AppendEntries(ae) => {
            assert!(ae.entries.len() <= limits.max_array_len, "{m:?}");
            for e in &ae.entries {
                assert!(e.data.len() <= limits.max_field_len, "{m:?}");
            }
        }
        PeerMessage::InstallSnapshot(s) => {
            assert!(s.data.len() <= limits.max_field_len, "{m:?}");
        }
        _ => {}
    }
}

/// Decodes `buf` from every position a reader could resynchronise to: advance past a whole
/// message, skip one byte otherwise. Returns the messages found.
fn scan(buf: &[u8], limits: &Limits) -> Vec<PeerMessage> {
    let mut found = Vec::new();
    let mut pos = 0;
    while pos < buf.len() {
        match PeerMessage::decode(&buf[pos..], limits) {
            Ok(Some((m, used))) => {
                assert!(used > 0 && used <= buf.len() - pos);
                assert_within(&m, limits);
                // Encoding is canonical: the message re-encodes to the bytes it came from.
                assert_eq!(encode(&m), &buf[pos..pos + used]);
                found.push(m);
                pos += used;
            }
            Ok(None) | Err(_) => pos += 1,
        }
    }
    found
}

#[test]
fn a_mebibyte_of_noise_never_panics_and_yields_only_planted_frames() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    let mut noise = vec![0u8; 1 << 20];
    rng.fill(&mut noise);
    let small = Limits {
        max_field_len: 1024,
        max_array_len: 4,
    };
    for limits in [Limits::DEFAULT, small] {
        // Pure noise: a CRC32 makes an accidental valid frame a 1 in 2^32 event per
        // candidate, and this seed produces none.
        assert_eq!(scan(&noise, &limits), vec![]);
    }
    // Plant the golden frames every 64 KiB; the scan must find each one and nothing else.
    let golden = vectors();
    let mut planted = noise.clone();
    let mut want = Vec::new();
    for (i, (name, bytes)) in golden.iter().enumerate() {
        let at = (i + 1) * 65_536;
        planted[at..at + bytes.len()].copy_from_slice(bytes);
        want.push(expected(name).expect("known vector"));
    }
    assert_eq!(scan(&planted, &small), want);
}

/// A random message, small enough for `small` limits most of the time.
fn random_message(rng: &mut XorShift) -> PeerMessage {
    let term = Term(rng.next() >> rng.below(64));
    let peer = PeerId((rng.next() >> 33) as u32);
    let index = LogIndex(rng.next() >> rng.below(64));
    let flag = rng.next() & 1 == 1;
    fn data(rng: &mut XorShift) -> Bytes {
        let mut d = vec![0u8; rng.below(40)];
        rng.fill(&mut d);
        Bytes::from(d)
    }
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce);
    let mut proof = [0u8; PROOF_LEN];
    rng.fill(&mut proof);
    match rng.below(9) {
        0 => Hello {
            from: peer,
            to: peer,
            nonce,
        }
        .into(),
        1 => HelloReply {
            from: peer,
            nonce,
            proof,
        }
        .into(),
        8 => HelloProof { proof }.into(),
        2 => RequestVote {
            term,
            candidate: peer,
            last_log_index: index,
            last_log_term: term,
            pre_vote: flag,
        }
        .into(),
        3 => RequestVoteReply {
            term,
            vote_granted: flag,
            pre_vote: !flag,
        }
        .into(),
        4 => {
            let n = rng.below(6);
            let entries = (0..n)
                .map(|_| Entry {
                    term,
                    data: data(rng),
                })
                .collect();
            AppendEntries {
                term,
                leader: peer,
                prev_log_index: index,
                prev_log_term: term,
                leader_commit: index,
                entries,
                round: rng.next(),
            }
            .into()
        }
        5 => AppendEntriesReply {
            term,
            success: flag,
            last_log_index: index,
            round: rng.next(),
        }
        .into(),
        6 => InstallSnapshot {
            term,
            leader: peer,
            last_included_index: index,
            last_included_term: term,
            offset: rng.next(),
            data: data(rng),
            done: flag,
        }
        .into(),
        _ => InstallSnapshotReply {
            term,
            next_offset: rng.next(),
        }
        .into(),
    }
}

#[test]
fn garbage_bodies_under_valid_checksums_never_panic_or_break_limits() {
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let small = Limits {
        max_field_len: 32,
        max_array_len: 3,
    };
    let mut decoded = 0;
    for _ in 0..50_000 {
        let m = random_message(&mut rng);
        let mut body = body_of(&m);
        let marker = match rng.below(4) {
            // Mutate a real body: flip, overwrite, cut or extend.
            0 => {
                let n = body.len();
                if n > 0 {
                    let at = rng.below(n);
                    body[at] ^= 1 << rng.below(8);
                }
                m.marker()
            }
            1 => {
                let n = body.len();
                body.truncate(rng.below(n + 1));
                m.marker()
            }
            2 => {
                let mut extra = vec![0u8; rng.below(8) + 1];
                rng.fill(&mut extra);
                body.extend_from_slice(&extra);
                m.marker()
            }
            // A real body under another kind's marker.
            _ => marker::ALL[rng.below(marker::ALL.len())],
        };
        let f = frame(marker, &body);
        for limits in [Limits::DEFAULT, small] {
            match PeerMessage::decode(&f, &limits) {
                Ok(Some((got, used))) => {
                    assert_eq!(used, f.len());
                    assert_within(&got, &limits);
                    assert_eq!(encode(&got), f);
                    decoded += 1;
                }
                Ok(None) => panic!("a whole frame is never incomplete: {f:02x?}"),
                Err(_) => {}
            }
        }
    }
    // The mutations leave many frames valid; make sure both paths were exercised.
    assert!(decoded > 1_000, "only {decoded} frames decoded");
}
