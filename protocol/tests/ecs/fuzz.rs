//! No input makes the ECS codec panic: a megabyte of pseudo-random bytes goes through
//! the framing and both parsers in random chunks, then random printable lines behind
//! real keywords stress the argument parsers. Every outcome must be a value that
//! re-parses from its canonical line, or a typed error with a short message.

use protocol::ecs::{
    split_line, split_line_bytes, Item, ParseError, Reply, Request, DEFAULT_MAX_LINE_LEN,
};

/// xorshift64*: a tiny deterministic generator, so the test needs no RNG crate.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }
}

const KEYWORDS: &[&str] = &[
    "write_lock",
    "release_lock",
    "next_addr",
    "transfer_range",
    "ecs_put",
    "done",
    "broadcast_node",
    "register",
    "cluster_view",
    "ok",
    "error",
    "error not_leader",
];

#[derive(Default, Debug)]
struct Outcomes {
    lines: usize,
    values: usize,
    errors: usize,
    bad_utf8: usize,
    too_long: usize,
}

/// Parses one line both ways and checks what comes out.
fn check_line(line: &str, out: &mut Outcomes) {
    out.lines += 1;
    match Request::parse(line) {
        Ok(r) => {
            out.values += 1;
            assert_eq!(Request::parse(&r.to_line()), Ok(r.clone()), "from {line:?}");
        }
        Err(e) => check_error(&e, out),
    }
    match Reply::parse(line) {
        Ok(r) => {
            out.values += 1;
            assert_eq!(Reply::parse(&r.to_line()), Ok(r.clone()), "from {line:?}");
        }
        Err(e) => check_error(&e, out),
    }
}

fn check_error(e: &ParseError, out: &mut Outcomes) {
    out.errors += 1;
    let msg = e.to_string();
    assert!(!msg.is_empty() && msg.len() < 1000, "message {msg:?}");
}

/// Feeds `stream` to a line reader in chunks of random size, the way a connection
/// would, skipping lines that are too long or not UTF-8.
fn drive(stream: &[u8], max_line_len: usize, rng: &mut XorShift) -> Outcomes {
    let mut out = Outcomes::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut skipping = false;
    let mut pos = 0;
    while pos < stream.len() {
        let end = (pos + 1 + rng.below(4096)).min(stream.len());
        buf.extend_from_slice(&stream[pos..end]);
        pos = end;
        loop {
            if skipping {
                match buf.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        buf.drain(..=i);
                        skipping = false;
                    }
                    None => {
                        buf.clear();
                        break;
                    }
                }
            }
            match split_line(&buf, max_line_len) {
                Ok(None) => break,
                Ok(Some((line, used))) => {
                    assert!(!line.contains('\n') && line.len() <= max_line_len);
                    check_line(line, &mut out);
                    buf.drain(..used);
                }
                Err(ParseError::BadUtf8 { .. }) => {
                    out.bad_utf8 += 1;
                    let used = match split_line_bytes(&buf, max_line_len) {
                        Ok(Some((_, used))) => used,
                        other => panic!("bytes framing disagrees: {other:?}"),
                    };
                    buf.drain(..used);
                }
                Err(ParseError::LineTooLong { len, max }) => {
                    assert!(len > max);
                    out.too_long += 1;
                    skipping = true;
                }
                Err(e) => panic!("unexpected framing error {e:?}"),
            }
        }
    }
    out
}

#[test]
fn a_megabyte_of_random_bytes_never_panics() {
    let mut rng = XorShift(0x5eed_0001_dead_beef);
    let stream: Vec<u8> = (0..1024 * 1024).map(|_| rng.next() as u8).collect();
    for max in [64, 300, DEFAULT_MAX_LINE_LEN] {
        let out = drive(&stream, max, &mut rng);
        assert!(out.lines > 0 && out.bad_utf8 > 0, "{out:?}");
    }
}

#[test]
fn random_bytes_mixed_with_protocol_fragments_never_panic() {
    // Mostly ASCII, with keywords, separators and newlines often enough that many lines
    // reach the argument parsers, and some raw bytes to break UTF-8.
    const FRAGMENTS: &[&str] = &[
        "write_lock",
        "ecs_put ",
        "register ",
        "cluster_view ",
        "error ",
        "not_leader ",
        "done ",
        "next_addr ",
        "ok",
        " ",
        "  ",
        "\t",
        "\r\n",
        "\n",
        ":",
        "/",
        "[",
        "]",
        "==",
        "aw==:dg==",
        "0",
        "65535",
        "70000",
        "18446744073709551616",
        "::1",
        "h",
    ];
    let mut rng = XorShift(0x5eed_0002_0bad_cafe);
    let mut stream = Vec::with_capacity(1024 * 1024 + 64);
    while stream.len() < 1024 * 1024 {
        match rng.below(10) {
            0 => stream.push(rng.next() as u8),
            1..=6 => stream.extend_from_slice(rng.pick(FRAGMENTS).as_bytes()),
            _ => stream.push(b' ' + rng.below(95) as u8),
        }
    }
    let out = drive(&stream, 200, &mut rng);
    assert!(
        out.values > 0 && out.errors > 0 && out.too_long > 0,
        "{out:?}"
    );
}

/// A random token of a kind the argument parsers expect, or plain noise.
fn token(rng: &mut XorShift) -> String {
    match rng.below(9) {
        0 => rng.next().to_string(),
        1 => (rng.next() % 70_000).to_string(),
        2 => rng
            .pick(&["h", "10.0.0.1", "::1", "[::1]", "unknown", "a/b", "[x"])
            .into(),
        3 => format!("n{}:{}", rng.below(10), rng.below(70_000)),
        4 => format!("a:{}/[::1]:{}", rng.below(70_000), rng.below(70_000)),
        5 => format!("{}/r:1/a:2/c:{}", rng.below(5), rng.below(70_000)),
        6 => {
            let key: Vec<u8> = (0..rng.below(8)).map(|_| rng.next() as u8).collect();
            let value: Vec<u8> = (0..rng.below(8)).map(|_| rng.next() as u8).collect();
            Item::new(key, value).to_token()
        }
        _ => (0..rng.below(30))
            .map(|_| char::from(b' ' + rng.below(95) as u8))
            .collect(),
    }
}

#[test]
fn random_printable_arguments_behind_real_keywords() {
    let mut rng = XorShift(0x5eed_0003_feed_f00d);
    let mut out = Outcomes::default();
    for _ in 0..50_000 {
        let mut line = String::new();
        for _ in 0..rng.below(3) {
            line.push(if rng.below(2) == 0 { ' ' } else { '\t' });
        }
        let keyword = rng.pick(KEYWORDS);
        if rng.below(4) == 0 {
            line.push_str(&keyword.to_uppercase());
        } else {
            line.push_str(keyword);
        }
        for _ in 0..rng.below(7) {
            line.push_str(rng.pick(&[" ", "  ", "\t"]));
            line.push_str(&token(&mut rng));
        }
        if rng.below(2) == 0 {
            line.push_str("\r\n");
        }
        check_line(&line, &mut out);
    }
    assert!(out.values > 1000 && out.errors > 1000, "{out:?}");
}
