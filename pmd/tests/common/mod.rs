//! Shared helpers for the integration tests.
#![allow(dead_code)]

use ferroplane_mempool::{HugePolicy, Mbuf, MbufBurst, Mempool, MempoolConfig};
use ferroplane_pmd::{PortConfig, RxQueue};
use std::time::{Duration, Instant};

/// A small 4 KiB-page pool (tests run in parallel; leave hugepages to the benches).
pub fn pool(name: &str, count: usize) -> Mempool {
    Mempool::new(&MempoolConfig {
        name: name.into(),
        count,
        cache_size: 0,
        hugepages: HugePolicy::Never,
        ..MempoolConfig::default()
    })
    .expect("mempool")
}

/// A one-queue config on `pool`.
pub fn cfg(pool: &Mempool) -> PortConfig {
    PortConfig::new(pool.clone())
}

/// An mbuf holding `data`.
pub fn mbuf(pool: &Mempool, data: &[u8]) -> Mbuf {
    let mut m = pool.alloc().expect("alloc");
    m.append(data.len()).expect("room").copy_from_slice(data);
    m
}

/// The whole packet as bytes.
pub fn bytes(m: &Mbuf) -> Vec<u8> {
    let mut v = vec![0u8; m.pkt_len()];
    m.read(0, &mut v).unwrap();
    v
}

/// Polls `rxq` until `want` frames accepted by `keep` arrived or `timeout` passed.
pub fn rx_until(
    rxq: &mut dyn RxQueue,
    want: usize,
    timeout: Duration,
    mut keep: impl FnMut(&[u8]) -> bool,
) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut out = Vec::new();
    let mut burst = MbufBurst::new();
    while out.len() < want && Instant::now() < deadline {
        if rxq.rx_burst(&mut burst) == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        for m in burst.drain(..) {
            let b = bytes(&m);
            if keep(&b) {
                out.push(b);
            }
        }
    }
    out
}

/// A path under the temp dir, unique to this process, removed on drop (also on panic).
pub struct TempPath(pub std::path::PathBuf);

impl TempPath {
    /// `<tmp>/fp-pmd-<pid>-<name>`.
    pub fn new(name: &str) -> Self {
        TempPath(std::env::temp_dir().join(format!("fp-pmd-{}-{name}", std::process::id())))
    }
}

impl Drop for TempPath {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
