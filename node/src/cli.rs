//! Helpers shared by the binaries: logging and the runtime they run on. Not used by code
//! that runs inside the simulation.

use std::future::Future;

/// Sends `tracing` output to stderr, filtered by `RUST_LOG` (default: `default_level`).
pub fn init_tracing(default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Runs `future` on a current-thread runtime inside a `LocalSet`: the shape turmoil gives
/// each simulated host, so node code runs the same way in both.
pub fn run_local<F: Future>(future: F) -> std::io::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    Ok(local.block_on(&runtime, future))
}

/// Makes what the data directory `dir` holds durable before a binary starts on it: a
/// process killed before it synced leaves writes the next one would otherwise trust (see
/// [`crate::io::sync_data_dir`]).
pub fn make_durable(dir: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let synced = crate::io::sync_data_dir(dir)
        .with_context(|| format!("syncing what {} holds before reading it", dir.display()))?;
    tracing::debug!(dir = %dir.display(), paths = synced.len(), "data directory synced");
    Ok(())
}
