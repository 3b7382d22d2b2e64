//! The synchronisation primitives the ring is built on, swapped for loom's under `cfg(loom)` so
//! the loom model tests explore every interleaving of the real code. (Without loom the slots
//! need no cell type: they are only accessed through raw pointers, see `slots`.)

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;
#[cfg(loom)]
pub(crate) use loom::sync::Arc;
#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, Ordering};

#[cfg(not(loom))]
pub(crate) use core::sync::atomic::{AtomicU32, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::Arc;

/// How many times a waiter spins before it starts yielding its time slice. Waits in the ring
/// are short (another thread is between its head reservation and its tail update, copying at
/// most a burst), so spinning is right; yielding after a while keeps an oversubscribed machine
/// (more ring users than cores, as in CI) from burning whole time slices on a preempted peer.
#[cfg(not(loom))]
const SPINS_BEFORE_YIELD: u32 = 1 << 10;

/// Waits until `cell` holds `expected`. Acquire, so that whatever the thread that stored
/// `expected` did before its Release store happens-before what the caller does next.
#[inline(always)]
pub(crate) fn wait_until_equal(cell: &AtomicU32, expected: u32) {
    #[cfg(not(loom))]
    if cell.load(Ordering::Acquire) != expected {
        wait_slow(cell, expected);
    }
    #[cfg(loom)]
    {
        while cell.load(Ordering::Acquire) != expected {
            loom::thread::yield_now();
        }
    }
}

/// The waiting part of [`wait_until_equal`], out of line: uncontended, the tail is already ours
/// and the spin/yield loop would only cost the fast path registers (and so stack spills, which
/// are stores the following CAS has to drain).
#[cfg(not(loom))]
#[cold]
#[inline(never)]
fn wait_slow(cell: &AtomicU32, expected: u32) {
    let mut spins = 0u32;
    while cell.load(Ordering::Acquire) != expected {
        if spins < SPINS_BEFORE_YIELD {
            spins += 1;
            core::hint::spin_loop();
        } else {
            std::thread::yield_now();
        }
    }
}

/// Backs off after a lost compare-and-swap on a head index.
#[inline(always)]
pub(crate) fn cas_backoff() {
    #[cfg(not(loom))]
    core::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}
