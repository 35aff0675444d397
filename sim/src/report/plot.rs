//! The run as a plot: operations completed per second (ok, failed, unknown) and the
//! latency percentiles of the answered ones, per time bucket, with faults marked. Plain
//! SVG written here, so it shows without the page's script; the script only narrows its
//! time range when the timeline is zoomed (the data part's `viewBox` is in milliseconds
//! of simulated time, stretched to the width, and its strokes do not scale).

use std::fmt::Write;

use super::data::Data;

/// Buckets across the run: fine enough to see a fault's dip, coarse enough to count.
const TARGET_BUCKETS: u64 = 150;

/// Height of each chart's data area in its own units (the SVG stretches it).
const H: f64 = 100.0;

/// A bucket width in µs: a round number giving about [`TARGET_BUCKETS`] buckets.
fn bucket_width(end_us: u64) -> u64 {
    let raw = (end_us / TARGET_BUCKETS).max(1);
    let mut step = 1_000u64; // 1 ms
    for mult in [1u64, 2, 5].iter().cycle() {
        let candidate = step * mult;
        if candidate >= raw {
            return candidate;
        }
        if *mult == 5 {
            step *= 10;
        }
    }
    unreachable!("the cycle ends when a candidate exceeds raw")
}

/// The `q`-quantile (0..=1) of sorted `xs`.
fn quantile(xs: &[u64], q: f64) -> u64 {
    if xs.is_empty() {
        return 0;
    }
    let i = ((xs.len() - 1) as f64 * q).round() as usize;
    xs[i.min(xs.len() - 1)]
}

/// A round maximum for an axis that must reach `x`.
fn nice_max(x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(x.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * p >= x {
            return m * p;
        }
    }
    10.0 * p
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

/// A polyline through `points` (x in ms, y in data units, y grows upwards).
fn path(points: &[(f64, f64)], class: &str) -> String {
    let mut d = String::new();
    for (i, (x, y)) in points.iter().enumerate() {
        let _ = write!(d, "{}{:.1},{:.2}", if i == 0 { "M" } else { "L" }, x, H - y);
    }
    format!("<path class=\"{class}\" d=\"{d}\" vector-effect=\"non-scaling-stroke\"/>")
}

/// One chart: title, label of its top, its top value, and three named series.
type Chart<'a> = (&'a str, String, f64, [(&'a str, &'a Vec<f64>); 3]);

/// The plot as an HTML fragment: two charts (throughput, latency), each a label column
/// and a data SVG, with a legend.
pub fn render(data: &Data) -> String {
    let end = data.meta.end.max(1);
    let width = bucket_width(end);
    let n = end.div_ceil(width) as usize;
    // Per bucket: completions by outcome, and the latencies of answered client operations.
    let mut counts = vec![[0u32; 3]; n];
    let mut latencies: Vec<Vec<u64>> = vec![Vec::new(); n];
    for op in data.ops.iter().filter(|o| o.2 != 0) {
        let b = ((op.4 / width) as usize).min(n - 1);
        counts[b][op.5 as usize] += 1;
        if op.5 == 0 {
            latencies[b].push(op.4.saturating_sub(op.3));
        }
    }
    let per_s = 1e6 / width as f64;
    let mut series: [Vec<f64>; 3] = Default::default();
    let mut pct: [Vec<f64>; 3] = Default::default();
    for b in 0..n {
        for k in 0..3 {
            series[k].push(f64::from(counts[b][k]) * per_s);
        }
        let lat = &mut latencies[b];
        lat.sort_unstable();
        for (k, q) in [0.5, 0.99, 1.0].into_iter().enumerate() {
            pct[k].push(ms(quantile(lat, q)));
        }
    }
    let top_rate = nice_max(series.iter().flatten().copied().fold(0.0, f64::max));
    let top_lat = nice_max(pct.iter().flatten().copied().fold(0.0, f64::max));
    let x = |b: usize| ms(b as u64 * width + width / 2);

    let marks = fault_marks(data);
    let mut out = String::from("<div class=\"plot\" id=\"plot\">\n");
    let charts: [Chart<'_>; 2] = [
        (
            "operations/s",
            format!("{top_rate:.0}"),
            top_rate,
            [
                ("ok", &series[0]),
                ("fail", &series[1]),
                ("info", &series[2]),
            ],
        ),
        (
            "latency ms",
            format!("{top_lat:.0}"),
            top_lat,
            [("p50", &pct[0]), ("p99", &pct[1]), ("max", &pct[2])],
        ),
    ];
    for (title, top_label, top, lines) in charts {
        let _ = writeln!(
            out,
            "<div class=\"chart\"><div class=\"ylabels\"><span class=\"ytop\">{top_label}</span>\
             <span class=\"ytitle\">{title}</span><span class=\"ybottom\">0</span></div>"
        );
        let _ = writeln!(
            out,
            "<svg class=\"plot-data\" viewBox=\"0 0 {:.1} {H}\" preserveAspectRatio=\"none\" \
             role=\"img\" aria-label=\"{title} over simulated time\">",
            ms(end)
        );
        out.push_str(&marks);
        for (name, ys) in lines {
            let points: Vec<(f64, f64)> = ys
                .iter()
                .enumerate()
                .map(|(b, y)| (x(b), (y / top * H * 0.95).min(H)))
                .collect();
            out.push_str(&path(&points, &format!("line {name}")));
            out.push('\n');
        }
        out.push_str("</svg></div>\n");
    }
    out.push_str(
        "<div class=\"legend\"><span class=\"key ok\">ok</span> <span class=\"key fail\">failed\
         </span> <span class=\"key info\">unknown</span> operations completed per second; \
         latency of answered operations: <span class=\"key p50\">p50</span> \
         <span class=\"key p99\">p99</span> <span class=\"key max\">max</span>; \
         <span class=\"key down\">host down</span> <span class=\"key fault\">fault</span>; \
         ",
    );
    let _ = write!(
        out,
        "buckets of {} ms.</div>\n</div>\n",
        width as f64 / 1000.0
    );
    out
}

/// Down spans as shaded bands and fault lines as thin vertical lines, each with its text
/// as a tooltip.
fn fault_marks(data: &Data) -> String {
    let mut out = String::new();
    for (lane, kind, from, to, text) in &data.spans {
        if *kind != "down" {
            continue;
        }
        let host = &data.hosts[*lane as usize].name;
        let _ = writeln!(
            out,
            "<rect class=\"down\" x=\"{:.1}\" y=\"0\" width=\"{:.1}\" height=\"{H}\"><title>{host} down: {}</title></rect>",
            ms(*from),
            ms(to.saturating_sub(*from)).max(0.1),
            super::page::escape(text)
        );
    }
    for (at, _, text) in &data.marks {
        let _ = writeln!(
            out,
            "<line class=\"fault\" x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"0\" y2=\"{H}\" vector-effect=\"non-scaling-stroke\"><title>{1:.3}s {2}</title></line>",
            ms(*at),
            *at as f64 / 1e6,
            super::page::escape(text)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_round_and_about_150() {
        assert_eq!(bucket_width(60_000_000), 500_000);
        assert_eq!(bucket_width(10_000_000), 100_000);
        assert_eq!(bucket_width(1_000), 1_000);
        assert_eq!(nice_max(37.0), 50.0);
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(quantile(&[1, 2, 3, 4], 0.5), 3);
    }
}
