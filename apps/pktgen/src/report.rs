//! Results: per-port figures, latency summaries, the JSON and CSV reports and the live line.

use std::io::Write;
use std::path::Path;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::error::PktgenError;
use crate::session::{LiveState, SessionConfig};
use crate::traffic::{FCS_LEN, L1_OVERHEAD};

/// Latency figures in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LatencySummary {
    /// Frames with a timestamp.
    pub samples: u64,
    /// Minimum.
    pub min_ns: u64,
    /// Mean.
    pub avg_ns: f64,
    /// Maximum.
    pub max_ns: u64,
    /// Median.
    pub p50_ns: u64,
    /// 90th percentile.
    pub p90_ns: u64,
    /// 99th percentile.
    pub p99_ns: u64,
    /// 99.9th percentile.
    pub p999_ns: u64,
}

impl LatencySummary {
    /// Summarises a histogram (`None` when it is empty).
    pub fn from_histogram(h: &Histogram<u64>) -> Option<Self> {
        (!h.is_empty()).then(|| LatencySummary {
            samples: h.len(),
            min_ns: h.min(),
            avg_ns: h.mean(),
            max_ns: h.max(),
            p50_ns: h.value_at_quantile(0.50),
            p90_ns: h.value_at_quantile(0.90),
            p99_ns: h.value_at_quantile(0.99),
            p999_ns: h.value_at_quantile(0.999),
        })
    }
}

/// One port's figures.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PortReport {
    /// Device string.
    pub port: String,
    /// Frames.
    pub packets: u64,
    /// Bytes without FCS.
    pub bytes: u64,
    /// Seconds between the first and last frame.
    pub seconds: f64,
    /// Frames per second.
    pub pps: f64,
    /// Bit/s of frames with FCS.
    pub bps: f64,
    /// RX: frames without a pktgen stamp.
    pub foreign: u64,
    /// RX: duplicated frames.
    pub duplicates: u64,
    /// RX: frames that arrived after a later one.
    pub reordered: u64,
    /// RX: latency.
    pub latency: Option<LatencySummary>,
}

impl PortReport {
    /// Figures from counts over `seconds`.
    pub fn new(port: &str, packets: u64, bytes: u64, seconds: f64) -> Self {
        let (pps, bps) = if seconds > 0.0 {
            (
                packets as f64 / seconds,
                (bytes + packets * FCS_LEN as u64) as f64 * 8.0 / seconds,
            )
        } else {
            (0.0, 0.0)
        };
        PortReport {
            port: port.into(),
            packets,
            bytes,
            seconds,
            pps,
            bps,
            ..Default::default()
        }
    }
}

/// A run's report (written as JSON; [`Report::write_csv`] writes one row per port).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Rate asked for.
    pub rate: String,
    /// Frames per second per TX port asked for (none: max).
    pub target_pps: Option<f64>,
    /// Mean frame size with FCS.
    pub frame_size: f64,
    /// Transmitting ports.
    pub tx: Vec<PortReport>,
    /// Receiving ports.
    pub rx: Vec<PortReport>,
    /// Frames sent in total.
    pub tx_packets: u64,
    /// Distinct stamped frames received in total.
    pub rx_packets: u64,
    /// Frames sent but never received (sent minus distinct received).
    pub lost: u64,
    /// `lost / tx_packets`.
    pub loss_ratio: f64,
    /// Duplicates received.
    pub duplicates: u64,
    /// Frames received out of order.
    pub reordered: u64,
    /// Latency over every RX port.
    pub latency: Option<LatencySummary>,
    /// Latency CDF points: (percentile, nanoseconds).
    pub latency_cdf: Vec<(f64, u64)>,
}

impl Report {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        cfg: &SessionConfig,
        frame_size: f64,
        target_pps: Option<f64>,
        tx: Vec<PortReport>,
        rx: Vec<PortReport>,
        tx_packets: u64,
        rx_packets: u64,
        duplicates: u64,
        reordered: u64,
        latency: &Histogram<u64>,
    ) -> Self {
        let lost = tx_packets.saturating_sub(rx_packets);
        let cdf = if latency.is_empty() {
            Vec::new()
        } else {
            let mut v: Vec<(f64, u64)> = [
                0.0, 1.0, 5.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0, 95.0, 99.0,
                99.5, 99.9, 99.99, 100.0,
            ]
            .iter()
            .map(|&p| (p, latency.value_at_percentile(p)))
            .collect();
            v.dedup();
            v
        };
        Report {
            rate: String::from(cfg.rate),
            target_pps,
            frame_size,
            tx,
            rx,
            tx_packets,
            rx_packets,
            lost,
            loss_ratio: if tx_packets > 0 {
                lost as f64 / tx_packets as f64
            } else {
                0.0
            },
            duplicates,
            reordered,
            latency: LatencySummary::from_histogram(latency),
            latency_cdf: cdf,
        }
    }

    /// Writes the report as pretty JSON.
    pub fn write_json(&self, path: &Path) -> Result<(), PktgenError> {
        let text =
            serde_json::to_string_pretty(self).map_err(|e| PktgenError::Config(e.to_string()))?;
        std::fs::write(path, text).map_err(|e| PktgenError::io(path.display(), e))
    }

    /// The CSV header of [`Report::csv_rows`].
    pub const CSV_HEADER: &'static str = "direction,port,frame_size,packets,bytes,seconds,pps,bps,lost,duplicates,reordered,lat_min_ns,lat_avg_ns,lat_p50_ns,lat_p90_ns,lat_p99_ns,lat_p999_ns,lat_max_ns";

    /// One CSV row per port (no header).
    pub fn csv_rows(&self) -> Vec<String> {
        let mut rows = Vec::new();
        for (dir, ports) in [("tx", &self.tx), ("rx", &self.rx)] {
            for p in ports {
                let l = p.latency.clone().unwrap_or_default();
                let lost = if dir == "rx" { self.lost } else { 0 };
                rows.push(format!(
                    "{dir},{},{:.1},{},{},{:.6},{:.1},{:.1},{lost},{},{},{},{:.1},{},{},{},{},{}",
                    p.port.replace(',', ";"),
                    self.frame_size,
                    p.packets,
                    p.bytes,
                    p.seconds,
                    p.pps,
                    p.bps,
                    p.duplicates,
                    p.reordered,
                    l.min_ns,
                    l.avg_ns,
                    l.p50_ns,
                    l.p90_ns,
                    l.p99_ns,
                    l.p999_ns,
                    l.max_ns
                ));
            }
        }
        rows
    }

    /// Writes the CSV report.
    pub fn write_csv(&self, path: &Path) -> Result<(), PktgenError> {
        let mut text = String::from(Self::CSV_HEADER);
        text.push('\n');
        for r in self.csv_rows() {
            text.push_str(&r);
            text.push('\n');
        }
        std::fs::write(path, text).map_err(|e| PktgenError::io(path.display(), e))
    }

    /// A short human summary.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "tx {} frames, rx {} distinct, lost {} ({:.4} %), duplicates {}, reordered {}\n",
            self.tx_packets,
            self.rx_packets,
            self.lost,
            self.loss_ratio * 100.0,
            self.duplicates,
            self.reordered
        );
        for p in &self.tx {
            s += &format!(
                "  tx {:<28} {:>10.3} Mpps {:>8.3} Gbit/s\n",
                p.port,
                p.pps / 1e6,
                p.bps / 1e9
            );
        }
        for p in &self.rx {
            s += &format!(
                "  rx {:<28} {:>10.3} Mpps {:>8.3} Gbit/s\n",
                p.port,
                p.pps / 1e6,
                p.bps / 1e9
            );
        }
        if let Some(l) = &self.latency {
            s += &format!(
                "  latency ns: min {} avg {:.0} p50 {} p90 {} p99 {} p99.9 {} max {}\n",
                l.min_ns, l.avg_ns, l.p50_ns, l.p90_ns, l.p99_ns, l.p999_ns, l.max_ns
            );
        }
        s
    }
}

/// Draws the live view: one screen, redrawn in place with ANSI escapes (like pktgen-dpdk).
#[derive(Debug, Default)]
pub struct LiveView {
    last: Vec<(u64, u64)>,
    last_t: f64,
}

impl LiveView {
    /// Renders a frame of the view from counter deltas since the previous call.
    pub fn render(&mut self, live: &LiveState, elapsed: std::time::Duration) -> String {
        let t = elapsed.as_secs_f64();
        let dt = (t - self.last_t).max(1e-3);
        self.last_t = t;
        let mut rows = Vec::new();
        let mut now = Vec::new();
        for (dir, names, ports) in [
            ("TX", &live.tx_names, &live.tx),
            ("RX", &live.rx_names, &live.rx),
        ] {
            for (name, qs) in names.iter().zip(ports.iter()) {
                let (p, b) = qs.iter().fold((0, 0), |(p, b), c| {
                    let (cp, cb, _) = c.load();
                    (p + cp, b + cb)
                });
                now.push((p, b));
                rows.push((dir, name.clone(), p, b));
            }
        }
        let mut out = String::from("\x1b[H\x1b[2J");
        out += &format!("ferroplane pktgen   t = {t:>7.1} s\n\n");
        out += &format!(
            "{:<3} {:<30} {:>14} {:>10} {:>10}\n",
            "", "port", "frames", "Mpps", "Gbit/s"
        );
        let (mut tx_total, mut rx_total) = (0u64, 0u64);
        for (i, (dir, name, p, b)) in rows.iter().enumerate() {
            let (lp, lb) = self.last.get(i).copied().unwrap_or((0, 0));
            let pps = (p - lp) as f64 / dt;
            let bps = ((b - lb) + (p - lp) * FCS_LEN as u64) as f64 * 8.0 / dt;
            let _ = L1_OVERHEAD;
            if *dir == "TX" {
                tx_total += p;
            } else {
                rx_total += p;
            }
            out += &format!(
                "{dir:<3} {name:<30} {p:>14} {:>10.3} {:>10.3}\n",
                pps / 1e6,
                bps / 1e9
            );
        }
        self.last = now;
        out += &format!(
            "\nin flight or lost: {}\n",
            tx_total.saturating_sub(rx_total)
        );
        if let Some(h) = live.take_latency()
            && let Some(l) = LatencySummary::from_histogram(&h)
        {
            out += &format!(
                "latency (last second) us: min {:.1} p50 {:.1} p90 {:.1} p99 {:.1} p99.9 {:.1} max {:.1}\n",
                l.min_ns as f64 / 1e3,
                l.p50_ns as f64 / 1e3,
                l.p90_ns as f64 / 1e3,
                l.p99_ns as f64 / 1e3,
                l.p999_ns as f64 / 1e3,
                l.max_ns as f64 / 1e3
            );
        }
        out
    }

    /// Renders and prints a frame to stdout.
    pub fn print(&mut self, live: &LiveState, elapsed: std::time::Duration) {
        let s = self.render(live, elapsed);
        let mut out = std::io::stdout().lock();
        // Redraw in place on a terminal; in a log, keep every frame, separated.
        let s = if std::io::IsTerminal::is_terminal(&out) {
            s
        } else {
            s.replacen("\x1b[H\x1b[2J", "----\n", 1)
        };
        let _ = out.write_all(s.as_bytes());
        let _ = out.flush();
    }
}
