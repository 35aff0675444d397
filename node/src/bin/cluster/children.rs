//! The cluster's child processes: each started with its log rotated (never truncated),
//! stopped with SIGTERM and a grace period before SIGKILL, and reported truthfully when
//! it exits.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// Older logs kept per process: `NAME.log.1` (the last run) .. `NAME.log.5`.
const KEPT_LOGS: u32 = 5;

/// How long a child may take to exit after SIGTERM before it is killed.
const GRACE: Duration = Duration::from_secs(5);

/// One process of the cluster and how to start it again.
struct Proc {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    /// `None` once it exited and was reported.
    child: Option<Child>,
}

/// The cluster's processes. Dropping it stops every one still running, so an error never
/// leaves strays behind holding their ports.
pub struct Children {
    dir: PathBuf,
    procs: Vec<Proc>,
}

impl Children {
    /// No process yet; logs go to `dir`.
    pub fn new(dir: &Path) -> Self {
        Children {
            dir: dir.to_owned(),
            procs: Vec::new(),
        }
    }

    /// Starts `program args` as `name`, logging to `DIR/NAME.log` (the previous log moves
    /// to `NAME.log.1`, and so on).
    pub fn start(&mut self, name: &str, program: &Path, args: Vec<String>) -> anyhow::Result<()> {
        let child = spawn(&self.dir, name, program, &args)?;
        let proc = Proc {
            name: name.to_owned(),
            program: program.to_owned(),
            args,
            child: Some(child),
        };
        match self.procs.iter_mut().find(|p| p.name == name) {
            Some(old) => *old = proc,
            None => self.procs.push(proc),
        }
        Ok(())
    }

    /// Stops `name` if it runs and starts it again with the same command line. Returns
    /// what happened, for a person.
    pub fn restart(&mut self, name: &str) -> anyhow::Result<String> {
        let Some(proc) = self.procs.iter_mut().find(|p| p.name == name) else {
            let names: Vec<&str> = self.procs.iter().map(|p| p.name.as_str()).collect();
            anyhow::bail!(
                "no process named {name:?}; the cluster has {}",
                names.join(", ")
            );
        };
        let mut said = String::new();
        if let Some(mut child) = proc.child.take() {
            if child.try_wait()?.is_none() {
                terminate(&mut [&mut child]);
                said = format!("stopped {name} (pid {}); ", child.id());
            }
        }
        let child = spawn(&self.dir, name, &proc.program, &proc.args)?;
        said.push_str(&format!("started {name} again, pid {}", child.id()));
        proc.child = Some(child);
        Ok(said)
    }

    /// Reports each process that exited since the last call: `(name, exit status)`.
    pub fn reap(&mut self) -> anyhow::Result<Vec<(String, String)>> {
        let mut exited = Vec::new();
        for proc in &mut self.procs {
            if let Some(child) = &mut proc.child {
                if let Some(status) = child.try_wait()? {
                    exited.push((proc.name.clone(), status.to_string()));
                    proc.child = None;
                }
            }
        }
        Ok(exited)
    }

    /// The names of the processes running now.
    pub fn running(&self) -> Vec<&str> {
        self.procs
            .iter()
            .filter(|p| p.child.is_some())
            .map(|p| p.name.as_str())
            .collect()
    }

    /// SIGTERM to every running process, then waits for them (SIGKILL after the grace
    /// period), and says which stopped.
    pub fn stop_all(&mut self) {
        let mut running: Vec<(String, Child)> = self
            .procs
            .iter_mut()
            .filter_map(|p| p.child.take().map(|c| (p.name.clone(), c)))
            .collect();
        let mut children: Vec<&mut Child> = running.iter_mut().map(|(_, c)| c).collect();
        terminate(&mut children);
        for (name, _) in &running {
            eprintln!("stopped {name}");
        }
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// SIGTERM to each, a grace period for all together, then SIGKILL to the rest; reaps all.
fn terminate(children: &mut [&mut Child]) {
    for child in children.iter_mut() {
        if let Ok(pid) = libc::pid_t::try_from(child.id()) {
            // SAFETY: kill(2) with a pid this process spawned and has not reaped yet (so
            // the pid cannot have been reused) and a valid signal number.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
    }
    let deadline = Instant::now() + GRACE;
    for child in children.iter_mut() {
        while Instant::now() < deadline {
            match child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        if !matches!(child.try_wait(), Ok(Some(_))) {
            let _ = child.kill();
        }
        let _ = child.wait();
    }
}

fn spawn(dir: &Path, name: &str, program: &Path, args: &[String]) -> anyhow::Result<Child> {
    let log_path = dir.join(format!("{name}.log"));
    rotate(&log_path)?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    println!(
        "started {name:<6} pid {:<7} log {}",
        child.id(),
        log_path.display()
    );
    Ok(child)
}

/// `NAME.log` -> `NAME.log.1` -> ... -> `NAME.log.5` (the oldest dropped): the log of the
/// run that crashed is still there after a restart.
fn rotate(log: &Path) -> anyhow::Result<()> {
    if !log.exists() {
        return Ok(());
    }
    let numbered = |n: u32| PathBuf::from(format!("{}.{n}", log.display()));
    for n in (1..KEPT_LOGS).rev() {
        if numbered(n).exists() {
            std::fs::rename(numbered(n), numbered(n + 1))
                .with_context(|| format!("rotating {}", numbered(n).display()))?;
        }
    }
    std::fs::rename(log, numbered(1)).with_context(|| format!("rotating {}", log.display()))?;
    // Created empty now so a reader never finds the log missing between two runs.
    File::create(log).with_context(|| format!("creating {}", log.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_rotate_and_the_oldest_goes() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("n.log");
        for run in 0..(KEPT_LOGS + 2) {
            rotate(&log).unwrap();
            std::fs::write(&log, format!("run {run}")).unwrap();
        }
        let last = KEPT_LOGS + 1;
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            format!("run {last}")
        );
        for n in 1..=KEPT_LOGS {
            let old = dir.path().join(format!("n.log.{n}"));
            assert_eq!(
                std::fs::read_to_string(&old).unwrap(),
                format!("run {}", last - n)
            );
        }
        assert!(!dir.path().join(format!("n.log.{}", KEPT_LOGS + 1)).exists());
    }
}
