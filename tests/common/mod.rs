//! Helpers shared by the integration tests.
#![allow(dead_code)]

/// A small deterministic generator (xorshift64*), so that every failure can
/// be replayed from its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Silence misuse diagnostics in tests that provoke them on purpose.
pub fn quiet() {
    std::env::set_var("TRACEREF_LOG", "off");
}

/// The seed of a randomised test: `TRACEREF_SEED` when set (to replay a
/// failure), else the clock. Printed by `name` so that a failing run says
/// how to replay it.
pub fn seed(name: &str) -> u64 {
    let seed = match std::env::var("TRACEREF_SEED") {
        Ok(s) => s.parse().expect("TRACEREF_SEED must be a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1),
    };
    println!("{name}: seed {seed} (replay with TRACEREF_SEED={seed})");
    seed
}
