//! kv bench's tests: options, the open-loop schedule, percentiles and reports, and a
//! one-second bench against a real node.

use clap::Parser;

use super::*;

fn parse(extra: &[&str]) -> Result<Options, String> {
    let argv = ["kv", "bench"].iter().chain(extra);
    match crate::Args::try_parse_from(argv)
        .map_err(|e| e.to_string())?
        .command
    {
        crate::Cmd::Bench(args) => args.validate(),
        other => panic!("not a bench: {other:?}"),
    }
}

#[test]
fn options_are_checked_with_clear_errors() {
    let ok = parse(&["--seed", "7"]).unwrap();
    assert_eq!(ok.connections, 16);
    assert_eq!(ok.mode, Mode::Closed);
    assert_eq!(ok.seed, 7);
    assert_eq!(ok.warmup, Duration::from_secs(2));
    let open = parse(&["--rate", "250.5", "-w", "0", "-d", "1m"]).unwrap();
    assert_eq!(open.mode, Mode::Open { rate: 250.5 });
    assert_eq!(open.warmup, Duration::ZERO);
    assert_eq!(open.duration, Duration::from_secs(60));
    assert_eq!(parse(&["-w", "0s"]).unwrap().warmup, Duration::ZERO);
    assert_eq!(
        parse(&["-w", "300ms"]).unwrap().warmup,
        Duration::from_millis(300)
    );
    assert_eq!(parse(&["-g", "0"]).unwrap().gets, 0.0);
    assert_eq!(parse(&["-g", "1"]).unwrap().gets, 1.0);

    let err = |extra: &[&str], wanted: &str| {
        let e = parse(extra).expect_err(&format!("{extra:?} was accepted"));
        assert!(e.contains(wanted), "{extra:?}: {e}");
    };
    err(&["-c", "0"], "--connections must be at least 1");
    err(&["-c", "10001"], "at most 10000");
    err(&["-k", "0"], "--keys must be at least 1");
    err(&["-g", "1.01"], "from 0 to 1");
    err(&["-g", "-0.5"], "from 0 to 1");
    err(&["-g", "NaN"], "from 0 to 1");
    err(&["--rate", "0"], "--rate");
    err(&["--rate", "-5"], "--rate");
    err(&["--rate", "inf"], "--rate");
    err(&["-d", "0s"], "above zero");
    err(&["-w", "0x"], "unit");
    err(&["-c", "-1"], "-1");

    // The largest value a node accepts with the longest key of the key space
    // ("bench-" and 4 digits for 10,000 keys), and one byte more.
    let largest = MAX_REQUEST_BYTES - PUT_FRAMING_BYTES - "bench-9999".len();
    let at = largest.to_string();
    let over = (largest + 1).to_string();
    assert_eq!(
        parse(&["-k", "10000", "-s", &at]).unwrap().value_size,
        largest
    );
    err(&["-k", "10000", "-s", &over], &format!("at most {largest}"));
    // One more key makes every key one digit longer.
    err(
        &["-k", "10001", "-s", &at],
        &format!("at most {}", largest - 1),
    );
}

#[test]
fn the_open_loop_schedule_is_exact_and_counts_what_is_due() {
    assert_eq!(scheduled_offset(0, 1000.0), Duration::ZERO);
    assert_eq!(scheduled_offset(1, 1000.0), Duration::from_millis(1));
    // Computed from k alone: no drift after an hour at 10,000/s.
    assert_eq!(
        scheduled_offset(36_000_000, 10_000.0),
        Duration::from_secs(3600)
    );
    assert_eq!(due_before(Duration::ZERO, 1000.0), 0);
    assert_eq!(due_before(Duration::from_secs(1), 1000.0), 1000);
    assert_eq!(
        due_before(Duration::from_nanos(1_000_000_001), 1000.0),
        1001
    );
    assert_eq!(due_before(Duration::from_secs(1), 3.0), 3);
    // A request due exactly at `t` is not due before it, though `t * rate` rounds
    // up past its number (at 3/s, request 2 is due at 666.666667 ms).
    for rate in [3.0, 7.0, 999.9] {
        for k in 0..1000 {
            assert_eq!(
                due_before(scheduled_offset(k, rate), rate),
                k,
                "rate {rate}"
            );
        }
    }
    for rate in [0.5, 3.0, 7.0, 999.9, 12_345.0] {
        for ms in [0u64, 1, 333, 334, 1000, 2500, 10_007] {
            let t = Duration::from_millis(ms);
            let k = due_before(t, rate);
            assert!(scheduled_offset(k, rate) >= t, "rate {rate} t {t:?}");
            assert!(
                k == 0 || scheduled_offset(k - 1, rate) < t,
                "rate {rate} t {t:?}"
            );
        }
    }
}

#[test]
fn percentiles_of_a_known_set_of_latencies() {
    let mut h = histogram();
    assert_eq!(percentiles(&h), None);
    // 1 ms .. 1000 ms, one each: the p-th percentile is p% of a second.
    for ms in 1..=1000u64 {
        h.record(ms * 1000).unwrap();
    }
    let p = percentiles(&h).unwrap();
    let near = |got: u64, want: u64| {
        // Three significant digits: within 0.1% (plus the bucket's width).
        let tolerance = want / 500;
        assert!(got.abs_diff(want) <= tolerance, "got {got}, want {want}");
    };
    assert_eq!(p.count, 1000);
    near(p.p50, 500_000);
    near(p.p90, 900_000);
    near(p.p99, 990_000);
    near(p.p999, 999_000);
    near(p.max, 1_000_000);
    near(p.mean as u64, 500_500);
}

fn summary() -> Summary {
    let p = |base: u64| Percentiles {
        count: 3,
        mean: 2500.0,
        p50: base,
        p90: base * 2,
        p99: base * 3,
        p999: base * 4,
        max: base * 5,
    };
    Summary {
        opts: Options {
            connections: 8,
            keys: 100,
            value_size: 64,
            gets: 0.9,
            duration: Duration::from_secs(5),
            warmup: Duration::from_secs(1),
            mode: Mode::Closed,
            seed: 42,
            key_prefix: "bench-".into(),
            etcd: None,
        },
        measured: Duration::from_millis(5000),
        interrupted: false,
        abandoned: 0,
        ops: 1003,
        gets: 900,
        gets_found: 850,
        puts: 100,
        errors: [("timeout".to_string(), 2), ("lost_write".to_string(), 1)].into(),
        warmup_ops: 200,
        not_sent: None,
        all: Some(p(1500)),
        get: Some(p(1000)),
        put: None,
    }
}

#[test]
fn the_report_prints_counts_rates_and_percentiles() {
    let s = summary();
    assert_eq!(s.successes() + s.error_count(), s.ops);
    let text = s.text();
    let expected = "\
kv bench: closed loop, 8 connections, 100 keys, 64-byte values, 90% gets, 5s after 1s of warm-up (seed 42)
ops        1003 in 5.00 s: 200.6 ops/s
ok         1000 (gets 900: 850 found, 50 absent; puts 100)
errors     3: lost_write 1, timeout 2
latency ms       p50       p90       p99     p99.9       max      mean   count
  all        1.500     3.000     4.500     6.000     7.500     2.500       3
  get        1.000     2.000     3.000     4.000     5.000     2.500       3
  put    (no successful requests)";
    assert_eq!(text, expected);

    let open = Summary {
        opts: Options {
            mode: Mode::Open { rate: 200.0 },
            ..s.opts.clone()
        },
        not_sent: Some(17),
        interrupted: true,
        abandoned: 4,
        errors: BTreeMap::new(),
        ..s.clone()
    };
    let text = open.text();
    assert!(
        text.starts_with("kv bench: open loop at 200 ops/s, "),
        "{text}"
    );
    assert!(text.contains("\ninterrupted: the figures cover the run up to Ctrl-C; 4 requests in flight were abandoned, not counted\n"), "{text}");
    assert!(text.contains("\nerrors     0\n"), "{text}");
    assert!(
        text.contains("\nnot sent   17 (due on the schedule"),
        "{text}"
    );
    let early = Summary {
        interrupted: true,
        measured: Duration::ZERO,
        ..s.clone()
    };
    assert!(early
        .text()
        .contains("interrupted during the warm-up: nothing was measured"));
    assert_eq!(early.ops_per_sec(), 0.0);
}

#[test]
fn the_json_report_is_one_object_with_every_figure() {
    let j = summary().json();
    assert_eq!(j["mode"], "closed");
    assert_eq!(j["target_rate"], serde_json::Value::Null);
    assert_eq!(j["ops"], 1003);
    assert_eq!(j["successes"], 1000);
    assert_eq!(j["error_count"], 3);
    assert_eq!(j["errors"]["timeout"], 2);
    assert_eq!(j["errors"]["lost_write"], 1);
    assert_eq!(j["gets_found"], 850);
    assert_eq!(j["ops_per_sec"], 200.6);
    assert_eq!(j["get_fraction"], 0.9);
    assert_eq!(j["seed"], 42);
    assert_eq!(j["not_sent"], serde_json::Value::Null);
    assert_eq!(j["latency_us"]["all"]["p99"], 4500);
    assert_eq!(j["latency_us"]["all"]["p99_9"], 6000);
    assert_eq!(j["latency_us"]["get"]["max"], 5000);
    assert_eq!(j["latency_us"]["put"], serde_json::Value::Null);
    // One line, so a script can read it with one `read`.
    assert!(!j.to_string().contains('\n'));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A one-second bench against a real node (and ECS) started in this process, closed
/// loop then open loop: the counts add up, nothing fails, and every key the bench
/// wrote reads back at the bench's value size.
#[test]
fn a_one_second_bench_against_a_real_node_adds_up() {
    use node::ecs::EcsConfig;
    use node::io::StdDisk;
    use node::server::NodeConfig;

    let dir = tempfile::tempdir().unwrap();
    let ecs_addr = format!("127.0.0.1:{}", free_port());
    let admin = format!("127.0.0.1:{}", free_port());
    let client_addr = format!("127.0.0.1:{}", free_port());
    node::cli::run_local(async {
        let ecs_config = EcsConfig::new(ecs_addr.clone(), dir.path().join("ecs"));
        tokio::task::spawn_local(node::ecs::run(
            TokioNet,
            StdDisk,
            Rng::from_seed(3),
            ecs_config,
        ));
        let node_config = NodeConfig::new(
            admin.parse().unwrap(),
            client_addr.parse().unwrap(),
            ecs_addr.clone(),
            dir.path().join("node"),
        );
        tokio::task::spawn_local(node::server::run(
            TokioNet,
            StdDisk,
            Rng::from_seed(1),
            node_config,
        ));
        let config = ClientConfig {
            seeds: vec![client_addr.clone()],
            deadline: Duration::from_secs(20),
            ..ClientConfig::default()
        };
        // Wait until the node serves (admitted to the ring) before measuring.
        let mut client = Client::new(TokioNet, config.clone(), Rng::from_seed(2));
        client.put("ready", "yes").await.unwrap();

        let opts = Options {
            connections: 4,
            keys: 40,
            value_size: 77,
            gets: 0.5,
            duration: Duration::from_secs(1),
            warmup: Duration::from_millis(200),
            mode: Mode::Closed,
            seed: 3,
            key_prefix: "k".into(),
            etcd: None,
        };
        let quiet = Watch {
            progress: false,
            ctrl_c: false,
        };
        let closed = run(opts.clone(), config.clone(), quiet).await;
        assert_eq!(closed.ops, closed.successes() + closed.error_count());
        assert_eq!(closed.errors, BTreeMap::new(), "{}", closed.text());
        assert!(closed.ops > 10, "{}", closed.text());
        assert!(closed.warmup_ops > 0, "{}", closed.text());
        assert!(closed.gets > 0 && closed.puts > 0, "{}", closed.text());
        assert_eq!(closed.all.unwrap().count, closed.ops);
        assert_eq!(closed.get.unwrap().count, closed.gets);
        assert_eq!(closed.put.unwrap().count, closed.puts);
        assert!(closed.measured >= opts.duration, "{}", closed.text());
        assert_eq!(closed.not_sent, None);

        // Open loop at 100/s for a second after 200 ms of warm-up: 100 requests due.
        let open = run(
            Options {
                mode: Mode::Open { rate: 100.0 },
                ..opts.clone()
            },
            config.clone(),
            quiet,
        )
        .await;
        assert_eq!(open.errors, BTreeMap::new(), "{}", open.text());
        assert_eq!(open.ops + open.not_sent.unwrap(), 100, "{}", open.text());
        assert!(open.ops >= 90, "{}", open.text());
        assert_eq!(open.ops, open.successes());
        assert!(open.measured >= opts.duration, "{}", open.text());

        // Every key the runs wrote holds a value of their size.
        let mut found = 0;
        for n in 0..opts.keys {
            if let Some(value) = client.get(format!("k{n}")).await.unwrap() {
                assert_eq!(value.len(), opts.value_size, "k{n}");
                found += 1;
            }
        }
        assert!(found > 0);
    })
    .unwrap();
}
