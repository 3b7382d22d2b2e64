//! `pcap`: a port that reads frames from a pcap file and writes frames to one.
//!
//! Device string: `pcap:rx=in.pcap,tx=out.pcap[,infinite_rx=1]` (at least one of `rx`/`tx`).
//! RX reads microsecond or nanosecond files and stamps each mbuf with the record's time; with
//! `infinite_rx=1` the whole file is loaded at open and replayed in a loop from memory (like
//! DPDK's `infinite_rx`). TX writes a nanosecond pcap (magic `0xa1b23c4d`), using the mbuf's RX
//! timestamp when it has one and the current time otherwise; the file is flushed by
//! [`TxQueue::flush`] and when the queue is dropped. Without `rx` the RX queue yields nothing;
//! without `tx` the TX queue drops (counted in `tx_drops`). One queue each way.

use crate::copy::{Stash, mbuf_from_bytes, segments};
use crate::devargs::DevArgs;
use crate::error::PmdError;
use crate::info::{Capabilities, MacAddr, PortInfo};
use crate::pcap_file::{PcapReader, PcapWriter, now_nanos};
use crate::port::{Port, PortConfig, QueuePort, Queues, RxQueue, TxQueue, VirtualDevice};
use crate::stats::QueueStats;
use ferroplane_mempool::{MbufBurst, Mempool, OffloadFlags};
use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::sync::Arc;

const KEYS: &[&str] = &["rx", "tx", "infinite_rx"];

fn caps() -> Capabilities {
    Capabilities {
        max_rx_queues: 1,
        max_tx_queues: 1,
        multi_segment_tx: true,
        ..Capabilities::default()
    }
}

enum Source {
    /// No rx file.
    None,
    /// Streaming from the file; `None` once it ended or failed.
    File(Option<PcapReader<BufReader<File>>>),
    /// Replaying frames from memory.
    Memory {
        data: Vec<u8>,
        frames: Vec<(usize, usize, u64)>,
        next: usize,
    },
}

struct PcapRx {
    pool: Mempool,
    path: String,
    source: Source,
    stash: Stash,
    buf: Vec<u8>,
    stats: Arc<QueueStats>,
}

struct PcapTx {
    path: String,
    writer: Option<PcapWriter<BufWriter<File>>>,
    spill: Vec<u8>,
    stats: Arc<QueueStats>,
}

fn pcap_err(path: &str, e: impl std::fmt::Display) -> PmdError {
    PmdError::Pcap {
        path: path.to_string(),
        reason: e.to_string(),
    }
}

fn open_reader(path: &str) -> Result<PcapReader<BufReader<File>>, PmdError> {
    let f = File::open(path).map_err(|e| PmdError::io("open", path, e))?;
    PcapReader::new(BufReader::with_capacity(1 << 16, f)).map_err(|e| pcap_err(path, e))
}

/// Opens a pcap port.
pub(crate) fn open(
    args: &DevArgs,
    devstr: &str,
    cfg: &PortConfig,
) -> Result<Box<dyn Port>, PmdError> {
    args.check_keys(KEYS)?;
    let rx = args.get("rx");
    let tx = args.get("tx");
    if rx.is_none() && tx.is_none() {
        return Err(PmdError::MissingKey {
            driver: "pcap".into(),
            key: "rx or tx",
        });
    }
    for (k, v) in [("rx", rx), ("tx", tx)] {
        if v == Some("") {
            return Err(args.bad(k, "", "must be a file path"));
        }
    }
    let infinite = args.flag("infinite_rx", false)?;
    if infinite && rx.is_none() {
        return Err(args.bad("infinite_rx", "1", "needs an rx file"));
    }
    cfg.validate("pcap", &caps())?;

    let source = match rx {
        None => Source::None,
        Some(path) if infinite => {
            let mut r = open_reader(path)?;
            let mut data = Vec::new();
            let mut frames = Vec::new();
            while let Some((h, d)) = r.next_record().map_err(|e| pcap_err(path, e))? {
                frames.push((data.len(), d.len(), h.ts_nanos));
                data.extend_from_slice(&d);
            }
            if frames.is_empty() {
                return Err(pcap_err(path, "infinite_rx needs at least one frame"));
            }
            Source::Memory {
                data,
                frames,
                next: 0,
            }
        }
        Some(path) => Source::File(Some(open_reader(path)?)),
    };
    let writer = match tx {
        None => None,
        Some(path) => {
            let f = File::create(path).map_err(|e| PmdError::io("create", path, e))?;
            Some(
                PcapWriter::new(BufWriter::with_capacity(1 << 16, f))
                    .map_err(|e| PmdError::io("write pcap header", path, e))?,
            )
        }
    };
    let name = rx.or(tx).unwrap_or("pcap").to_string();
    let mut queues = Queues::new();
    queues.add_rx(|stats| PcapRx {
        pool: cfg.pool.clone(),
        path: rx.unwrap_or("").to_string(),
        source,
        stash: Stash::new(32),
        buf: Vec::new(),
        stats,
    });
    queues.add_tx(|stats| PcapTx {
        path: tx.unwrap_or("").to_string(),
        writer,
        spill: Vec::new(),
        stats,
    });
    // One queue each way: `cfg` passed validation against `caps()`.
    let mac = MacAddr::local_from(0x7063_6170_0000);
    let info = PortInfo::without_interface(name, "pcap", devstr, cfg, mac, caps());
    Ok(Box::new(QueuePort::new(info, queues, VirtualDevice)))
}

impl PcapRx {
    /// Replays frames from memory into `burst`: a loop of its own, without the per-frame
    /// source dispatch of the file path.
    fn rx_memory(&mut self, burst: &mut MbufBurst) -> (usize, usize) {
        let Source::Memory { data, frames, next } = &mut self.source else {
            return (0, 0);
        };
        let (mut got, mut bytes) = (0, 0);
        let mut i = *next;
        while !burst.is_full() {
            let (off, len, ts) = frames[i];
            let Some(m) =
                mbuf_from_bytes(&mut self.stash, &self.pool, &data[off..off + len], Some(ts))
            else {
                self.stats.add_alloc_failures(1);
                break;
            };
            if let Err(m) = burst.push(m) {
                self.stash.give_back(m);
                break;
            }
            i += 1;
            if i == frames.len() {
                i = 0;
            }
            got += 1;
            bytes += len;
        }
        *next = i;
        (got, bytes)
    }
}

impl RxQueue for PcapRx {
    fn rx_burst(&mut self, burst: &mut MbufBurst) -> usize {
        if let Source::Memory { .. } = self.source {
            let (got, bytes) = self.rx_memory(burst);
            self.stats.add_rx(got as u64, bytes as u64);
            return got;
        }
        let mut got = 0;
        let mut bytes = 0;
        while !burst.is_full() {
            let m = match &mut self.source {
                Source::None | Source::Memory { .. } => break,
                Source::File(reader) => {
                    let Some(r) = reader else { break };
                    let h = match r.next_header() {
                        Ok(Some(h)) => h,
                        Ok(None) => {
                            *reader = None;
                            break;
                        }
                        Err(e) => {
                            log::error!("pcap {}: {e}; stopping RX", self.path);
                            self.stats.add_rx_errors(1);
                            *reader = None;
                            break;
                        }
                    };
                    self.buf.resize(h.incl_len as usize, 0);
                    if let Err(e) = r.read_data(&mut self.buf) {
                        log::error!("pcap {}: {e}; stopping RX", self.path);
                        self.stats.add_rx_errors(1);
                        *reader = None;
                        break;
                    }
                    let m =
                        mbuf_from_bytes(&mut self.stash, &self.pool, &self.buf, Some(h.ts_nanos));
                    if m.is_none() {
                        // The record is consumed: a file cannot be re-read, so it is a drop.
                        self.stats.add_alloc_failures(1);
                        self.stats.add_rx_missed(1);
                        break;
                    }
                    m
                }
            };
            let Some(m) = m else { break };
            bytes += m.pkt_len();
            got += 1;
            if let Err(m) = burst.push(m) {
                self.stash.give_back(m);
                got -= 1;
                break;
            }
        }
        self.stats.add_rx(got as u64, bytes as u64);
        got
    }
}

impl TxQueue for PcapTx {
    fn tx_burst(&mut self, burst: &mut MbufBurst) -> usize {
        let n = burst.len();
        let Some(w) = &mut self.writer else {
            burst.clear();
            self.stats.add_tx_drops(n as u64);
            return n;
        };
        let (mut sent, mut bytes) = (0u64, 0u64);
        // The clock is read at most once per burst, and only for a packet without an RX
        // timestamp (a replayed pcap has them all).
        let mut now = None;
        for m in burst.iter() {
            let info = m.info();
            let ts = if info.ol_flags.contains(OffloadFlags::RX_TIMESTAMP) {
                info.timestamp
            } else {
                *now.get_or_insert_with(now_nanos)
            };
            // One segment (the common case): no segments array.
            let r = if m.nb_segs() == 1 {
                w.write_frame(ts, m.data())
            } else {
                let (parts, k) = segments(m, &mut self.spill);
                w.write_record(ts, &parts[..k])
            };
            match r {
                Ok(()) => {
                    sent += 1;
                    bytes += m.pkt_len() as u64;
                }
                Err(e) => {
                    log::error!("pcap {}: write failed: {e}", self.path);
                    self.stats.add_tx_errors(1);
                }
            }
        }
        burst.clear();
        self.stats.add_tx(sent, bytes);
        n
    }

    fn flush(&mut self) {
        if let Some(w) = &mut self.writer
            && let Err(e) = w.flush()
        {
            log::error!("pcap {}: flush failed: {e}", self.path);
        }
    }
}

impl Drop for PcapTx {
    fn drop(&mut self) {
        self.flush();
    }
}
