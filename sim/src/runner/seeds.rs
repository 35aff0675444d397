//! Deriving independent seeds from the run's one seed.

/// FNV-1a over the run seed, a name and a counter: every host and subsystem gets its own
/// stream, stable across runs and unaffected by the others' draws.
pub fn derive(seed: u64, name: &str, n: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = seed
        .to_le_bytes()
        .into_iter()
        .chain(name.bytes())
        .chain(n.to_le_bytes());
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}
