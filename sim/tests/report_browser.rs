//! The HTML report in a real browser: headless Chromium loads a report of a shipped
//! scenario, and the page must run without a script error or console message and say it
//! drew every host lane; a screenshot is taken too.
//!
//! Chromium is found on the PATH (or at `$SIM_CHROMIUM`); if it is absent and we are root
//! with apt, the test installs Debian's `chromium` package. Where it can be neither found
//! nor installed (no apt, not root, the install fails, or `SIM_NO_BROWSER_INSTALL` is
//! set) the test prints why and passes without looking: a machine without a browser
//! cannot say anything about the page.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Names Chromium goes by.
const BROWSERS: &[&str] = &[
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
];

/// The longest the test spends installing Chromium (package lists and the package).
const INSTALL_BUDGET: Duration = Duration::from_secs(150);

/// Writes straight to stderr, past the test harness's capture, so a skip is seen.
fn say(text: &str) {
    let _ = writeln!(std::io::stderr(), "{text}");
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

fn find_browser() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("SIM_CHROMIUM") {
        return Some(PathBuf::from(p));
    }
    BROWSERS.iter().find_map(|b| on_path(b))
}

fn quiet(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Installs Debian's `chromium` with apt (refreshing the package lists if the first try
/// fails, as on a fresh machine), within a time limit.
fn install_browser() -> Result<(), String> {
    if std::env::var_os("SIM_NO_BROWSER_INSTALL").is_some() {
        return Err("SIM_NO_BROWSER_INSTALL is set".into());
    }
    if on_path("apt-get").is_none() {
        return Err("no apt-get on this machine".into());
    }
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("id -u: {e}"))?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Err("not root, so apt-get cannot install it".into());
    }
    // One budget for the whole install, so a slow or unreachable mirror costs CI at most
    // this long before the test gives up and skips.
    let deadline = Instant::now() + INSTALL_BUDGET;
    let apt = |args: &[&str]| {
        let left = deadline.saturating_duration_since(Instant::now()).as_secs();
        if left < 5 {
            return false;
        }
        let mut cmd = match on_path("timeout") {
            Some(t) => {
                let mut c = Command::new(t);
                c.arg(left.to_string()).arg("apt-get");
                c
            }
            None => Command::new("apt-get"),
        };
        cmd.args([
            "-o",
            "Acquire::http::Timeout=20",
            "-o",
            "Acquire::Retries=1",
        ])
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive");
        quiet(&mut cmd)
    };
    let install = ["install", "-y", "-q", "--no-install-recommends", "chromium"];
    say("report_browser: Chromium not found; installing Debian's chromium package with apt-get");
    let started = Instant::now();
    let installed = apt(&install) || (apt(&["update", "-q"]) && apt(&install));
    if !installed {
        return Err(format!(
            "apt-get install chromium failed or took over {} s",
            INSTALL_BUDGET.as_secs()
        ));
    }
    say(&format!(
        "report_browser: installed Chromium in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Runs the browser headless on `page` with `args`; returns (stdout, stderr).
fn chromium(browser: &Path, profile: &Path, page: &Path, args: &[&str]) -> (String, String) {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .output()
        .expect("start chromium");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// An attribute of the `<html>` element in a dumped DOM.
fn attribute<'a>(dom: &'a str, name: &str) -> Option<&'a str> {
    let start = dom.find(&format!(" {name}=\""))? + name.len() + 3;
    let len = dom[start..].find('"')?;
    Some(&dom[start..start + len])
}

#[test]
fn the_report_loads_without_errors_and_draws_every_lane() {
    let started = Instant::now();
    let browser = match find_browser() {
        Some(b) => b,
        None => match install_browser().map(|()| find_browser()) {
            Ok(Some(b)) => b,
            Ok(None) => {
                say("SKIPPED report_browser: apt-get installed chromium but it is not on PATH");
                return;
            }
            Err(why) => {
                say(&format!(
                    "SKIPPED report_browser: no Chromium to load the HTML report in ({why}); \
                     install the chromium package or set SIM_CHROMIUM to run it"
                ));
                return;
            }
        },
    };
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("report-browser");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/leader-crash-while-locked.toml");
    let scenario = sim::scenario::load(&file).unwrap();
    let report = sim::runner::run(&scenario, scenario.seeds[0]);
    let html = sim::report::render(
        &report,
        &scenario,
        "sim replay leader-crash-while-locked.toml",
    );
    let page = dir.join("report.html");
    std::fs::write(&page, html).unwrap();

    let loaded = Instant::now();
    // A tall window, so every section is drawn at load (rows out of view are skipped).
    let (dom, log) = chromium(
        &browser,
        &dir.join("profile"),
        &page,
        &["--dump-dom", "--window-size=1600,4000"],
    );
    let load_s = loaded.elapsed().as_secs_f64();
    assert_eq!(
        attribute(&dom, "data-errors"),
        None,
        "the page's script failed; browser log:\n{log}"
    );
    assert_eq!(
        attribute(&dom, "data-report-ready"),
        Some("yes"),
        "the page never finished drawing; browser log:\n{log}\nDOM head: {}",
        &dom[..dom.len().min(2000)]
    );
    let console: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught"))
        .collect();
    assert!(
        console.is_empty(),
        "console output from the page:\n{}",
        console.join("\n")
    );
    let lanes: Vec<&str> = attribute(&dom, "data-lanes")
        .unwrap_or("")
        .split(',')
        .collect();
    for host in report
        .hosts
        .iter()
        .map(String::as_str)
        .chain(["c1", "c2", "verify"])
    {
        assert!(lanes.contains(&host), "no lane for {host}: {lanes:?}");
    }
    let ops: usize = attribute(&dom, "data-ops").unwrap_or("0").parse().unwrap();
    let expected = report.history.records.len() + report.history.final_reads.len();
    assert_eq!(ops, expected, "operations in the key rows");

    // Zoomed in on the join (from 3 s), few enough messages to draw one by one.
    let mut zoomed = page.clone().into_os_string();
    zoomed.push("#view=3.0,3.4");
    let (dom, log) = chromium(
        &browser,
        &dir.join("profile"),
        Path::new(&zoomed),
        &["--dump-dom", "--window-size=1600,4000"],
    );
    assert_eq!(attribute(&dom, "data-errors"), None, "{log}");
    let arrows: usize = attribute(&dom, "data-arrows")
        .unwrap_or("0")
        .parse()
        .unwrap();
    assert!(arrows > 0, "no message drawn as an arrow when zoomed in");

    let shot = dir.join("report.png");
    let (_, log) = chromium(
        &browser,
        &dir.join("profile"),
        &page,
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1600,1000",
        ],
    );
    let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("no screenshot ({e}); log:\n{log}"));
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
    // A blank page compresses to a few kilobytes; lanes, bars and text do not.
    assert!(
        png.len() > 30_000,
        "the screenshot is nearly blank: {} bytes",
        png.len()
    );
    say(&format!(
        "report_browser: page drawn in {} ms by the page's own clock; chromium --dump-dom took \
         {load_s:.1} s; whole test {:.1} s",
        attribute(&dom, "data-render-ms").unwrap_or("?"),
        started.elapsed().as_secs_f64()
    ));
}
