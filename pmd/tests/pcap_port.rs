//! The pcap driver on files (no privileges needed).

mod common;
use ferroplane_mempool::MbufBurst;
use ferroplane_pmd::pcap_file::{MAGIC_NANOS, PcapReader, PcapWriter};
use ferroplane_pmd::{Port, open};
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

fn tmp(name: &str) -> common::TempPath {
    common::TempPath::new(name)
}

fn write_pcap(path: &Path, frames: &[(u64, Vec<u8>)]) {
    let mut w = PcapWriter::new(BufWriter::new(File::create(path).unwrap())).unwrap();
    for (ts, f) in frames {
        w.write_record(*ts, &[f]).unwrap();
    }
    w.flush().unwrap();
}

fn read_pcap(path: &Path) -> Vec<(u64, Vec<u8>)> {
    let mut r = PcapReader::new(File::open(path).unwrap()).unwrap();
    let mut out = Vec::new();
    while let Some((h, d)) = r.next_record().unwrap() {
        assert_eq!(h.orig_len as usize, d.len());
        out.push((h.ts_nanos, d));
    }
    out
}

fn forward_all(port: &mut dyn Port) -> usize {
    let mut rx = port.take_rx_queue(0).unwrap();
    let mut tx = port.take_tx_queue(0).unwrap();
    let mut burst = MbufBurst::new();
    let mut total = 0;
    loop {
        let n = rx.rx_burst(&mut burst);
        if n == 0 {
            break;
        }
        total += n;
        assert_eq!(tx.tx_burst(&mut burst), n);
    }
    tx.flush();
    total
}

#[test]
fn pcap_forwarding_keeps_frames_and_timestamps() {
    let pool = common::pool("pcap_fwd", 256);
    let (inp_guard, out_guard) = (tmp("fwd-in.pcap"), tmp("fwd-out.pcap"));
    let (inp, out) = (&inp_guard.0, &out_guard.0);
    // 100 frames, one of them larger than an mbuf (chained on RX).
    let frames: Vec<(u64, Vec<u8>)> = (0..100u32)
        .map(|i| {
            let len = if i == 50 {
                5000
            } else {
                60 + (i as usize * 13) % 1400
            };
            (
                1_700_000_000_000_000_000 + i as u64 * 1_000_003,
                (0..len).map(|b| (b as u32 ^ i) as u8).collect(),
            )
        })
        .collect();
    write_pcap(inp, &frames);
    let devstr = format!("pcap:rx={},tx={}", inp.display(), out.display());
    let mut port = open(&devstr, &common::cfg(&pool)).unwrap();
    assert_eq!(forward_all(port.as_mut()), 100);
    let s = port.stats();
    assert_eq!((s.rx_packets, s.tx_packets), (100, 100));
    assert_eq!(
        s.rx_bytes,
        frames.iter().map(|f| f.1.len() as u64).sum::<u64>()
    );
    drop(port);
    let raw = std::fs::read(out).unwrap();
    assert_eq!(raw[0..4], MAGIC_NANOS.to_le_bytes());
    assert_eq!(read_pcap(out), frames);
    assert_eq!(pool.in_use(), 0);
}

#[test]
fn pcap_reads_microsecond_files() {
    let pool = common::pool("pcap_us", 64);
    let inp_guard = tmp("us.pcap");
    let inp = &inp_guard.0;
    let mut f = Vec::new();
    f.extend(0xa1b2_c3d4u32.to_le_bytes());
    f.extend(2u16.to_le_bytes());
    f.extend(4u16.to_le_bytes());
    f.extend([0u8; 8]);
    f.extend(65535u32.to_le_bytes());
    f.extend(1u32.to_le_bytes());
    for i in 0..3u32 {
        f.extend((10 + i).to_le_bytes());
        f.extend(250_000u32.to_le_bytes());
        f.extend(64u32.to_le_bytes());
        f.extend(64u32.to_le_bytes());
        f.extend([i as u8; 64]);
    }
    std::fs::write(inp, &f).unwrap();
    let mut port = open(&format!("pcap:rx={}", inp.display()), &common::cfg(&pool)).unwrap();
    let mut rx = port.take_rx_queue(0).unwrap();
    let mut tx = port.take_tx_queue(0).unwrap();
    let mut burst = MbufBurst::new();
    assert_eq!(rx.rx_burst(&mut burst), 3);
    assert_eq!(rx.rx_burst(&mut burst), 0, "end of file");
    for (i, m) in burst.iter().enumerate() {
        assert_eq!(
            m.info().timestamp,
            (10 + i as u64) * 1_000_000_000 + 250_000_000
        );
        assert_eq!(m.data(), &[i as u8; 64]);
    }
    // No tx file: TX drops and counts.
    assert_eq!(tx.tx_burst(&mut burst), 3);
    assert_eq!(port.stats().tx_drops, 3);
    drop((rx, tx, port));
    assert_eq!(pool.in_use(), 0);
}

#[test]
fn pcap_infinite_rx_replays_from_memory() {
    let pool = common::pool("pcap_inf", 256);
    let inp_guard = tmp("inf.pcap");
    let inp = &inp_guard.0;
    let frames: Vec<(u64, Vec<u8>)> = (0..5u8).map(|i| (i as u64, vec![i; 64])).collect();
    write_pcap(inp, &frames);
    let mut port = open(
        &format!("pcap:rx={},infinite_rx=1", inp.display()),
        &common::cfg(&pool),
    )
    .unwrap();
    let mut rx = port.take_rx_queue(0).unwrap();
    let mut burst = MbufBurst::new();
    for round in 0..10 {
        assert_eq!(rx.rx_burst(&mut burst), 64, "round {round}");
        for (k, m) in burst.iter().enumerate() {
            let idx = (round * 64 + k) % 5;
            assert_eq!(m.data(), &frames[idx].1[..]);
        }
        burst.clear();
    }
    // A file removed after open does not matter: frames are in memory.
    std::fs::remove_file(inp).unwrap();
    assert_eq!(rx.rx_burst(&mut burst), 64);
    drop(burst);
    drop((rx, port));
    assert_eq!(pool.in_use(), 0);
}

#[test]
fn pcap_rejects_bad_files() {
    let pool = common::pool("pcap_bad", 64);
    let inp_guard = tmp("bad.pcap");
    let inp = &inp_guard.0;
    std::fs::write(inp, b"this is not a pcap file at all").unwrap();
    let e = open(&format!("pcap:rx={}", inp.display()), &common::cfg(&pool))
        .err()
        .unwrap()
        .to_string();
    assert!(
        e.contains("not a pcap file") && e.contains("bad.pcap"),
        "{e}"
    );
    write_pcap(inp, &[]);
    let e = open(
        &format!("pcap:rx={},infinite_rx=1", inp.display()),
        &common::cfg(&pool),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("at least one frame"), "{e}");
}

#[test]
fn pcap_infinite_rx_to_tx_file_keeps_frames_and_timestamps() {
    let pool = common::pool("pcap_inf_tx", 256);
    let (inp_guard, out_guard) = (tmp("inf-tx-in.pcap"), tmp("inf-tx-out.pcap"));
    let (inp, out) = (&inp_guard.0, &out_guard.0);
    // Three frames, the middle one chained (larger than an mbuf): both TX paths.
    let frames: Vec<(u64, Vec<u8>)> = [60usize, 5000, 1514]
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            (
                1_600_000_000_123_456_789 + i as u64,
                (0..len).map(|b| (b * 7 + i) as u8).collect(),
            )
        })
        .collect();
    write_pcap(inp, &frames);
    let devstr = format!(
        "pcap:rx={},infinite_rx=1,tx={}",
        inp.display(),
        out.display()
    );
    let mut port = open(&devstr, &common::cfg(&pool)).unwrap();
    let mut rx = port.take_rx_queue(0).unwrap();
    let mut tx = port.take_tx_queue(0).unwrap();
    let mut burst = MbufBurst::new();
    for _ in 0..3 {
        let n = rx.rx_burst(&mut burst);
        assert_eq!(n, burst.len());
        assert_eq!(tx.tx_burst(&mut burst), n);
    }
    drop((rx, tx));
    let s = port.stats();
    assert_eq!(s.rx_packets, s.tx_packets);
    let got = read_pcap(out);
    assert_eq!(got.len() as u64, s.tx_packets);
    for (k, rec) in got.iter().enumerate() {
        assert_eq!(rec, &frames[k % 3], "record {k}");
    }
    drop(port);
    assert_eq!(pool.in_use(), 0);
}

#[test]
fn pcap_tx_stamps_packets_without_rx_timestamp_with_the_current_time() {
    let pool = common::pool("pcap_tx_now", 64);
    let out_guard = tmp("tx-now.pcap");
    let out = &out_guard.0;
    let mut port = open(&format!("pcap:tx={}", out.display()), &common::cfg(&pool)).unwrap();
    let mut tx = port.take_tx_queue(0).unwrap();
    let mut burst = MbufBurst::new();
    for i in 0..4u8 {
        burst.push(common::mbuf(&pool, &[i; 60])).unwrap();
    }
    let before = ferroplane_pmd::pcap_file::now_nanos();
    assert_eq!(tx.tx_burst(&mut burst), 4);
    let after = ferroplane_pmd::pcap_file::now_nanos();
    drop(tx);
    let got = read_pcap(out);
    assert_eq!(got.len(), 4);
    for (i, (ts, d)) in got.iter().enumerate() {
        assert!((before..=after).contains(ts), "{before} <= {ts} <= {after}");
        assert_eq!(ts, &got[0].0, "one clock read per burst");
        assert_eq!(d, &vec![i as u8; 60]);
    }
    drop(port);
    assert_eq!(pool.in_use(), 0);
}
