//! A cheap clock for the worker loop: the TSC on x86-64, calibrated once against the OS clock;
//! elsewhere a monotonic clock in nanoseconds.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Reads the cycle counter (or nanoseconds where there is none).
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

/// Ticks of [`now`] per second, measured once against the OS clock: the median of three
/// 17 ms windows, so a preemption between the paired reads of one window does not skew it.
pub fn hz() -> u64 {
    static HZ: OnceLock<u64> = OnceLock::new();
    *HZ.get_or_init(|| {
        if cfg!(not(target_arch = "x86_64")) {
            return 1_000_000_000;
        }
        let mut v = [0.0f64; 3];
        for x in &mut v {
            let (t0, c0) = (Instant::now(), now());
            std::thread::sleep(Duration::from_millis(17));
            let (c1, t1) = (now(), Instant::now());
            *x = c1.wrapping_sub(c0) as f64 / (t1 - t0).as_secs_f64();
        }
        v.sort_by(f64::total_cmp);
        v[1].max(1.0) as u64
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibrated_clock_tracks_the_os_clock() {
        let t0 = Instant::now();
        let c0 = now();
        std::thread::sleep(Duration::from_millis(30));
        let ns = to_ns(now() - c0);
        let real = t0.elapsed().as_nanos() as u64;
        // Generous: within 50% (the machine is shared).
        assert!(
            ns > real / 2 && ns < real * 3 / 2,
            "tsc {ns} ns vs os {real} ns"
        );
        let back = to_ns(ticks(Duration::from_millis(1)));
        assert!((999_000..=1_000_000).contains(&back), "{back}");
    }

    #[test]
    fn calibration_tracks_the_monotonic_clock_within_a_quarter() {
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
    }
}
