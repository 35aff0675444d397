//! How `cluster restart`, `cluster join` and `cluster remove` reach the `cluster` that runs the processes:
//! a request file in its `--dir`, which the running `cluster` checks a few times a second,
//! carries out, and answers with a reply file. Files, not a socket, because the folder is
//! already the one thing both invocations share.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

const REQUEST: &str = "control.request";
const REPLY: &str = "control.reply";
const PID: &str = "cluster.pid";

/// How long a request waits for the running `cluster` to answer.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

/// Marks `dir` as run by this process (for requests to find), until dropped.
pub struct Running(PathBuf);

impl Running {
    /// Records this process as the one running the cluster in `dir`; refuses if another
    /// live `cluster` already does.
    pub fn claim(dir: &Path) -> anyhow::Result<Running> {
        if let Some(pid) = live_supervisor(dir) {
            bail!(
                "another cluster (pid {pid}) runs in {}; stop it first (kill {pid})",
                dir.display()
            );
        }
        let _ = std::fs::remove_file(dir.join(REQUEST));
        let _ = std::fs::remove_file(dir.join(REPLY));
        std::fs::write(dir.join(PID), std::process::id().to_string())
            .with_context(|| format!("writing {}", dir.join(PID).display()))?;
        Ok(Running(dir.to_owned()))
    }

    /// The pending request, if any (taken: it is not seen twice).
    pub fn take_request(&self) -> Option<String> {
        let path = self.0.join(REQUEST);
        let text = std::fs::read_to_string(&path).ok()?;
        let _ = std::fs::remove_file(&path);
        Some(text.trim().to_owned())
    }

    /// Answers the request taken last.
    pub fn reply(&self, text: &str) {
        let tmp = self.0.join(format!("{REPLY}.tmp"));
        if std::fs::write(&tmp, text).is_ok() {
            let _ = std::fs::rename(&tmp, self.0.join(REPLY));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(self.0.join(PID));
    }
}

/// Sends `request` to the `cluster` running in `dir` and returns its answer.
pub fn send(dir: &Path, request: &str) -> anyhow::Result<String> {
    let Some(pid) = live_supervisor(dir) else {
        bail!(
            "no cluster is running in {} (no live process in {}); start it with `cluster --dir {}`",
            dir.display(),
            dir.join(PID).display(),
            dir.display()
        );
    };
    if dir.join(REQUEST).exists() {
        bail!("another request is pending in {}; try again", dir.display());
    }
    let _ = std::fs::remove_file(dir.join(REPLY));
    // Written whole, then renamed: the running cluster never reads half a request.
    let tmp = dir.join(format!("{REQUEST}.tmp"));
    std::fs::write(&tmp, request).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, dir.join(REQUEST)).context("placing the request")?;
    let deadline = Instant::now() + ANSWER_WITHIN;
    while Instant::now() < deadline {
        if let Ok(answer) = std::fs::read_to_string(dir.join(REPLY)) {
            let _ = std::fs::remove_file(dir.join(REPLY));
            return Ok(answer);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = std::fs::remove_file(dir.join(REQUEST));
    bail!("the cluster (pid {pid}) did not answer within {ANSWER_WITHIN:?}")
}

/// The pid in `DIR/cluster.pid` if that process is alive.
fn live_supervisor(dir: &Path) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(dir.join(PID))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let raw = libc::pid_t::try_from(pid).ok()?;
    // SAFETY: kill(2) with signal 0 only checks that the process exists.
    let alive = unsafe { libc::kill(raw, 0) } == 0;
    alive.then_some(pid)
}
