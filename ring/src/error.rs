//! Errors from creating a ring.

use crate::core::MAX_CAPACITY;

/// Why a ring could not be created.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RingError {
    /// The capacity is zero or not a power of two.
    #[error("ring capacity {0} is not a power of two (rings need 1, 2, 4, ... slots)")]
    CapacityNotPowerOfTwo(usize),
    /// The capacity exceeds [`MAX_CAPACITY`](crate::MAX_CAPACITY), or its slots would not fit
    /// in the address space.
    #[error("ring capacity {0} is too large (at most {max} slots)", max = MAX_CAPACITY)]
    CapacityTooLarge(usize),
    /// The memory for the slots could not be allocated.
    #[error("could not allocate {bytes} bytes for a ring of {capacity} slots")]
    AllocationFailed {
        /// The requested capacity.
        capacity: usize,
        /// The bytes its slots need.
        bytes: usize,
    },
}

/// Checks a requested capacity for a ring of `T` and returns it as the ring's `u32` capacity.
pub(crate) fn check_capacity<T>(capacity: usize) -> Result<u32, RingError> {
    if !capacity.is_power_of_two() {
        return Err(RingError::CapacityNotPowerOfTwo(capacity));
    }
    let bytes = capacity.checked_mul(core::mem::size_of::<T>());
    if capacity > MAX_CAPACITY || bytes.is_none_or(|b| b > isize::MAX as usize) {
        return Err(RingError::CapacityTooLarge(capacity));
    }
    Ok(capacity as u32)
}
