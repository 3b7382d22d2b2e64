//! RFC 2544-style throughput search: the highest rate whose loss stays within a tolerance
//! (NDR at 0 %, PDR at a chosen percent), found by binary search on the rate, per frame size.

use serde::Serialize;

/// How to search.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SearchConfig {
    /// Lowest rate to consider (frames/s).
    pub min_pps: f64,
    /// Highest rate to consider (frames/s), e.g. line rate.
    pub max_pps: f64,
    /// Stop when the bracket is narrower than this fraction of its upper end.
    pub resolution: f64,
    /// Acceptable loss in percent (0 for NDR).
    pub loss_pct: f64,
    /// At most this many trials.
    pub max_trials: u32,
    /// Trial length in seconds, if trials are timed: a trial whose generator sent fewer than
    /// 95 % of `rate * trial_secs` frames did not offer the rate and fails.
    pub trial_secs: Option<f64>,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            min_pps: 1_000.0,
            max_pps: 14_880_952.0,
            resolution: 0.01,
            loss_pct: 0.0,
            max_trials: 20,
            trial_secs: None,
        }
    }
}

/// One trial's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Trial {
    /// Rate offered (frames/s).
    pub offered_pps: f64,
    /// Frames sent.
    pub tx: u64,
    /// Frames received (distinct).
    pub rx: u64,
    /// Loss in percent.
    pub loss_pct: f64,
    /// Within the tolerance.
    pub pass: bool,
}

/// The search's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchResult {
    /// Highest passing rate (0 if none passed).
    pub throughput_pps: f64,
    /// Every trial in order.
    pub trials: Vec<Trial>,
}

/// Binary search. `trial(pps)` runs one trial at that rate and returns (sent, received).
/// The first trial is at `max_pps` (a device that keeps up ends the search at once).
pub fn search(cfg: &SearchConfig, mut trial: impl FnMut(f64) -> (u64, u64)) -> SearchResult {
    let mut trials = Vec::new();
    let mut run = |pps: f64, trials: &mut Vec<Trial>| {
        let (tx, rx) = trial(pps);
        let lost = tx.saturating_sub(rx);
        let loss_pct = if tx == 0 {
            100.0
        } else {
            lost as f64 * 100.0 / tx as f64
        };
        let offered = cfg.trial_secs.is_none_or(|t| tx as f64 >= 0.95 * pps * t);
        let pass = tx > 0 && offered && loss_pct <= cfg.loss_pct;
        trials.push(Trial {
            offered_pps: pps,
            tx,
            rx,
            loss_pct,
            pass,
        });
        pass
    };
    let (mut lo, mut hi) = (0.0f64, cfg.max_pps);
    if run(cfg.max_pps, &mut trials) {
        return SearchResult {
            throughput_pps: cfg.max_pps,
            trials,
        };
    }
    let mut best = 0.0;
    let mut rate = (cfg.max_pps / 2.0).max(cfg.min_pps);
    while (trials.len() as u32) < cfg.max_trials {
        if run(rate, &mut trials) {
            best = rate;
            lo = rate;
        } else {
            hi = rate;
        }
        if hi - lo <= cfg.resolution * hi || hi <= cfg.min_pps {
            break;
        }
        rate = ((lo + hi) / 2.0).max(cfg.min_pps);
        if rate >= hi {
            break;
        }
    }
    SearchResult {
        throughput_pps: best,
        trials,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A device that forwards up to `cap` frames/s and drops the excess.
    fn device(cap: f64) -> impl FnMut(f64) -> (u64, u64) {
        move |pps| {
            let tx = pps as u64;
            (tx, tx.min(cap as u64))
        }
    }

    #[test]
    fn ndr_converges_on_capacity() {
        let cfg = SearchConfig {
            max_pps: 1e6,
            resolution: 0.001,
            ..Default::default()
        };
        let r = search(&cfg, device(123_456.0));
        assert!(r.throughput_pps <= 123_456.0, "{}", r.throughput_pps);
        assert!(
            r.throughput_pps >= 123_456.0 * 0.998,
            "{}",
            r.throughput_pps
        );
        assert!(r.trials.len() <= 20);
    }

    #[test]
    fn pdr_allows_the_given_loss() {
        let cfg = SearchConfig {
            max_pps: 1e6,
            resolution: 0.001,
            loss_pct: 10.0,
            ..Default::default()
        };
        // Passes up to cap / 0.9.
        let r = search(&cfg, device(100_000.0));
        assert!(
            (r.throughput_pps / 111_111.0 - 1.0).abs() < 0.005,
            "{}",
            r.throughput_pps
        );
    }

    #[test]
    fn fast_device_passes_first_trial_and_dead_device_reports_zero() {
        let cfg = SearchConfig {
            max_pps: 1e5,
            ..Default::default()
        };
        let r = search(&cfg, device(1e9));
        assert_eq!((r.throughput_pps, r.trials.len()), (1e5, 1));
        let r = search(&cfg, |p| (p as u64, 0));
        assert_eq!(r.throughput_pps, 0.0);
        assert!(r.trials.iter().all(|t| !t.pass));
    }
}
