//! Catching panics inside simulated hosts.
//!
//! A panic in a task spawned on a host's `LocalSet` is swallowed by tokio (the task's
//! join handle gets it), so the harness installs a panic hook that records the message
//! for the thread's current run before the default hook prints it.

use std::cell::RefCell;
use std::sync::Once;

thread_local! {
    static PANICS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Installs the recording hook once per process.
pub fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let host = if turmoil::in_simulation() {
                "in a simulated host: "
            } else {
                ""
            };
            PANICS.with(|p| p.borrow_mut().push(format!("panic {host}{info}")));
            previous(info);
        }));
    });
}

/// The panics recorded on this thread since the last call.
pub fn take() -> Vec<String> {
    PANICS.with(|p| std::mem::take(&mut *p.borrow_mut()))
}
