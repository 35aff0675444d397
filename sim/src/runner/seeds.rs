//! Deriving independent seeds from the run's one seed.

use crate::fnv::fnv1a;

/// FNV-1a over the run seed, a name and a counter: every host and subsystem gets its own
/// stream, stable across runs and unaffected by the others' draws.
pub fn derive(seed: u64, name: &str, n: u64) -> u64 {
    fnv1a(
        seed.to_le_bytes()
            .into_iter()
            .chain(name.bytes())
            .chain(n.to_le_bytes()),
    )
}
