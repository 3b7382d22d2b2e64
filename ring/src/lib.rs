//! Lock-free fixed-capacity rings in the design of DPDK's `rte_ring`.
//!
//! A ring is a FIFO of `Copy + Send` items (mbuf handles, indices, pointers) with a power-of-two
//! number of slots, all usable. Producer and consumer each have a head and a tail index on their
//! own cache lines; the indices are free-running `u32`s, so a position is `index & (capacity - 1)`
//! and counts are wrapping differences. Every operation comes in two shapes:
//!
//! - **bulk**: all of the requested items or none (`enqueue_bulk`, `dequeue_bulk`);
//! - **burst**: as many as possible, from the front (`enqueue_burst`, `dequeue_burst`).
//!
//! Two ways to hold a ring:
//!
//! - [`Ring`]: multi-producer/multi-consumer, shared through `&self` by any number of threads.
//! - [`channel`]: exclusive [`Producer`] and [`Consumer`] handles, each side [`SyncMode::Single`]
//!   (one handle, no compare-and-swap, the opposite tail cached locally) or
//!   [`SyncMode::Multi`] (handles cloned with `try_clone` and sent to other threads).
//!
//! ```
//! use ferroplane_ring::{Ring, SyncMode, channel};
//!
//! let ring = Ring::<u32>::new(8)?;
//! assert_eq!(ring.enqueue_bulk(&[1, 2, 3]), 3);
//! let mut out = [0; 4];
//! assert_eq!(ring.dequeue_bulk(&mut out), 0); // only 3 queued: all or nothing
//! assert_eq!(ring.dequeue_burst(&mut out), 3); // as many as there are
//! assert_eq!(out[..3], [1, 2, 3]);
//!
//! let (mut tx, mut rx) = channel::<u64>(1024, SyncMode::Single, SyncMode::Single)?;
//! std::thread::spawn(move || for i in 0..100u64 { while tx.enqueue_one(i).is_err() {} });
//! let mut next = 0;
//! while next < 100 {
//!     if let Some(v) = rx.dequeue_one() {
//!         assert_eq!(v, next);
//!         next += 1;
//!     }
//! }
//! # Ok::<(), ferroplane_ring::RingError>(())
//! ```
//!
//! The algorithm and the memory ordering of each index access are described in the `core`
//! module's source; all unsafe memory access is in the `slots` module. Under `--cfg loom` the
//! atomics and cells are loom's (see `tests/loom.rs`).

mod channel;
mod core;
mod error;
mod ring;
mod slots;
mod sync;

pub use crate::channel::{Consumer, Producer, SyncMode, channel};
pub use crate::core::MAX_CAPACITY;
pub use crate::error::RingError;
pub use crate::ring::Ring;

#[cfg(all(test, not(loom)))]
mod tests;
