//! Lcore identity: which per-lcore cache a thread uses.
//!
//! A worker thread claims a unique lcore id with [`register`]; the id is kept in a thread-local
//! and selects the thread's cache in every [`Mempool`](crate::Mempool). Uniqueness is enforced
//! by a global bitmap of claimed ids, so a cache is only ever touched by the one thread that holds
//! its id (which is what lets the caches be plain, unsynchronised arrays). Threads without an id
//! allocate from and free to the pools' shared rings directly.
//!
//! Dropping the [`LcoreGuard`] flushes the thread's cache in every live pool back to that pool's
//! shared ring before releasing the id, so no object is stranded in a cache nobody uses.

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::LcoreError;

/// Number of lcore ids (and of caches per pool): ids are `0..MAX_LCORES`.
pub const MAX_LCORES: usize = 128;

const NO_LCORE: u32 = u32::MAX;

static CLAIMED: [AtomicU64; MAX_LCORES / 64] = [const { AtomicU64::new(0) }; MAX_LCORES / 64];

thread_local! {
    static CURRENT: Cell<u32> = const { Cell::new(NO_LCORE) };
}

/// Claims lcore id `id` for the calling thread until the returned guard is dropped.
///
/// Fails if `id >= MAX_LCORES`, if another thread holds `id`, or if this thread already holds
/// an id.
pub fn register(id: u32) -> Result<LcoreGuard, LcoreError> {
    if id as usize >= MAX_LCORES {
        return Err(LcoreError::OutOfRange(id));
    }
    if let Some(held) = current() {
        return Err(LcoreError::ThreadAlreadyRegistered(held));
    }
    let (word, bit) = (id as usize / 64, 1u64 << (id % 64));
    // Acquire: the previous holder's cache accesses happen before ours.
    if CLAIMED[word].fetch_or(bit, Ordering::Acquire) & bit != 0 {
        return Err(LcoreError::Taken(id));
    }
    CURRENT.with(|c| c.set(id));
    Ok(LcoreGuard {
        id,
        _not_send: PhantomData,
    })
}

/// The calling thread's lcore id, if it holds one.
#[inline]
pub fn current() -> Option<u32> {
    let id = current_raw();
    (id != NO_LCORE).then_some(id)
}

/// Whether some thread currently holds `id`.
pub fn is_claimed(id: u32) -> bool {
    (id as usize) < MAX_LCORES
        && CLAIMED[id as usize / 64].load(Ordering::Relaxed) & (1 << (id % 64)) != 0
}

/// The calling thread's lcore id, or `u32::MAX` (never a valid index) if none.
#[inline]
pub(crate) fn current_raw() -> u32 {
    CURRENT.with(|c| c.get())
}

/// Proof that the current thread holds an lcore id; dropping it flushes the thread's caches and
/// releases the id. Not `Send`: the id belongs to the thread that registered it.
#[derive(Debug)]
pub struct LcoreGuard {
    id: u32,
    _not_send: PhantomData<*const ()>,
}

impl LcoreGuard {
    /// The id held.
    pub fn id(&self) -> u32 {
        self.id
    }
}

impl Drop for LcoreGuard {
    fn drop(&mut self) {
        // Still the holder of `id`: the caches of `id` are ours to flush.
        crate::pool::flush_lcore_caches(self.id);
        CURRENT.with(|c| c.set(NO_LCORE));
        let (word, bit) = (self.id as usize / 64, 1u64 << (self.id % 64));
        // Release: our cache accesses happen before the next holder's.
        CLAIMED[word].fetch_and(!bit, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Ids 100..128 are reserved for this module's tests so that they do not race with others.
    #[test]
    fn register_is_unique_and_released() {
        let g = register(120).unwrap();
        assert_eq!(current(), Some(120));
        assert_eq!(g.id(), 120);
        assert!(is_claimed(120));
        assert_eq!(
            register(121).unwrap_err(),
            LcoreError::ThreadAlreadyRegistered(120)
        );
        std::thread::spawn(|| {
            assert_eq!(register(120).unwrap_err(), LcoreError::Taken(120));
            assert_eq!(current(), None);
        })
        .join()
        .unwrap();
        drop(g);
        assert_eq!(current(), None);
        assert!(!is_claimed(120));
        std::thread::spawn(|| {
            let g = register(120).unwrap();
            assert_eq!(current(), Some(120));
            drop(g);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn out_of_range() {
        assert_eq!(
            register(MAX_LCORES as u32).unwrap_err(),
            LcoreError::OutOfRange(128)
        );
        assert!(register(u32::MAX).is_err());
        assert!(!is_claimed(u32::MAX));
        assert!(LcoreError::OutOfRange(200).to_string().contains("200"));
    }
}
