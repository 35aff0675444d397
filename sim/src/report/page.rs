//! The HTML around the data: one self-contained page per run (inline CSS, inline script,
//! the data as a JSON block), and an index page listing several reports.
//!
//! What a person needs to reproduce the run (scenario, seed, trace hash, replay command,
//! the scenario's TOML) and the verdict are plain HTML, readable without the script; the
//! script draws the timeline from the JSON block.

use std::fmt::Write;

use super::data::Data;

/// The page's style sheet.
const CSS: &str = include_str!("report.css");
/// The page's script: the timeline, its zoom, filters and tooltips.
const JS: &str = include_str!("report.js");
/// Runs first: records script errors into the page (`data-errors` on `<html>`) so a
/// headless browser's dump of the DOM shows whether the page worked.
const ERROR_TRAP: &str = "window.__reportErrors=[];(function(){function rec(m){window.__reportErrors.push(String(m));document.documentElement.setAttribute('data-errors',window.__reportErrors.join(' | '));}window.addEventListener('error',function(e){rec(e.message+' at '+(e.filename||'')+':'+(e.lineno||0));});window.addEventListener('unhandledrejection',function(e){rec('unhandled rejection: '+(e.reason&&e.reason.message||e.reason));});})();";

/// `text` with `&`, `<`, `>` and `"` escaped for HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// `data` as JSON safe inside a `<script>` element: every `<` is written `\u003c`, so no
/// `</script>` or `<!--` in a key or a value can end the block early. (JSON's own syntax
/// has no `<`, so only string contents change, and they parse back the same.)
pub fn json_block(data: &Data) -> String {
    let json = serde_json::to_string(data).unwrap_or_else(|_| "null".to_string());
    json.replace('<', "\\u003c")
}

/// The whole report page for `data`, with `plot` (the SVG fragment) in it.
pub fn render(data: &Data, plot: &str) -> String {
    let m = &data.meta;
    let title = format!("{} seed {}", m.scenario, m.seed);
    let verdict = if m.passed {
        "<span class=\"verdict pass\">all checks passed</span>".to_string()
    } else {
        format!(
            "<span class=\"verdict fail\">FAILED: {}</span>",
            escape(&failed_checks(data).join(", "))
        )
    };
    let mut out = String::with_capacity(data.msgs.len() * 40 + 200_000);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>sim report: {title}</title>\n<script>{ERROR_TRAP}</script>\n\
         <style>\n{CSS}</style>\n</head>\n<body>\n<header>\n\
         <h1>sim report: {title} {verdict}</h1>\n",
        title = escape(&title),
    );
    if !m.description.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"description\">{}</p>",
            escape(&m.description)
        );
    }
    let _ = write!(
        out,
        "<dl class=\"facts\">\n<dt>scenario</dt><dd id=\"scenario\">{}</dd>\n\
         <dt>seed</dt><dd id=\"seed\">{}</dd>\n\
         <dt>trace hash</dt><dd id=\"hash\"><code>{}</code></dd>\n\
         <dt>simulated</dt><dd>{:.3} s, {} trace events, {} messages, {} operations</dd>\n\
         <dt>replay</dt><dd><code id=\"replay\">{}</code></dd>\n</dl>\n",
        escape(&m.scenario),
        m.seed,
        escape(&m.hash),
        m.end as f64 / 1e6,
        m.events,
        data.msgs.len(),
        data.ops.len(),
        escape(&m.replay),
    );
    if !data.failures.is_empty() {
        out.push_str("<section class=\"failures\"><h2>Failed checks</h2>\n");
        for f in &data.failures {
            let first = f.detail.lines().next().unwrap_or_default();
            let _ = writeln!(
                out,
                "<details><summary><b>{}</b>: {}</summary><pre>{}</pre></details>",
                escape(&f.check),
                escape(first),
                escape(&f.detail)
            );
        }
        out.push_str("</section>\n");
    }
    if !data.undecided.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"undecided\">Linearizability undecided (search budget ran out) for: {}</p>",
            escape(&data.undecided.join(", "))
        );
    }
    let _ = write!(
        out,
        "<details class=\"toml\"><summary>Scenario (TOML, pinned to seed {}): save it as a file \
         and replay it with <code>sim replay FILE</code></summary><pre id=\"scenario-toml\">{}\
         </pre></details>\n</header>\n",
        m.seed,
        escape(&m.toml)
    );
    out.push_str(CONTROLS);
    out.push_str("<main class=\"layout\">\n<div class=\"left\" id=\"left\">\n");
    out.push_str(plot);
    out.push_str(
        "<div class=\"timeline\" id=\"timeline\"><canvas id=\"axis\"></canvas>\
         <canvas id=\"lanes\"></canvas></div>\n</div>\n",
    );
    out.push_str(
        "<aside class=\"side\" id=\"side\"><h2>Details</h2><div id=\"detail\">Hover over the \
         timeline for a message's decoded line, an operation, a fault or a join step; click \
         to keep it here.</div><div id=\"violations\"></div></aside>\n</main>\n\
         <div id=\"tip\" class=\"tip\" hidden></div>\n",
    );
    let _ = write!(
        out,
        "<script type=\"application/json\" id=\"report-data\">{}</script>\n<script>\n{JS}</script>\n\
         </body>\n</html>\n",
        json_block(data)
    );
    out
}

/// The page's controls: zoom, protocol and host filters, and the view's figures.
const CONTROLS: &str = "<nav class=\"controls\" id=\"controls\">\
<button id=\"zoom-in\" title=\"zoom in (or Ctrl + wheel, or + key)\">+</button>\
<button id=\"zoom-out\" title=\"zoom out (or Ctrl + wheel, or - key)\">&minus;</button>\
<button id=\"zoom-fit\" title=\"the whole run (or double-click, or 0 key)\">fit</button>\
<span class=\"sep\"></span>messages: \
<label><input type=\"checkbox\" id=\"p-client\" checked> client</label>\
<label><input type=\"checkbox\" id=\"p-ecs\" checked> ECS</label>\
<label><input type=\"checkbox\" id=\"p-peer\" checked> peer</label>\
<label>host <select id=\"host-filter\"><option value=\"-1\">all</option></select></label>\
<span class=\"sep\"></span><span id=\"view-info\"></span>\
<span class=\"hint\">drag: pan; shift-drag: zoom to range; Ctrl+wheel: zoom</span>\
</nav>\n";

/// The distinct failed checks, in order of first failure.
fn failed_checks(data: &Data) -> Vec<String> {
    let mut checks: Vec<String> = Vec::new();
    for f in &data.failures {
        if !checks.contains(&f.check) {
            checks.push(f.check.clone());
        }
    }
    checks
}

/// One report listed on the index page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// The scenario's name.
    pub scenario: String,
    /// The seed.
    pub seed: u64,
    /// The failed checks (each once).
    pub checks: Vec<String>,
    /// The first line of the first failure.
    pub first_failure: String,
    /// The report's file name, relative to the index.
    pub file: String,
    /// The command that replays the case.
    pub replay: String,
}

/// The index page: a table of reports with their failed checks.
pub fn index(title: &str, entries: &[IndexEntry]) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>{0}</title>\n<style>\n{CSS}</style>\n</head>\n<body class=\"index\">\n\
         <h1>{0}</h1>\n<p>{1} failing case{2}; each report is one file and opens without a \
         server.</p>\n<table class=\"index\">\n<thead><tr><th>scenario</th><th>seed</th>\
         <th>failed checks</th><th>first failure</th><th>replay</th></tr></thead>\n<tbody>\n",
        escape(title),
        entries.len(),
        if entries.len() == 1 { "" } else { "s" }
    );
    for e in entries {
        let _ = writeln!(
            out,
            "<tr><td><a href=\"{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td>\
             <td><code>{}</code></td></tr>",
            escape(&e.file),
            escape(&e.scenario),
            e.seed,
            escape(&e.checks.join(", ")),
            escape(&e.first_failure),
            escape(&e.replay)
        );
    }
    out.push_str("</tbody>\n</table>\n</body>\n</html>\n");
    out
}
