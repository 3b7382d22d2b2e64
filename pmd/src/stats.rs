//! Per-queue counters, written by the owning core and read by anyone.
//!
//! Each queue owns one cache-line aligned [`QueueStats`] (shared through an `Arc` with its
//! port for reading). Only the queue's core writes it, so an increment is a relaxed load plus a
//! relaxed store (no locked read-modify-write); 64-bit atomics never tear on read.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// The counters of one queue. RX queues use the `rx_*` fields, TX queues the `tx_*` fields;
/// both can count allocation failures.
#[repr(align(64))]
#[derive(Debug, Default)]
pub struct QueueStats {
    rx_packets: AtomicU64,
    rx_bytes: AtomicU64,
    rx_missed: AtomicU64,
    rx_errors: AtomicU64,
    tx_packets: AtomicU64,
    tx_bytes: AtomicU64,
    tx_drops: AtomicU64,
    tx_errors: AtomicU64,
    alloc_failures: AtomicU64,
}

#[inline(always)]
fn bump(c: &AtomicU64, n: u64) {
    // Single writer: a plain load + store is enough and avoids a locked instruction.
    c.store(c.load(Relaxed).wrapping_add(n), Relaxed);
}

impl QueueStats {
    /// Counts `packets` received, `bytes` in total.
    #[inline]
    pub fn add_rx(&self, packets: u64, bytes: u64) {
        if packets != 0 {
            bump(&self.rx_packets, packets);
            bump(&self.rx_bytes, bytes);
        }
    }
    /// Counts `packets` sent, `bytes` in total.
    #[inline]
    pub fn add_tx(&self, packets: u64, bytes: u64) {
        if packets != 0 {
            bump(&self.tx_packets, packets);
            bump(&self.tx_bytes, bytes);
        }
    }
    /// Counts packets the device or kernel dropped before we saw them (`imissed`).
    #[inline]
    pub fn add_rx_missed(&self, n: u64) {
        bump(&self.rx_missed, n);
    }
    /// Counts received packets that were malformed or too large and dropped.
    #[inline]
    pub fn add_rx_errors(&self, n: u64) {
        bump(&self.rx_errors, n);
    }
    /// Counts packets taken for sending but dropped (for example a full device).
    #[inline]
    pub fn add_tx_drops(&self, n: u64) {
        bump(&self.tx_drops, n);
    }
    /// Counts packets that could not be sent because they were invalid (too large, ...).
    #[inline]
    pub fn add_tx_errors(&self, n: u64) {
        bump(&self.tx_errors, n);
    }
    /// Counts failed mbuf allocations.
    #[inline]
    pub fn add_alloc_failures(&self, n: u64) {
        bump(&self.alloc_failures, n);
    }

    /// A consistent-per-counter copy of the counters.
    pub fn snapshot(&self, kind: QueueKind, queue: u16) -> QueueStatsSnapshot {
        QueueStatsSnapshot {
            kind,
            queue,
            rx_packets: self.rx_packets.load(Relaxed),
            rx_bytes: self.rx_bytes.load(Relaxed),
            rx_missed: self.rx_missed.load(Relaxed),
            rx_errors: self.rx_errors.load(Relaxed),
            tx_packets: self.tx_packets.load(Relaxed),
            tx_bytes: self.tx_bytes.load(Relaxed),
            tx_drops: self.tx_drops.load(Relaxed),
            tx_errors: self.tx_errors.load(Relaxed),
            alloc_failures: self.alloc_failures.load(Relaxed),
        }
    }
}

/// Whether a queue receives or sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueKind {
    /// A receive queue.
    Rx,
    /// A transmit queue.
    Tx,
}

/// A copy of one queue's counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueStatsSnapshot {
    /// RX or TX queue.
    pub kind: QueueKind,
    /// The queue index.
    pub queue: u16,
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets dropped before we saw them (ring full, kernel drops).
    pub rx_missed: u64,
    /// Received packets dropped as malformed or too large.
    pub rx_errors: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets taken for sending but dropped.
    pub tx_drops: u64,
    /// Packets that could not be sent because they were invalid.
    pub tx_errors: u64,
    /// Failed mbuf allocations.
    pub alloc_failures: u64,
}

/// A port's totals: the sum of its queues plus what the driver counts outside them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received (`ipackets`).
    pub rx_packets: u64,
    /// Bytes received (`ibytes`).
    pub rx_bytes: u64,
    /// Packets dropped before we saw them (`imissed`).
    pub rx_missed: u64,
    /// Received packets dropped as malformed or too large (`ierrors`).
    pub rx_errors: u64,
    /// Packets sent (`opackets`).
    pub tx_packets: u64,
    /// Bytes sent (`obytes`).
    pub tx_bytes: u64,
    /// Packets taken for sending but dropped.
    pub tx_drops: u64,
    /// Packets that could not be sent (`oerrors`).
    pub tx_errors: u64,
    /// Failed mbuf allocations (`rx_nombuf`).
    pub alloc_failures: u64,
}

impl PortStats {
    /// Adds one queue's counters.
    pub fn add(&mut self, q: &QueueStatsSnapshot) {
        self.rx_packets += q.rx_packets;
        self.rx_bytes += q.rx_bytes;
        self.rx_missed += q.rx_missed;
        self.rx_errors += q.rx_errors;
        self.tx_packets += q.tx_packets;
        self.tx_bytes += q.tx_bytes;
        self.tx_drops += q.tx_drops;
        self.tx_errors += q.tx_errors;
        self.alloc_failures += q.alloc_failures;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn queue_stats_are_cache_line_aligned() {
        assert_eq!(std::mem::align_of::<QueueStats>(), 64);
    }

    #[test]
    fn counters_sum_into_port_stats() {
        let rx = QueueStats::default();
        rx.add_rx(3, 180);
        rx.add_rx(0, 0);
        rx.add_rx_missed(2);
        rx.add_rx_errors(1);
        rx.add_alloc_failures(4);
        let tx = QueueStats::default();
        tx.add_tx(5, 300);
        tx.add_tx_drops(6);
        tx.add_tx_errors(7);
        let mut p = PortStats::default();
        p.add(&rx.snapshot(QueueKind::Rx, 0));
        p.add(&tx.snapshot(QueueKind::Tx, 0));
        assert_eq!(
            p,
            PortStats {
                rx_packets: 3,
                rx_bytes: 180,
                rx_missed: 2,
                rx_errors: 1,
                tx_packets: 5,
                tx_bytes: 300,
                tx_drops: 6,
                tx_errors: 7,
                alloc_failures: 4,
            }
        );
    }

    #[test]
    fn single_writer_counts_are_read_monotonically_from_another_thread() {
        let s = Arc::new(QueueStats::default());
        let w = Arc::clone(&s);
        let writer = std::thread::spawn(move || {
            for _ in 0..200_000 {
                w.add_rx(1, 64);
            }
        });
        let mut last = 0;
        while !writer.is_finished() {
            let snap = s.snapshot(QueueKind::Rx, 0);
            assert!(snap.rx_packets >= last);
            last = snap.rx_packets;
        }
        writer.join().unwrap();
        let snap = s.snapshot(QueueKind::Rx, 0);
        assert_eq!(snap.rx_packets, 200_000);
        assert_eq!(snap.rx_bytes, 200_000 * 64);
    }
}
