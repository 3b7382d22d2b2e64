//! The packet abstraction the forwarding core is written against.
//!
//! The binaries pass [`ferroplane::Mbuf`]s; unit tests pass `Vec<u8>`. Both give the frame's
//! bytes, mutable access when the buffer is not shared, and a way to grow a fresh buffer.

use ferroplane::Mbuf;

/// A frame the forwarding core can read, rewrite and build.
pub trait Packet {
    /// The frame bytes.
    fn bytes(&self) -> &[u8];
    /// The frame bytes for writing, or `None` if the buffer is shared.
    fn bytes_mut(&mut self) -> Option<&mut [u8]>;
    /// Appends `n` bytes at the end and returns them, or `None` if there is no room.
    fn extend(&mut self, n: usize) -> Option<&mut [u8]>;
    /// Shortens the frame to `len` bytes (no-op if it is shorter).
    fn truncate(&mut self, len: usize);
}

impl Packet for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
    fn bytes_mut(&mut self) -> Option<&mut [u8]> {
        Some(self)
    }
    fn extend(&mut self, n: usize) -> Option<&mut [u8]> {
        let old = self.len();
        self.resize(old + n, 0);
        Some(&mut self[old..])
    }
    fn truncate(&mut self, len: usize) {
        Vec::truncate(self, len)
    }
}

impl Packet for Mbuf {
    #[inline]
    fn bytes(&self) -> &[u8] {
        self.data()
    }
    #[inline]
    fn bytes_mut(&mut self) -> Option<&mut [u8]> {
        self.data_mut()
    }
    fn extend(&mut self, n: usize) -> Option<&mut [u8]> {
        self.append(n).ok()
    }
    fn truncate(&mut self, len: usize) {
        let cur = self.len();
        if len < cur {
            let _ = self.trim(cur - len);
        }
    }
}
