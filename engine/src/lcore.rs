//! Lcore threads: pinning a thread to a CPU and giving it an lcore id (its per-lcore mempool
//! caches), as DPDK's EAL does for every lcore.
//!
//! The engine's worker threads use [`enter`]: the lcore id is the CPU id, one thread per CPU.
//! Tools whose threads outnumber the CPUs (pktgen runs one thread per queue, several per CPU on a
//! small machine) pin with [`pin_current`] and take any free id with [`claim_any`].

use ferroplane_mempool::{LcoreGuard, MAX_LCORES};

/// Why a thread could not become an lcore.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LcoreError {
    /// The CPU does not exist or the affinity mask refused it.
    #[error("cannot pin to CPU {0}")]
    Pin(u32),
    /// The lcore id is out of range, taken, or the thread already holds one.
    #[error("cannot register lcore {lcore}: {reason}")]
    Register {
        /// The id asked for.
        lcore: u32,
        /// The mempool's reason.
        reason: String,
    },
    /// Every lcore id is held by some thread.
    #[error("all {MAX_LCORES} lcore ids are taken")]
    Exhausted,
}

/// Pins the calling thread to `cpu`.
pub fn pin_current(cpu: u32) -> Result<(), LcoreError> {
    // core_affinity indexes a fixed cpu_set_t and panics beyond it.
    if cpu as usize >= libc::CPU_SETSIZE as usize {
        return Err(LcoreError::Pin(cpu));
    }
    if core_affinity::set_for_current(core_affinity::CoreId { id: cpu as usize }) {
        Ok(())
    } else {
        Err(LcoreError::Pin(cpu))
    }
}

/// Makes the calling thread lcore `lcore`: pins it to CPU `lcore` and claims lcore id `lcore`
/// until the guard is dropped (which flushes the thread's mempool caches).
pub fn enter(lcore: u32) -> Result<LcoreGuard, LcoreError> {
    pin_current(lcore)?;
    ferroplane_mempool::lcore::register(lcore).map_err(|e| LcoreError::Register {
        lcore,
        reason: e.to_string(),
    })
}

/// Claims a free lcore id for the calling thread (without pinning it), so that it gets its own
/// mempool caches. Ids are handed out round-robin from the top of the range down, so they stay
/// clear of the low ids that [`enter`] takes by CPU number, and a thread that exits and one that
/// starts do not immediately reuse one id.
pub fn claim_any() -> Result<LcoreGuard, LcoreError> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    if let Some(held) = ferroplane_mempool::lcore::current() {
        return Err(LcoreError::Register {
            lcore: held,
            reason: "this thread already holds an lcore id".into(),
        });
    }
    for _ in 0..MAX_LCORES {
        let id = MAX_LCORES as u32 - 1 - NEXT.fetch_add(1, Ordering::Relaxed) % MAX_LCORES as u32;
        if let Ok(g) = ferroplane_mempool::lcore::register(id) {
            return Ok(g);
        }
    }
    Err(LcoreError::Exhausted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claimed_ids_are_distinct_high_and_released() {
        const N: usize = 4;
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(N + 1));
        let (tx, rx) = std::sync::mpsc::channel();
        let handles: Vec<_> = (0..N)
            .map(|_| {
                let (b, tx) = (barrier.clone(), tx.clone());
                std::thread::spawn(move || {
                    let g = claim_any().unwrap();
                    assert_eq!(ferroplane_mempool::lcore::current(), Some(g.id()));
                    assert!(claim_any().is_err(), "one id per thread");
                    tx.send(g.id()).unwrap();
                    b.wait(); // hold the id until the parent has looked
                })
            })
            .collect();
        let mut ids: Vec<u32> = (0..N).map(|_| rx.recv().unwrap()).collect();
        for &id in &ids {
            assert!(ferroplane_mempool::lcore::is_claimed(id));
            assert!(
                id >= MAX_LCORES as u32 / 2,
                "helper ids come from the top: {id}"
            );
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), N, "distinct ids");
        barrier.wait();
        for h in handles {
            h.join().unwrap();
        }
        for id in ids {
            assert!(!ferroplane_mempool::lcore::is_claimed(id), "released {id}");
        }
    }

    #[test]
    fn pinning_to_a_missing_cpu_is_an_error() {
        assert_eq!(
            std::thread::spawn(|| pin_current(100_000)).join().unwrap(),
            Err(LcoreError::Pin(100_000))
        );
        // Inside cpu_set_t's range but not a CPU of this machine.
        assert_eq!(
            std::thread::spawn(|| pin_current(1000)).join().unwrap(),
            Err(LcoreError::Pin(1000))
        );
        assert_eq!(
            std::thread::spawn(|| pin_current(u32::MAX)).join().unwrap(),
            Err(LcoreError::Pin(u32::MAX))
        );
        assert!(matches!(
            std::thread::spawn(|| enter(100_000).map(|g| g.id()))
                .join()
                .unwrap(),
            Err(LcoreError::Pin(100_000))
        ));
    }
}
