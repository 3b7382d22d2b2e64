//! Quiescent-state-based reclamation (QSBR) of second-level groups, in the style of DPDK's
//! `rte_rcu_qsbr` as integrated with `rte_lpm`.
//!
//! The writer unlinks a group (a `Release` store of the entry that pointed at it), then
//! [`Qsbr::retire_epoch`] advances the global epoch `G` and tags the group with the new value
//! `e`. A registered reader reports a quiescent state between bursts by storing the current `G`
//! in its slot; a reader that reported `>= e` has finished every lookup that could have read the
//! old pointer, so once every *online* reader has done so the group may be reused. Offline
//! readers (slot value 0) hold no references and are ignored.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence};

/// Most reader handles one table can have at once.
pub const MAX_READERS: usize = 128;

#[repr(align(64))]
struct Slot {
    claimed: AtomicBool,
    /// 0: offline; otherwise the global epoch the reader saw at its last quiescent state.
    epoch: AtomicU64,
}

pub(crate) struct Qsbr {
    global: AtomicU64,
    /// One past the highest slot ever claimed (bounds the writer's scan).
    high_water: AtomicUsize,
    slots: Box<[Slot]>,
}

impl Qsbr {
    pub(crate) fn new() -> Self {
        Self {
            global: AtomicU64::new(1),
            high_water: AtomicUsize::new(0),
            slots: (0..MAX_READERS)
                .map(|_| Slot {
                    claimed: AtomicBool::new(false),
                    epoch: AtomicU64::new(0),
                })
                .collect(),
        }
    }

    /// Claims a slot and puts it online. `None` when all slots are taken.
    pub(crate) fn register(&self) -> Option<usize> {
        for (i, slot) in self.slots.iter().enumerate() {
            if slot
                .claimed
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                self.high_water.fetch_max(i + 1, Ordering::SeqCst);
                self.online(i);
                return Some(i);
            }
        }
        None
    }

    pub(crate) fn unregister(&self, slot: usize) {
        self.offline(slot);
        self.slots[slot].claimed.store(false, Ordering::Release);
    }

    /// Marks the reader online: from now on the writer waits for it.
    pub(crate) fn online(&self, slot: usize) {
        let g = self.global.load(Ordering::SeqCst);
        self.slots[slot].epoch.store(g, Ordering::SeqCst);
        // Pairs with the fence in `min_online`: either the writer sees this slot online, or
        // this reader's following table loads see the writer's unlinking stores.
        fence(Ordering::SeqCst);
    }

    /// Marks the reader offline: it holds no table references until `online`.
    pub(crate) fn offline(&self, slot: usize) {
        self.slots[slot].epoch.store(0, Ordering::Release);
    }

    /// Reports a quiescent state: the reader holds no references from earlier lookups.
    #[inline]
    pub(crate) fn quiescent(&self, slot: usize) {
        let g = self.global.load(Ordering::Acquire);
        let s = &self.slots[slot].epoch;
        if s.load(Ordering::Relaxed) != g {
            s.store(g, Ordering::Release);
        }
    }

    /// Called by the writer after unlinking a group: returns the epoch the group must wait for.
    pub(crate) fn retire_epoch(&self) -> u64 {
        self.global.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The lowest epoch reported by an online reader (`u64::MAX` when none is online):
    /// groups retired with an epoch `<=` this value are free to reuse.
    pub(crate) fn min_online(&self) -> u64 {
        fence(Ordering::SeqCst);
        let n = self.high_water.load(Ordering::SeqCst);
        self.slots[..n]
            .iter()
            .map(|s| s.epoch.load(Ordering::Acquire))
            .filter(|&e| e != 0)
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Number of readers currently registered.
    pub(crate) fn readers(&self) -> usize {
        let n = self.high_water.load(Ordering::Acquire);
        self.slots[..n]
            .iter()
            .filter(|s| s.claimed.load(Ordering::Acquire))
            .count()
    }
}

/// The reader protocol of a lookup handle `$reader` (a struct with fields `tables: TablesRef`
/// and `slot: usize`, its slot registered with `tables`' QSBR state): `quiescent`, `offline`,
/// `online`, and unregistering on drop. [`crate::Lpm4Reader`] and [`crate::Lpm6Reader`] follow
/// the same protocol, so both get it from here.
macro_rules! reader_protocol {
    ($reader:ident) => {
        impl $reader {
            /// Reports a quiescent state (call once per burst).
            #[inline]
            pub fn quiescent(&mut self) {
                self.tables.tables().qsbr.quiescent(self.slot);
            }

            /// Stops taking part in grace periods (no lookups until [`Self::online`]).
            pub fn offline(&mut self) {
                self.tables.tables().qsbr.offline(self.slot);
            }

            /// Takes part in grace periods again.
            pub fn online(&mut self) {
                self.tables.tables().qsbr.online(self.slot);
            }
        }

        impl Drop for $reader {
            fn drop(&mut self) {
                self.tables.tables().qsbr.unregister(self.slot);
            }
        }
    };
}
pub(crate) use reader_protocol;
