//! Typed access to a `#[repr(C)]` header at the front of a byte slice, the only place the
//! views turn bytes into header structs.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// The header `H` at the front of `buf`.
///
/// Views call this only after checking `buf.len() >= size_of::<H>()` at construction; `H` is
/// `Unaligned`, so that is the only way the conversion can fail.
#[inline(always)]
pub(crate) fn header<H: FromBytes + KnownLayout + Immutable + Unaligned>(buf: &[u8]) -> &H {
    match H::ref_from_prefix(buf) {
        Ok((h, _)) => h,
        Err(_) => unreachable!("view length is checked at construction"),
    }
}

/// Mutable form of [`header`].
#[inline(always)]
pub(crate) fn header_mut<H: FromBytes + IntoBytes + KnownLayout + Unaligned>(
    buf: &mut [u8],
) -> &mut H {
    match H::mut_from_prefix(buf) {
        Ok((h, _)) => h,
        Err(_) => unreachable!("view length is checked at construction"),
    }
}
