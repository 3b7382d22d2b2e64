//! The time-stamp counter, calibrated once against `CLOCK_MONOTONIC`.
//!
//! Pacing deadlines and payload timestamps are TSC ticks: reading it costs a few nanoseconds and
//! no system call. The invariant TSC ticks at one rate on every core, so a timestamp taken by the
//! TX core can be compared with the RX core's clock.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Reads the cycle counter (nanoseconds since first use where there is none).
#[inline(always)]
pub fn now() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: RDTSC has no preconditions on x86-64.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

/// Ticks of [`now`] per second, measured once (over 50 ms against `CLOCK_MONOTONIC`).
pub fn hz() -> u64 {
    static HZ: OnceLock<u64> = OnceLock::new();
    *HZ.get_or_init(|| {
        if cfg!(not(target_arch = "x86_64")) {
            return 1_000_000_000;
        }
        // The median of three short windows: a preemption between the paired reads skews one.
        let mut v = [0.0f64; 3];
        for x in &mut v {
            let (t0, c0) = (Instant::now(), now());
            std::thread::sleep(Duration::from_millis(17));
            let (c1, t1) = (now(), Instant::now());
            *x = c1.wrapping_sub(c0) as f64 / (t1 - t0).as_secs_f64();
        }
        v.sort_by(f64::total_cmp);
        let best = v[1];
        (best.max(1.0)) as u64
    })
}

/// Converts a duration to ticks.
pub fn ticks(d: Duration) -> u64 {
    (d.as_nanos() * hz() as u128 / 1_000_000_000) as u64
}

/// Converts ticks to nanoseconds.
#[inline]
pub fn to_ns(ticks: u64) -> u64 {
    (ticks as u128 * 1_000_000_000 / hz() as u128) as u64
}

/// Spins until the counter reaches `deadline`; returns the counter value then.
#[inline]
pub fn spin_until(deadline: u64) -> u64 {
    loop {
        let t = now();
        if t >= deadline {
            return t;
        }
        std::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_tracks_the_monotonic_clock() {
        let _ = hz();
        let (t0, c0) = (Instant::now(), now());
        std::thread::sleep(Duration::from_millis(40));
        let (c1, real) = (now(), t0.elapsed().as_nanos() as f64);
        let ns = to_ns(c1 - c0) as f64;
        // Generous (shared machine): within 25 %.
        assert!(
            (ns / real - 1.0).abs() < 0.25,
            "tsc {ns} ns vs os {real} ns"
        );
        let back = to_ns(ticks(Duration::from_millis(1)));
        assert!((999_000..=1_000_000).contains(&back), "{back}");
    }
}
