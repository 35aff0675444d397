//! `cargo bench -p node --bench core`: figures for the parts of the store that need no
//! network, printed as a table (a plain binary, `harness = false`, so no benchmarking
//! framework joins the dependency tree).
//!
//! - **Raft core**: three [`Raft`] members of one group driven by hand, messages handed
//!   over in memory (FIFO), proposals in batches on the leader; entries committed per
//!   second at the leader. Once with every `Ready` persisted through the node's own
//!   [`RaftStore`] on an in-memory disk ([`MemDisk`]), once with the core alone. The cores
//!   see no clock (no ticks at all once a leader is elected); the time is measured around
//!   them.
//! - **Codecs**: encode and decode rates of client packets (a put's 'C' packet and a
//!   get's 'c' answer), peer frames (`AppendEntries` with 64 entries) and ECS lines (an
//!   `ecs_put` part of 100 items), in messages and MB (of encoded bytes) per second.
//!
//! Each figure: a warm-up that also sizes the batch (doubling until one batch takes
//! 50 ms), then [`RUNS`] runs of a batch sized for about 200 ms; the table shows the
//! median and the slowest and fastest run. An argument filters figures by name:
//! `cargo bench -p node --bench core -- raft`.

use std::collections::VecDeque;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use node::group::RaftStore;
use node::io::mem::MemDisk;
use node::io::Rng;
use node::raft::{Raft, RaftConfig, Ready, Role};
use protocol::client::{Command, Packet, Request, Response, SessionTag};
use protocol::ecs::{Item, PutPart, Request as EcsRequest};
use protocol::peer::{AppendEntries, Entry, LogIndex, PeerId, PeerMessage, Term};
use protocol::Limits;

/// Measured runs per figure.
const RUNS: usize = 7;
/// A warm-up batch this long is long enough to size the measured ones.
const WARM_UP_BATCH: Duration = Duration::from_millis(50);
/// How long one measured run should take.
const RUN_TARGET: Duration = Duration::from_millis(200);

/// One row of the table: rates in units per second of each run.
struct Figure {
    name: String,
    unit: &'static str,
    /// Per run: units per second and bytes per second.
    runs: Vec<(f64, f64)>,
}

/// Measures `work(n)`, which does `n` units of work and returns how long the part to
/// measure took and how many bytes it handled.
fn measure(name: &str, unit: &'static str, mut work: impl FnMut(u64) -> (Duration, u64)) -> Figure {
    let mut n = 1u64;
    let per_unit = loop {
        let (took, _) = work(n);
        if took >= WARM_UP_BATCH || n >= 1 << 40 {
            break took.as_secs_f64() / n as f64;
        }
        n *= 2;
    };
    let n = ((RUN_TARGET.as_secs_f64() / per_unit.max(1e-12)) as u64).max(1);
    let runs = (0..RUNS)
        .map(|_| {
            let (took, bytes) = work(n);
            let secs = took.as_secs_f64().max(1e-9);
            (n as f64 / secs, bytes as f64 / secs)
        })
        .collect();
    Figure {
        name: name.to_owned(),
        unit,
        runs,
    }
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn print_header() {
    println!(
        "{:<56} {:>18} {:>8} {:>24}",
        "figure", "median", "MB/s", "runs (slowest..fastest)"
    );
}

fn print_row(f: &Figure) {
    let rates: Vec<f64> = f.runs.iter().map(|r| r.0).collect();
    let mbs = median(f.runs.iter().map(|r| r.1 / 1e6).collect());
    let lo = rates.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = rates.iter().copied().fold(0.0, f64::max);
    println!(
        "{:<56} {:>18} {:>8.1} {:>24}",
        f.name,
        format!("{} {}/s", si(median(rates)), f.unit),
        mbs,
        format!("{}..{}", si(lo), si(hi))
    );
}

/// `1234567.0` as `1.23 M`.
fn si(x: f64) -> String {
    match x {
        x if x >= 1e9 => format!("{:.2} G", x / 1e9),
        x if x >= 1e6 => format!("{:.2} M", x / 1e6),
        x if x >= 1e3 => format!("{:.1} k", x / 1e3),
        x => format!("{x:.0}"),
    }
}

// ---------------------------------------------------------------- Raft core

/// Three members and the messages between them.
struct Group {
    members: Vec<Member>,
    queue: VecDeque<(PeerId, PeerId, PeerMessage)>,
    /// Entries the leader has handed to its application.
    committed_at_leader: u64,
}

struct Member {
    raft: Raft,
    /// `None`: the core alone, nothing persisted.
    store: Option<RaftStore<MemDisk>>,
}

impl Group {
    fn new(persist: bool) -> Group {
        let ids: Vec<PeerId> = (0..3).map(PeerId).collect();
        let members = ids
            .iter()
            .map(|id| {
                let config = RaftConfig::new(*id, ids.clone());
                let rng = Rng::from_seed(u64::from(id.0) + 1);
                let opened =
                    RaftStore::open(MemDisk::new(), Path::new("/raft")).expect("open the store");
                let (store, raft, _) = opened.start_raft(config, rng).expect("a store on memory");
                Member {
                    raft,
                    store: persist.then_some(store),
                }
            })
            .collect();
        let mut group = Group {
            members,
            queue: VecDeque::new(),
            committed_at_leader: 0,
        };
        for _ in 0..1000 {
            if group.leader().is_some() {
                return group;
            }
            for i in 0..3 {
                group.members[i].raft.tick();
                group.drain(i);
            }
            group.deliver();
        }
        panic!("no leader after 1000 ticks");
    }

    fn leader(&self) -> Option<usize> {
        (0..3).find(|i| self.members[*i].raft.role() == Role::Leader)
    }

    /// Carries out member `i`'s `Ready`: persist, queue its messages, count commits.
    fn drain(&mut self, i: usize) {
        let member = &mut self.members[i];
        let ready: Ready = member.raft.ready();
        if let Some(store) = &mut member.store {
            store.persist(&member.raft, &ready).expect("in-memory disk");
        }
        let from = member.raft.id();
        if member.raft.role() == Role::Leader {
            self.committed_at_leader += ready.committed.len() as u64;
        }
        for (to, msg) in ready.messages {
            self.queue.push_back((from, to, msg));
        }
    }

    /// Delivers messages until none is left.
    fn deliver(&mut self) {
        while let Some((from, to, msg)) = self.queue.pop_front() {
            let i = to.0 as usize;
            self.members[i].raft.step(from, msg);
            self.drain(i);
        }
    }
}

/// Commits `n` entries of `size` bytes through a fresh group, proposing `batch` at a time.
fn raft_run(n: u64, size: usize, batch: u64, persist: bool) -> (Duration, u64) {
    let mut group = Group::new(persist);
    let leader = group.leader().expect("elected");
    let data = Bytes::from(vec![7u8; size]);
    group.committed_at_leader = 0;
    let start = Instant::now();
    let mut proposed = 0;
    while proposed < n {
        let now = batch.min(n - proposed);
        for _ in 0..now {
            group.members[leader]
                .raft
                .propose(data.clone())
                .expect("the leader takes proposals");
        }
        proposed += now;
        group.drain(leader);
        group.deliver();
    }
    let took = start.elapsed();
    // Only entries of this run: the term's no-op was committed before it.
    assert_eq!(group.committed_at_leader, n, "every proposal committed");
    (took, n * size as u64)
}

// ---------------------------------------------------------------- codecs

fn put_packet(value_size: usize) -> Packet {
    let body = Request {
        session: Some(SessionTag {
            client_id: 0x1234_5678_9abc_def0,
            sequence: 42,
        }),
        command: Command::Put {
            key: Bytes::from_static(b"bench-key-000042"),
            value: Bytes::from(vec![b'v'; value_size]),
        },
    }
    .to_bytes();
    Packet::CommandRequest(body)
}

/// Runs `encode` `n` times into one reused buffer; returns the time and the bytes made.
fn encode_n(n: u64, mut encode: impl FnMut(&mut BytesMut)) -> (Duration, u64) {
    let mut out = BytesMut::with_capacity(1 << 20);
    let mut bytes = 0;
    let start = Instant::now();
    for _ in 0..n {
        out.clear();
        encode(&mut out);
        bytes += out.len() as u64;
        black_box(&out);
    }
    (start.elapsed(), bytes)
}

/// Runs `decode` on `frame` `n` times; returns the time and the bytes read.
fn decode_n(frame: &[u8], n: u64, mut decode: impl FnMut(&[u8])) -> (Duration, u64) {
    let start = Instant::now();
    for _ in 0..n {
        decode(black_box(frame));
    }
    (start.elapsed(), n * frame.len() as u64)
}

/// Encodes `packet` `n` times.
fn encode_client(packet: &Packet, n: u64) -> (Duration, u64) {
    encode_n(n, |out| black_box(packet).encode(out))
}

/// Decodes the frame `n` times, the command body inside it too (as a node does).
fn decode_client_request(frame: &[u8], n: u64) -> (Duration, u64) {
    let limits = Limits::DEFAULT;
    decode_n(frame, n, |frame| {
        let (packet, _) = Packet::decode(frame, &limits)
            .expect("valid")
            .expect("whole");
        let Packet::CommandRequest(body) = packet else {
            unreachable!("a command request")
        };
        black_box(Request::decode(&body, &limits).expect("valid body"));
    })
}

fn decode_client_response(frame: &[u8], n: u64) -> (Duration, u64) {
    let limits = Limits::DEFAULT;
    decode_n(frame, n, |frame| {
        let (packet, _) = Packet::decode(frame, &limits)
            .expect("valid")
            .expect("whole");
        let Packet::CommandResponse(body) = packet else {
            unreachable!("a command response")
        };
        black_box(Response::decode(&body, &limits).expect("valid body"));
    })
}

fn append_entries(entries: usize, size: usize) -> PeerMessage {
    PeerMessage::AppendEntries(AppendEntries {
        term: Term(3),
        leader: PeerId(0),
        prev_log_index: LogIndex(1000),
        prev_log_term: Term(3),
        leader_commit: LogIndex(990),
        entries: (0..entries)
            .map(|_| Entry {
                term: Term(3),
                data: Bytes::from(vec![b'e'; size]),
            })
            .collect(),
        round: 17,
    })
}

fn encode_peer(msg: &PeerMessage, n: u64) -> (Duration, u64) {
    encode_n(n, |out| black_box(msg).encode(out))
}

fn decode_peer(frame: &[u8], n: u64) -> (Duration, u64) {
    let limits = Limits::DEFAULT;
    decode_n(frame, n, |frame| {
        black_box(PeerMessage::decode(frame, &limits).expect("valid"));
    })
}

fn ecs_put(items: usize, value_size: usize) -> EcsRequest {
    EcsRequest::EcsPut(PutPart {
        transfer_id: 7,
        part: 3,
        items: (0..items)
            .map(|i| Item::new(format!("key-{i:08}"), vec![b'v'; value_size]))
            .collect(),
        sessions: Vec::new(),
    })
}

fn encode_ecs(line: &EcsRequest, n: u64) -> (Duration, u64) {
    encode_n(n, |out| black_box(line).encode(out))
}

/// Splits the line off the buffer and parses it, as a node reading its ECS port does.
fn decode_ecs(buf: &[u8], n: u64) -> (Duration, u64) {
    let max = protocol::ecs::DEFAULT_MAX_LINE_LEN;
    decode_n(buf, n, |buf| {
        let (line, _) = protocol::ecs::split_line(buf, max)
            .expect("valid")
            .expect("whole");
        black_box(EcsRequest::parse(line).expect("valid line"));
    })
}

/// One figure's work: `n` units, returning the time they took and the bytes handled.
type Work = Box<dyn FnMut(u64) -> (Duration, u64)>;

fn main() {
    // `cargo bench` passes `--bench`; any other argument filters figures by name.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| name.contains(f));
    let mut figures: Vec<(String, &'static str, Work)> = Vec::new();
    let mut add = |name: &str, unit, work: Work| {
        figures.push((name.to_owned(), unit, work));
    };

    for (persist, what) in [(true, "MemDisk store"), (false, "core only")] {
        for batch in [1u64, 64] {
            add(
                &format!("raft 3 members, {what}, 128 B entries, batch {batch}"),
                "entries",
                Box::new(move |n| raft_run(n, 128, batch, persist)),
            );
        }
    }

    for value in [100usize, 4096] {
        let packet = put_packet(value);
        let frame = packet.to_bytes();
        add(
            &format!("client put 'C' packet, {value} B value: encode"),
            "msgs",
            Box::new({
                let packet = packet.clone();
                move |n| encode_client(&packet, n)
            }),
        );
        add(
            &format!("client put 'C' packet, {value} B value: decode"),
            "msgs",
            Box::new(move |n| decode_client_request(&frame, n)),
        );
        let answer = Packet::CommandResponse(
            Response::Value(Some(Bytes::from(vec![b'v'; value]))).to_bytes(),
        );
        let frame = answer.to_bytes();
        add(
            &format!("client get 'c' answer, {value} B value: encode"),
            "msgs",
            Box::new(move |n| encode_client(&answer, n)),
        );
        add(
            &format!("client get 'c' answer, {value} B value: decode"),
            "msgs",
            Box::new(move |n| decode_client_response(&frame, n)),
        );
    }

    for (entries, size) in [(1usize, 128usize), (64, 128)] {
        let msg = append_entries(entries, size);
        let mut frame = BytesMut::new();
        msg.encode(&mut frame);
        let frame = frame.freeze();
        add(
            &format!("peer AppendEntries, {entries} x {size} B entries: encode"),
            "frames",
            Box::new(move |n| encode_peer(&msg, n)),
        );
        add(
            &format!("peer AppendEntries, {entries} x {size} B entries: decode"),
            "frames",
            Box::new(move |n| decode_peer(&frame, n)),
        );
    }

    let line = ecs_put(100, 100);
    let mut buf = BytesMut::new();
    line.encode(&mut buf);
    let buf = buf.freeze();
    add(
        "ECS ecs_put line, 100 items of 100 B: encode",
        "lines",
        Box::new(move |n| encode_ecs(&line, n)),
    );
    add(
        "ECS ecs_put line, 100 items of 100 B: decode",
        "lines",
        Box::new(move |n| decode_ecs(&buf, n)),
    );

    println!(
        "node core bench: median of {RUNS} runs of ~{} ms each after a warm-up; MB/s counts \
         encoded bytes (Raft: entry data)",
        RUN_TARGET.as_millis()
    );
    print_header();
    for (name, unit, mut work) in figures {
        if wanted(&name) {
            print_row(&measure(&name, unit, &mut work));
        }
    }
}
