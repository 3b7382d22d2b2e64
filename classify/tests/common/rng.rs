//! The small deterministic generator (xorshift64*) the classify tests, benches and perf
//! examples draw keys and rules from; included with `#[path]` so every target uses one copy.

/// xorshift64* state; seed it with any non-zero value.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `0..n`.
    #[allow(dead_code)] // not every includer needs it
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}
