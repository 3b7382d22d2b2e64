//! The idle policy of a worker lcore, after l3fwd-power: keep polling while traffic flows; after
//! many empty polls pause the core briefly, and after more, sleep for periods that double up to
//! a cap; the first non-empty poll returns to full-speed polling. The `Yield` policy instead
//! offers the CPU to other runnable threads after the first [`PAUSE_AFTER`] empty polls.

use std::time::Duration;

use crate::config::IdlePolicy;
use crate::tsc;

/// Empty polls before the lcore starts pausing.
pub const PAUSE_AFTER: u32 = 256;
/// Empty polls before the lcore starts sleeping.
pub const SLEEP_AFTER: u32 = 4096;
/// `spin_loop` hints per pause.
pub const PAUSES: u32 = 64;
/// First sleep.
pub const MIN_SLEEP: Duration = Duration::from_micros(1);
/// Longest sleep.
pub const MAX_SLEEP: Duration = Duration::from_micros(500);

/// Per-lcore idle state.
#[derive(Debug, Clone)]
pub struct Idle {
    policy: IdlePolicy,
    empty: u32,
    sleep: Duration,
}

impl Idle {
    /// Idle state for `policy`.
    pub fn new(policy: IdlePolicy) -> Self {
        Idle {
            policy,
            empty: 0,
            sleep: MIN_SLEEP,
        }
    }

    /// Traffic: back to full-speed polling.
    #[inline(always)]
    pub fn busy(&mut self) {
        self.empty = 0;
        self.sleep = MIN_SLEEP;
    }

    /// An empty poll: maybe pause or sleep. Returns the nanoseconds spent idle.
    #[inline]
    pub fn empty_poll(&mut self) -> u64 {
        if self.policy == IdlePolicy::Busy {
            return 0;
        }
        self.empty = self.empty.saturating_add(1);
        if self.empty < PAUSE_AFTER {
            return 0;
        }
        let t0 = tsc::now();
        if self.policy == IdlePolicy::Yield {
            std::thread::yield_now();
        } else if self.empty < SLEEP_AFTER {
            for _ in 0..PAUSES {
                std::hint::spin_loop();
            }
        } else {
            std::thread::sleep(self.sleep);
            self.sleep = (self.sleep * 2).min(MAX_SLEEP);
        }
        tsc::to_ns(tsc::now().wrapping_sub(t0))
    }

    /// Whether the lcore is currently sleeping between polls.
    pub fn is_sleeping(&self) -> bool {
        self.policy == IdlePolicy::Adaptive && self.empty >= SLEEP_AFTER
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_policy_never_idles() {
        let mut i = Idle::new(IdlePolicy::Busy);
        let idle: u64 = (0..SLEEP_AFTER + 10).map(|_| i.empty_poll()).sum();
        assert_eq!(idle, 0);
        assert!(!i.is_sleeping());
    }

    #[test]
    fn adaptive_backs_off_then_returns_on_traffic() {
        let mut i = Idle::new(IdlePolicy::Adaptive);
        let early: u64 = (0..PAUSE_AFTER - 1).map(|_| i.empty_poll()).sum();
        assert_eq!(early, 0, "no back-off before PAUSE_AFTER empty polls");
        for _ in PAUSE_AFTER - 1..SLEEP_AFTER {
            i.empty_poll();
        }
        assert!(i.is_sleeping());
        let slept: u64 = (0..5).map(|_| i.empty_poll()).sum();
        assert!(
            slept >= 1_000,
            "five sleeps of 1, 2, 4, 8, 16 us took {slept} ns"
        );
        i.busy();
        assert!(!i.is_sleeping());
        assert_eq!(i.empty_poll(), 0);
    }

    #[test]
    fn yield_policy_backs_off_late_and_never_sleeps() {
        let mut i = Idle::new(IdlePolicy::Yield);
        let early: u64 = (0..PAUSE_AFTER - 1).map(|_| i.empty_poll()).sum();
        assert_eq!(early, 0, "no back-off before PAUSE_AFTER empty polls");
        for _ in PAUSE_AFTER - 1..SLEEP_AFTER + 10 {
            i.empty_poll();
        }
        assert!(!i.is_sleeping(), "yielding is not sleeping");
        i.busy();
        assert_eq!(i.empty_poll(), 0);
    }
}
