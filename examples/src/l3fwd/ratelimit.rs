//! A token bucket, for ICMP error rate limiting (RFC 1812 4.3.2.8, RFC 4443 2.4(f)).

/// Tokens refill at `rate` per second up to `burst`; each message takes one.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u64,
    burst: u64,
    /// Tokens scaled by 1e9 (token-nanoseconds), so refills are exact integers.
    level: u64,
    last: u64,
}

const SCALE: u64 = 1_000_000_000;

impl TokenBucket {
    /// A full bucket. `rate` 0 refuses everything.
    pub fn new(rate: u64, burst: u64) -> Self {
        TokenBucket {
            rate,
            burst,
            level: burst.saturating_mul(SCALE),
            last: 0,
        }
    }

    /// Takes one token at time `now` (ns, monotonic); `false` if none is left.
    #[inline]
    pub fn take(&mut self, now: u64) -> bool {
        let elapsed = now.saturating_sub(self.last);
        self.last = self.last.max(now);
        let cap = self.burst.saturating_mul(SCALE);
        self.level = self
            .level
            .saturating_add(elapsed.saturating_mul(self.rate))
            .min(cap);
        if self.level >= SCALE {
            self.level -= SCALE;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_rate() {
        let mut b = TokenBucket::new(10, 5);
        assert_eq!((0..20).filter(|_| b.take(0)).count(), 5);
        // 100 ms later: one more token at 10/s.
        assert!(b.take(100_000_000));
        assert!(!b.take(100_000_000));
        // A long pause refills only up to the burst.
        assert_eq!((0..20).filter(|_| b.take(100 * SCALE)).count(), 5);
        let mut z = TokenBucket::new(0, 0);
        assert!(!z.take(SCALE));
    }
}
