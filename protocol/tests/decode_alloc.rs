//! Decoders never allocate past their bounds: a counting global allocator records the
//! largest single allocation made while hostile bytes are decoded. This file holds one
//! test so no other test's allocations share the counter, and only the decoding thread's
//! allocations count (the test harness's own threads allocate meanwhile: one of 608 bytes
//! failed a CI run once).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use protocol::client::{Packet, Request};
use protocol::ecs::{split_line, Reply, Request as EcsRequest};
use protocol::peer::PeerMessage;
use protocol::Limits;

struct PeakAllocator;

thread_local! {
    // Const-initialised and without a destructor: reading it never allocates, so the
    // allocator may.
    static TRACKING: Cell<bool> = const { Cell::new(false) };
}
static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for PeakAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if TRACKING.with(Cell::get) {
            LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        }
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if TRACKING.with(Cell::get) {
            LARGEST.fetch_max(new_size, Ordering::Relaxed);
        }
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static ALLOCATOR: PeakAllocator = PeakAllocator;

fn xorshift_bytes(mut state: u64, n: usize) -> Vec<u8> {
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// Runs `decode` over every offset of `data` with tracking on; returns the largest
/// allocation seen.
fn peak_while(data: &[u8], mut decode: impl FnMut(&[u8])) -> usize {
    LARGEST.store(0, Ordering::Relaxed);
    TRACKING.with(|t| t.set(true));
    for at in 0..data.len() {
        decode(&data[at..]);
    }
    TRACKING.with(|t| t.set(false));
    LARGEST.load(Ordering::Relaxed)
}

#[test]
fn hostile_lengths_never_cause_large_allocations() {
    let limits = Limits {
        max_field_len: 256,
        max_array_len: 8,
    };
    // Random bytes plus frames that declare the largest lengths the format allows.
    let mut data = xorshift_bytes(0x2545_f491_4f6c_dd1d, 1 << 16);
    for m in b"CceamB" {
        data.extend_from_slice(&[*m, 0x7f, 0xff, 0xff, 0xff]);
        data.extend_from_slice(&[*m, 0x00, 0x00, 0x01, 0x00]);
    }
    // The biggest legitimate allocation is one field or one array's worth of Strings.
    let bound = limits
        .max_field_len
        .max(limits.max_array_len * 2 * size_of::<String>());

    // Control: a legal field near the limit is decoded into an allocation of its size,
    // so the counter sees the decoder's allocations (without this, a counter that saw
    // nothing would pass every bound below).
    let mut legal = bytes::BytesMut::new();
    Packet::ErrorResponse("x".repeat(limits.max_field_len - 16)).encode(&mut legal);
    let peak = peak_while(&legal[..1], |_| {
        assert!(matches!(
            Packet::decode(&legal, &limits),
            Ok(Some((Packet::ErrorResponse(_), _)))
        ));
    });
    assert!(
        (limits.max_field_len - 16..=bound).contains(&peak),
        "decoding a {}-byte field allocated a largest block of {peak} bytes",
        limits.max_field_len - 16
    );

    let peak = peak_while(&data, |d| {
        if let Ok(Some((Packet::CommandRequest(body), _))) = Packet::decode(d, &limits) {
            let _ = Request::decode(&body, &limits);
        }
    });
    assert!(
        peak <= bound,
        "client decoder allocated {peak} bytes, bound {bound}"
    );

    let mut frames = data.clone();
    for m in b"VvAaSs" {
        frames.extend_from_slice(&[*m, 0x7f, 0xff, 0xff, 0xff]);
        frames.extend_from_slice(&[*m, 0x00, 0x00, 0x01, 0x00]);
    }
    let peer_bound = limits.max_field_len + protocol::peer::BODY_ALLOWANCE;
    let peak = peak_while(&frames, |d| {
        let _ = PeerMessage::decode(d, &limits);
    });
    assert!(
        peak <= peer_bound,
        "peer decoder allocated {peak} bytes, bound {peer_bound}"
    );

    // A line is at most `max_line` bytes; parsing it allocates a small multiple of that
    // (tokens, decoded base64), never in proportion to what a field claims.
    let max_line = 512;
    let mut lines = data.clone();
    lines.extend_from_slice(b"ecs_put 1 2 aw==:dg== AP8=:\nregister a 1 b:2/c:3\n");
    let peak = peak_while(&lines, |d| {
        if let Ok(Some((line, _))) = split_line(d, max_line) {
            let _ = EcsRequest::parse(line);
            let _ = Reply::parse(line);
        }
    });
    assert!(
        peak <= 4 * max_line,
        "ECS parser allocated {peak} bytes for lines of {max_line}"
    );
}
