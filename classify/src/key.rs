//! Fixed-size lookup keys for the exact-match table.
//!
//! A key is a plain byte string of a fixed length ([`HashKey::LEN`], at most
//! [`MAX_KEY_LEN`]). The provided key types keep their bytes in network order, packed without
//! padding, so equal flows always give equal bytes: [`Ipv4FiveTuple`] is 13 bytes (the classic
//! DPDK l3fwd exact-match key), [`Ipv6FiveTuple`] 37 bytes and [`MacKey`] 6 bytes. Byte arrays
//! `[u8; N]` (N at most 64) are keys too.

use std::net::{Ipv4Addr, Ipv6Addr};

/// The longest key the exact-match table accepts, in bytes.
pub const MAX_KEY_LEN: usize = 64;

/// A fixed-size key: `Copy + Eq`, viewable as exactly [`HashKey::LEN`] bytes.
pub trait HashKey: Copy + Eq {
    /// Length of the byte form.
    const LEN: usize;
    /// The key's bytes (`LEN` of them).
    fn as_bytes(&self) -> &[u8];
    /// Rebuilds a key from `LEN` bytes produced by [`HashKey::as_bytes`].
    fn from_bytes(bytes: &[u8]) -> Self;
}

impl<const N: usize> HashKey for [u8; N] {
    const LEN: usize = N;
    fn as_bytes(&self) -> &[u8] {
        self
    }
    fn from_bytes(bytes: &[u8]) -> Self {
        let mut k = [0u8; N];
        k.copy_from_slice(&bytes[..N]);
        k
    }
}

/// An IPv4 5-tuple: source, destination, source port, destination port, protocol (13 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4FiveTuple([u8; 13]);

impl Ipv4FiveTuple {
    /// Builds the key.
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, proto: u8) -> Self {
        let mut b = [0u8; 13];
        b[..4].copy_from_slice(&src.octets());
        b[4..8].copy_from_slice(&dst.octets());
        b[8..10].copy_from_slice(&sport.to_be_bytes());
        b[10..12].copy_from_slice(&dport.to_be_bytes());
        b[12] = proto;
        Ipv4FiveTuple(b)
    }
    /// Source address.
    pub fn src(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.0[0], self.0[1], self.0[2], self.0[3])
    }
    /// Destination address.
    pub fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::new(self.0[4], self.0[5], self.0[6], self.0[7])
    }
    /// Source port.
    pub fn sport(&self) -> u16 {
        u16::from_be_bytes([self.0[8], self.0[9]])
    }
    /// Destination port.
    pub fn dport(&self) -> u16 {
        u16::from_be_bytes([self.0[10], self.0[11]])
    }
    /// IP protocol number.
    pub fn proto(&self) -> u8 {
        self.0[12]
    }
}

impl std::fmt::Debug for Ipv4FiveTuple {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{} -> {}:{} proto {}",
            self.src(),
            self.sport(),
            self.dst(),
            self.dport(),
            self.proto()
        )
    }
}

impl HashKey for Ipv4FiveTuple {
    const LEN: usize = 13;
    fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    fn from_bytes(bytes: &[u8]) -> Self {
        Ipv4FiveTuple(HashKey::from_bytes(bytes))
    }
}

/// An IPv6 5-tuple: source, destination, source port, destination port, protocol (37 bytes).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv6FiveTuple([u8; 37]);

impl Ipv6FiveTuple {
    /// Builds the key.
    pub fn new(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16, proto: u8) -> Self {
        let mut b = [0u8; 37];
        b[..16].copy_from_slice(&src.octets());
        b[16..32].copy_from_slice(&dst.octets());
        b[32..34].copy_from_slice(&sport.to_be_bytes());
        b[34..36].copy_from_slice(&dport.to_be_bytes());
        b[36] = proto;
        Ipv6FiveTuple(b)
    }
    /// Source address.
    pub fn src(&self) -> Ipv6Addr {
        let o: [u8; 16] = HashKey::from_bytes(&self.0[..16]);
        Ipv6Addr::from(o)
    }
    /// Destination address.
    pub fn dst(&self) -> Ipv6Addr {
        let o: [u8; 16] = HashKey::from_bytes(&self.0[16..32]);
        Ipv6Addr::from(o)
    }
    /// Source port.
    pub fn sport(&self) -> u16 {
        u16::from_be_bytes([self.0[32], self.0[33]])
    }
    /// Destination port.
    pub fn dport(&self) -> u16 {
        u16::from_be_bytes([self.0[34], self.0[35]])
    }
    /// IP protocol number.
    pub fn proto(&self) -> u8 {
        self.0[36]
    }
}

impl std::fmt::Debug for Ipv6FiveTuple {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{}]:{} -> [{}]:{} proto {}",
            self.src(),
            self.sport(),
            self.dst(),
            self.dport(),
            self.proto()
        )
    }
}

impl HashKey for Ipv6FiveTuple {
    const LEN: usize = 37;
    fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    fn from_bytes(bytes: &[u8]) -> Self {
        Ipv6FiveTuple(HashKey::from_bytes(bytes))
    }
}

/// A 6-byte Ethernet MAC address key.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct MacKey(pub [u8; 6]);

impl HashKey for MacKey {
    const LEN: usize = 6;
    fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    fn from_bytes(bytes: &[u8]) -> Self {
        MacKey(HashKey::from_bytes(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_tuples_round_trip_through_bytes() {
        let k = Ipv4FiveTuple::new([10, 0, 0, 1].into(), [192, 168, 1, 2].into(), 1234, 80, 6);
        assert_eq!(k.as_bytes().len(), Ipv4FiveTuple::LEN);
        assert_eq!(Ipv4FiveTuple::from_bytes(k.as_bytes()), k);
        assert_eq!((k.sport(), k.dport(), k.proto()), (1234, 80, 6));
        assert_eq!(k.dst(), Ipv4Addr::new(192, 168, 1, 2));
        let s: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let d: Ipv6Addr = "fe80::2".parse().unwrap();
        let k6 = Ipv6FiveTuple::new(s, d, 5, 65535, 17);
        assert_eq!(Ipv6FiveTuple::from_bytes(k6.as_bytes()), k6);
        assert_eq!(
            (k6.src(), k6.dst(), k6.sport(), k6.dport(), k6.proto()),
            (s, d, 5, 65535, 17)
        );
        let m = MacKey([1, 2, 3, 4, 5, 6]);
        assert_eq!(MacKey::from_bytes(m.as_bytes()), m);
        assert!(format!("{k:?}").contains("10.0.0.1:1234"));
    }
}
