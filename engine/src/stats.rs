//! Statistics: per-lcore counters, snapshots, and the periodic and final text views.
//!
//! Each worker lcore owns one [`LcoreStats`]. Only that lcore writes it, with a plain load and
//! store on each `AtomicU64` (no locked read-modify-write: there is a single writer), and the main
//! thread reads it at any time; 64-bit loads never tear. Every group of counters sits on its own
//! cache lines so no two lcores ever write the same line.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::Serialize;

/// A counter with a single writer.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning lcore may call this: it is a load and a store, not an atomic
    /// add, so two writers would lose counts (never memory safety).
    #[inline(always)]
    pub fn add(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    /// Overwrites the value (single writer).
    #[inline(always)]
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }

    /// Reads the value.
    #[inline(always)]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counters of one lcore that do not depend on a port.
#[derive(Debug, Default)]
#[repr(C, align(64))]
pub struct CoreCounters {
    /// Packets received from port queues.
    pub rx_packets: Counter,
    /// Packets dequeued from pipeline rings.
    pub ring_rx: Counter,
    /// Packets handed to TX queues and taken by them.
    pub tx_packets: Counter,
    /// Packets a TX queue did not take (freed by the engine).
    pub tx_dropped: Counter,
    /// Packets dropped by the application (sum over reasons).
    pub app_dropped: Counter,
    /// Packets not enqueued on a full pipeline ring (back-pressure).
    pub ring_full: Counter,
    /// Packets left in pipeline rings at shutdown (freed).
    pub exit_dropped: Counter,
    /// Loop iterations.
    pub polls: Counter,
    /// Loop iterations that received nothing.
    pub empty_polls: Counter,
    /// Nanoseconds spent paused or asleep by the adaptive idle policy.
    pub idle_ns: Counter,
}

/// Counters of one lcore for one port.
#[derive(Debug, Default)]
#[repr(C, align(64))]
pub struct PortCounters {
    /// Packets received from this port.
    pub rx_packets: Counter,
    /// Bytes received from this port.
    pub rx_bytes: Counter,
    /// Packets sent on this port.
    pub tx_packets: Counter,
    /// Bytes sent on this port.
    pub tx_bytes: Counter,
    /// Packets this port's TX queue did not take.
    pub tx_dropped: Counter,
}

/// Most named drop reasons an application may declare.
pub const MAX_DROP_REASONS: usize = 16;

/// Application drop counters, one per declared reason plus "other" for unknown indices.
#[derive(Debug, Default)]
#[repr(C, align(64))]
pub struct DropCounters {
    /// Index `i < MAX_DROP_REASONS` is reason `i`; the last is "other".
    pub by_reason: [Counter; MAX_DROP_REASONS + 1],
}

/// The statistics of one lcore.
#[derive(Debug)]
pub struct LcoreStats {
    /// The lcore id.
    pub lcore: u32,
    /// Port-independent counters.
    pub core: CoreCounters,
    /// Per-port counters, indexed by port id.
    pub ports: Box<[PortCounters]>,
    /// Application drop counters.
    pub drops: Box<DropCounters>,
    /// Names of the drop reasons.
    pub drop_names: Arc<[String]>,
}

impl LcoreStats {
    /// Counters for `lcore` with `nb_ports` ports and the given drop reason names.
    pub fn new(lcore: u32, nb_ports: usize, drop_names: Arc<[String]>) -> Self {
        LcoreStats {
            lcore,
            core: CoreCounters::default(),
            ports: (0..nb_ports).map(|_| PortCounters::default()).collect(),
            drops: Box::default(),
            drop_names,
        }
    }

    /// Counts `n` application drops for `reason` (indices past the declared names count as
    /// "other").
    #[inline]
    pub fn count_drop(&self, reason: usize, n: u64) {
        let idx = if reason < self.drop_names.len() {
            reason
        } else {
            MAX_DROP_REASONS
        };
        self.drops.by_reason[idx].add(n);
        self.core.app_dropped.add(n);
    }

    /// A consistent-enough copy of the counters (each read individually).
    pub fn snapshot(&self) -> LcoreSnapshot {
        let mut drops: Vec<(String, u64)> = self
            .drop_names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), self.drops.by_reason[i].get()))
            .collect();
        drops.push((
            "other".to_string(),
            self.drops.by_reason[MAX_DROP_REASONS].get(),
        ));
        LcoreSnapshot {
            lcore: self.lcore,
            rx_packets: self.core.rx_packets.get(),
            ring_rx: self.core.ring_rx.get(),
            tx_packets: self.core.tx_packets.get(),
            tx_dropped: self.core.tx_dropped.get(),
            app_dropped: self.core.app_dropped.get(),
            ring_full: self.core.ring_full.get(),
            exit_dropped: self.core.exit_dropped.get(),
            polls: self.core.polls.get(),
            empty_polls: self.core.empty_polls.get(),
            idle_ns: self.core.idle_ns.get(),
            drops: drops.into_iter().collect(),
            ports: self
                .ports
                .iter()
                .map(|p| LcorePortSnapshot {
                    rx_packets: p.rx_packets.get(),
                    rx_bytes: p.rx_bytes.get(),
                    tx_packets: p.tx_packets.get(),
                    tx_bytes: p.tx_bytes.get(),
                    tx_dropped: p.tx_dropped.get(),
                })
                .collect(),
        }
    }
}

/// A copy of one lcore's per-port counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LcorePortSnapshot {
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets TX did not take.
    pub tx_dropped: u64,
}

/// A copy of one lcore's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LcoreSnapshot {
    /// The lcore id.
    pub lcore: u32,
    /// Packets received from ports.
    pub rx_packets: u64,
    /// Packets dequeued from pipeline rings.
    pub ring_rx: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Packets TX did not take.
    pub tx_dropped: u64,
    /// Packets dropped by the application.
    pub app_dropped: u64,
    /// Packets dropped on a full pipeline ring.
    pub ring_full: u64,
    /// Packets left in pipeline rings at shutdown.
    pub exit_dropped: u64,
    /// Loop iterations.
    pub polls: u64,
    /// Loop iterations without packets.
    pub empty_polls: u64,
    /// Nanoseconds idle (adaptive policy).
    pub idle_ns: u64,
    /// Application drops by reason name.
    pub drops: std::collections::BTreeMap<String, u64>,
    /// Per-port counters, indexed by port id.
    pub ports: Vec<LcorePortSnapshot>,
}

/// A port's counters as the driver reports them, plus the engine's own TX drops.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PortSnapshot {
    /// Port id.
    pub id: u16,
    /// Device name.
    pub name: String,
    /// Driver name.
    pub driver: String,
    /// RX queues in use.
    pub rx_queues: u16,
    /// TX queues in use.
    pub tx_queues: u16,
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets the hardware/kernel dropped on RX (DPDK's `imissed`).
    pub rx_missed: u64,
    /// RX errors.
    pub rx_errors: u64,
    /// RX mbuf allocation failures.
    pub rx_nombuf: u64,
    /// TX errors.
    pub tx_errors: u64,
    /// Packets dropped on TX: by the driver plus those the engine freed because TX was full.
    pub tx_dropped: u64,
}

/// A mempool's occupancy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MempoolSnapshot {
    /// Pool name.
    pub name: String,
    /// Total mbufs.
    pub capacity: u64,
    /// Mbufs handed out.
    pub in_use: u64,
    /// Mbufs free (shared ring and caches).
    pub available: u64,
    /// Allocation failures.
    pub alloc_failures: u64,
}

/// Where the statistics views and telemetry read from.
pub trait StatsSource: Send + Sync {
    /// Ports, by id.
    fn ports(&self) -> Vec<PortSnapshot>;
    /// Worker lcores.
    fn lcores(&self) -> Vec<LcoreSnapshot>;
    /// Mempools.
    fn mempools(&self) -> Vec<MempoolSnapshot>;
    /// Free-form information about the process (version, pid, lcores, uptime...).
    fn info(&self) -> serde_json::Value;
    /// The application's telemetry commands (besides the built-in queries).
    fn commands(&self) -> Vec<String> {
        Vec::new()
    }
    /// Runs application command `name` with `args`; `None` if there is no such command.
    fn command(&self, name: &str, args: &str) -> Option<Result<serde_json::Value, String>> {
        let _ = (name, args);
        None
    }
}

/// Formats a packet rate.
pub fn format_rate(pps: f64) -> String {
    if pps >= 1e6 {
        format!("{:.2} Mpps", pps / 1e6)
    } else if pps >= 1e3 {
        format!("{:.2} Kpps", pps / 1e3)
    } else {
        format!("{pps:.0} pps")
    }
}

/// Produces testpmd-style periodic lines: one per port, with rates since the previous call.
#[derive(Debug, Default)]
pub struct RateView {
    last: Option<(Instant, Vec<PortSnapshot>)>,
}

impl RateView {
    /// A view with no history.
    pub fn new() -> Self {
        Self::default()
    }

    /// One line per port, with rates over the time since the last call.
    pub fn lines(&mut self, ports: &[PortSnapshot], lcores: &[LcoreSnapshot]) -> Vec<String> {
        let now = Instant::now();
        let app_dropped: u64 = lcores.iter().map(|l| l.app_dropped).sum();
        let mut out = Vec::with_capacity(ports.len() + 1);
        for p in ports {
            let (rx_rate, tx_rate) = match &self.last {
                Some((t, prev)) => {
                    let dt = now.duration_since(*t).as_secs_f64().max(1e-9);
                    let old = prev.iter().find(|o| o.id == p.id);
                    let d = |new: u64, f: fn(&PortSnapshot) -> u64| {
                        new.saturating_sub(old.map(f).unwrap_or(0)) as f64 / dt
                    };
                    (
                        d(p.rx_packets, |s| s.rx_packets),
                        d(p.tx_packets, |s| s.tx_packets),
                    )
                }
                None => (0.0, 0.0),
            };
            out.push(format!(
                "port {} ({}): rx {} pkts ({}) missed {} | tx {} pkts ({}) dropped {}",
                p.id,
                p.name,
                p.rx_packets,
                format_rate(rx_rate),
                p.rx_missed,
                p.tx_packets,
                format_rate(tx_rate),
                p.tx_dropped
            ));
        }
        out.push(format!("lcores: app dropped {app_dropped}"));
        self.last = Some((now, ports.to_vec()));
        out
    }
}

/// Totals over all lcores, as printed in the final line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Packets received.
    pub rx: u64,
    /// Packets sent.
    pub tx: u64,
    /// Packets dropped by the application.
    pub app_dropped: u64,
    /// Packets TX did not take.
    pub tx_dropped: u64,
    /// Packets dropped on full pipeline rings.
    pub ring_full: u64,
    /// Packets left in pipeline rings at shutdown.
    pub exit_dropped: u64,
}

impl Totals {
    /// Sums lcore snapshots.
    pub fn of(lcores: &[LcoreSnapshot]) -> Self {
        lcores.iter().fold(Totals::default(), |t, l| Totals {
            rx: t.rx + l.rx_packets,
            tx: t.tx + l.tx_packets,
            app_dropped: t.app_dropped + l.app_dropped,
            tx_dropped: t.tx_dropped + l.tx_dropped,
            ring_full: t.ring_full + l.ring_full,
            exit_dropped: t.exit_dropped + l.exit_dropped,
        })
    }
}

/// The summary printed at exit: per port, per lcore, then one `final:` line with totals.
pub fn final_summary(ports: &[PortSnapshot], lcores: &[LcoreSnapshot], elapsed_s: f64) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "---------------- final statistics ----------------");
    for p in ports {
        let _ = writeln!(
            s,
            "port {} ({}, {}): rx {} pkts {} bytes missed {} errors {} nombuf {} | tx {} pkts {} bytes dropped {} errors {}",
            p.id,
            p.name,
            p.driver,
            p.rx_packets,
            p.rx_bytes,
            p.rx_missed,
            p.rx_errors,
            p.rx_nombuf,
            p.tx_packets,
            p.tx_bytes,
            p.tx_dropped,
            p.tx_errors
        );
    }
    for l in lcores {
        let busy = if l.polls > 0 {
            100.0 * (l.polls - l.empty_polls) as f64 / l.polls as f64
        } else {
            0.0
        };
        let mut drops = String::new();
        for (name, n) in l.drops.iter().filter(|(_, n)| **n > 0) {
            let _ = write!(drops, " {name}={n}");
        }
        let _ = writeln!(
            s,
            "lcore {}: rx {} ring_rx {} tx {} tx_dropped {} app_dropped {}{} ring_full {} polls {} busy {:.1}% idle {:.3} s",
            l.lcore,
            l.rx_packets,
            l.ring_rx,
            l.tx_packets,
            l.tx_dropped,
            l.app_dropped,
            if drops.is_empty() {
                String::new()
            } else {
                format!(" ({})", drops.trim_start())
            },
            l.ring_full,
            l.polls,
            busy,
            l.idle_ns as f64 / 1e9
        );
    }
    let t = Totals::of(lcores);
    let _ = writeln!(
        s,
        "final: rx_packets={} tx_packets={} app_dropped={} tx_dropped={} ring_full={} exit_dropped={} seconds={:.3}",
        t.rx, t.tx, t.app_dropped, t.tx_dropped, t.ring_full, t.exit_dropped, elapsed_s
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_cache_line_aligned() {
        assert_eq!(std::mem::align_of::<CoreCounters>(), 64);
        assert_eq!(std::mem::align_of::<PortCounters>(), 64);
        assert_eq!(std::mem::align_of::<DropCounters>(), 64);
        assert_eq!(std::mem::size_of::<PortCounters>() % 64, 0);
    }

    #[test]
    fn drops_by_reason_and_other() {
        let s = LcoreStats::new(3, 2, Arc::from(vec!["udp9".to_string()]));
        s.count_drop(0, 2);
        s.count_drop(5, 1);
        s.core.rx_packets.add(10);
        s.ports[1].tx_packets.add(7);
        let snap = s.snapshot();
        assert_eq!(snap.lcore, 3);
        assert_eq!(snap.app_dropped, 3);
        assert_eq!(snap.drops["udp9"], 2);
        assert_eq!(snap.drops["other"], 1);
        assert_eq!(snap.rx_packets, 10);
        assert_eq!(snap.ports[1].tx_packets, 7);
    }

    #[test]
    fn rate_view_and_summary() {
        let mut v = RateView::new();
        let mut p = PortSnapshot {
            id: 0,
            name: "null0".into(),
            ..Default::default()
        };
        let first = v.lines(std::slice::from_ref(&p), &[]);
        assert!(
            first[0].starts_with("port 0 (null0): rx 0 pkts (0 pps)"),
            "{first:?}"
        );
        p.rx_packets = 1_000_000_000;
        let second = v.lines(std::slice::from_ref(&p), &[]);
        assert!(second[0].contains("Mpps"), "{second:?}");
        let l = LcoreSnapshot {
            lcore: 1,
            rx_packets: 5,
            tx_packets: 4,
            app_dropped: 1,
            ..Default::default()
        };
        let s = final_summary(&[p], &[l], 1.0);
        assert!(
            s.contains("final: rx_packets=5 tx_packets=4 app_dropped=1 tx_dropped=0"),
            "{s}"
        );
    }
}
