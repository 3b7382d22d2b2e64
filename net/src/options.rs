//! Fixed-capacity storage for IPv4 and TCP header options in a `Copy` representation.

use crate::error::BuildError;

/// Up to 40 bytes of raw header options, a multiple of 4 long (IPv4 IHL and TCP data offset
/// count 32-bit words). Stored inline so that representations stay `Copy` and allocation-free.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HeaderOptions {
    bytes: [u8; 40],
    len: u8,
}

impl HeaderOptions {
    /// Maximum option bytes (15 words minus the 5-word fixed header).
    pub const MAX_LEN: usize = 40;
    /// No options.
    pub const EMPTY: HeaderOptions = HeaderOptions {
        bytes: [0; 40],
        len: 0,
    };
    /// Copies `opts`, which must be a multiple of 4 long and at most 40 bytes.
    pub fn new(opts: &[u8]) -> Result<Self, BuildError> {
        if opts.len() > Self::MAX_LEN || opts.len() % 4 != 0 {
            return Err(BuildError::BadOptionsLength(opts.len()));
        }
        let mut o = HeaderOptions::EMPTY;
        o.bytes[..opts.len()].copy_from_slice(opts);
        o.len = opts.len() as u8;
        Ok(o)
    }
    /// The option bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
    /// Number of option bytes.
    #[inline]
    pub fn len(&self) -> usize {
        self.len as usize
    }
    /// `true` when there are no options.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Default for HeaderOptions {
    fn default() -> Self {
        HeaderOptions::EMPTY
    }
}

impl core::fmt::Debug for HeaderOptions {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "HeaderOptions({:02x?})", self.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        assert_eq!(
            HeaderOptions::new(&[1, 1, 1, 0]).unwrap().as_bytes(),
            &[1, 1, 1, 0]
        );
        assert!(HeaderOptions::new(&[]).unwrap().is_empty());
        assert_eq!(
            HeaderOptions::new(&[0; 3]),
            Err(BuildError::BadOptionsLength(3))
        );
        assert_eq!(
            HeaderOptions::new(&[0; 44]),
            Err(BuildError::BadOptionsLength(44))
        );
        assert_eq!(HeaderOptions::new(&[0; 40]).unwrap().len(), 40);
    }
}
