//! Receive-side scaling: the Toeplitz hash and the redirection table (RETA).
//!
//! The hash follows Microsoft's "RSS hashing functions" specification: for every bit of the
//! input, from the most significant bit of `input[0]` to the least significant bit of the last
//! byte, if the bit is set the result is XORed with the left-most 32 bits of the key, and the key
//! is shifted left by one bit (zeros come in from the right once the 320 key bits are used up).
//!
//! [`toeplitz_hash`] is the fast path: the key is expanded once, in [`RssKey::new`], into one
//! 256-entry table per input byte position (the XOR of the 32-bit key windows selected by the
//! set bits of that byte), so hashing costs one table load and one XOR per input byte.
//! [`toeplitz_hash_bitwise`] is the bit-by-bit definition, kept as the reference for tests.
//!
//! Input layouts (all fields in network byte order, as they appear in the packet):
//! IPv4 2-tuple `src, dst` (8 bytes); IPv4 4-tuple `src, dst, sport, dport` (12 bytes);
//! IPv6 2-tuple (32 bytes); IPv6 4-tuple (36 bytes).
//!
//! A key whose 320 bits repeat with a period of 16 bits (such as [`RssKey::symmetric`], the
//! `0x6d5a` key) hashes `(a, b, pa, pb)` and `(b, a, pb, pa)` alike, so both directions of a flow
//! land on the same queue.

use std::net::{Ipv4Addr, Ipv6Addr};

use thiserror::Error;

/// Length of an RSS key in bytes.
pub const RSS_KEY_LEN: usize = 40;

/// The default key of Microsoft's RSS specification (also the default of many NICs).
pub const MICROSOFT_RSS_KEY: [u8; RSS_KEY_LEN] = [
    0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f, 0xb0,
    0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30, 0xf2, 0x0c,
    0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
];

/// The symmetric key: `0x6d5a` repeated 20 times.
pub const SYMMETRIC_RSS_KEY: [u8; RSS_KEY_LEN] = {
    let mut k = [0u8; RSS_KEY_LEN];
    let mut i = 0;
    while i < RSS_KEY_LEN {
        k[i] = 0x6d;
        k[i + 1] = 0x5a;
        i += 2;
    }
    k
};

/// Input bytes beyond this many see only zero key bits and so never change the hash.
const TABLE_BYTES: usize = RSS_KEY_LEN;

/// A 40-byte Toeplitz key, expanded into per-byte lookup tables for the fast hash.
#[derive(Clone)]
pub struct RssKey {
    key: [u8; RSS_KEY_LEN],
    /// `tables[i][b]`: the hash contribution of byte value `b` at input position `i`.
    tables: Box<[[u32; 256]; TABLE_BYTES]>,
}

impl std::fmt::Debug for RssKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RssKey").field("key", &self.key).finish()
    }
}

impl Default for RssKey {
    fn default() -> Self {
        Self::microsoft()
    }
}

/// The 32 key bits starting at bit `pos` (bit 0 = most significant bit of `key[0]`); bits past
/// the end of the key are zero.
fn key_window(key: &[u8; RSS_KEY_LEN], pos: usize) -> u32 {
    let mut w = 0u64;
    for i in 0..5 {
        let idx = pos / 8 + i;
        let b = if idx < RSS_KEY_LEN { key[idx] } else { 0 };
        w = (w << 8) | u64::from(b);
    }
    // w holds 40 bits starting at byte pos/8; drop the leading pos%8 bits.
    ((w << (pos % 8)) >> 8) as u32
}

impl RssKey {
    /// Expands `key` into lookup tables (about 40 KiB).
    pub fn new(key: [u8; RSS_KEY_LEN]) -> Self {
        let mut tables: Box<[[u32; 256]; TABLE_BYTES]> = vec![[0u32; 256]; TABLE_BYTES]
            .into_boxed_slice()
            .try_into()
            .unwrap_or_else(|_| unreachable!("length is TABLE_BYTES"));
        let t: &mut [[u32; 256]; TABLE_BYTES] = &mut tables;
        for (i, table) in t.iter_mut().enumerate() {
            let mut bit_windows = [0u32; 8];
            for (j, w) in bit_windows.iter_mut().enumerate() {
                // Bit j counted from the most significant bit of byte i.
                *w = key_window(&key, i * 8 + j);
            }
            for (b, entry) in table.iter_mut().enumerate() {
                let mut h = 0;
                for (j, w) in bit_windows.iter().enumerate() {
                    if b & (0x80 >> j) != 0 {
                        h ^= w;
                    }
                }
                *entry = h;
            }
        }
        RssKey { key, tables }
    }

    /// Creates a key from a byte slice, which must be exactly 40 bytes.
    pub fn from_slice(key: &[u8]) -> Result<Self, RssError> {
        let k: [u8; RSS_KEY_LEN] = key.try_into().map_err(|_| RssError::KeyLength(key.len()))?;
        Ok(Self::new(k))
    }

    /// Microsoft's default key ([`MICROSOFT_RSS_KEY`]).
    pub fn microsoft() -> Self {
        Self::new(MICROSOFT_RSS_KEY)
    }

    /// The symmetric key ([`SYMMETRIC_RSS_KEY`]): both directions of a flow hash alike.
    pub fn symmetric() -> Self {
        Self::new(SYMMETRIC_RSS_KEY)
    }

    /// The raw key bytes.
    pub fn bytes(&self) -> &[u8; RSS_KEY_LEN] {
        &self.key
    }

    /// Whether the key repeats with a period of 16 bits, which makes the hash of every 2-tuple
    /// and 4-tuple layout above symmetric in source and destination.
    pub fn is_symmetric(&self) -> bool {
        self.key.chunks_exact(2).all(|c| c == &self.key[..2])
    }

    /// Hash of an IPv4 2-tuple (`src`, `dst`).
    pub fn hash_ipv4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> u32 {
        let mut input = [0u8; 8];
        input[..4].copy_from_slice(&src.octets());
        input[4..].copy_from_slice(&dst.octets());
        toeplitz_hash(self, &input)
    }

    /// Hash of an IPv4 4-tuple (`src`, `dst`, `sport`, `dport`).
    pub fn hash_ipv4_ports(&self, src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16) -> u32 {
        let mut input = [0u8; 12];
        input[..4].copy_from_slice(&src.octets());
        input[4..8].copy_from_slice(&dst.octets());
        input[8..10].copy_from_slice(&sport.to_be_bytes());
        input[10..].copy_from_slice(&dport.to_be_bytes());
        toeplitz_hash(self, &input)
    }

    /// Hash of an IPv6 2-tuple (`src`, `dst`).
    pub fn hash_ipv6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> u32 {
        let mut input = [0u8; 32];
        input[..16].copy_from_slice(&src.octets());
        input[16..].copy_from_slice(&dst.octets());
        toeplitz_hash(self, &input)
    }

    /// Hash of an IPv6 4-tuple (`src`, `dst`, `sport`, `dport`).
    pub fn hash_ipv6_ports(&self, src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16) -> u32 {
        let mut input = [0u8; 36];
        input[..16].copy_from_slice(&src.octets());
        input[16..32].copy_from_slice(&dst.octets());
        input[32..34].copy_from_slice(&sport.to_be_bytes());
        input[34..].copy_from_slice(&dport.to_be_bytes());
        toeplitz_hash(self, &input)
    }
}

/// Toeplitz hash of `input` under `key`, with the precomputed per-byte tables.
///
/// Bytes past the 40th meet only the zero bits shifted in after the key and do not change the
/// result (the same as [`toeplitz_hash_bitwise`]).
#[inline]
pub fn toeplitz_hash(key: &RssKey, input: &[u8]) -> u32 {
    let mut h = 0;
    for (table, &b) in key.tables.iter().zip(input) {
        h ^= table[usize::from(b)];
    }
    h
}

/// The bit-by-bit Toeplitz hash exactly as written in Microsoft's specification (slow; the
/// reference that [`toeplitz_hash`] is tested against).
pub fn toeplitz_hash_bitwise(key: &[u8; RSS_KEY_LEN], input: &[u8]) -> u32 {
    let mut result = 0u32;
    // The key as a big integer shifted left one bit per input bit: keep a 32-bit window plus
    // the index of the next key bit to shift in.
    let mut window = u32::from_be_bytes([key[0], key[1], key[2], key[3]]);
    let mut next_bit = 32usize;
    for &byte in input {
        for j in 0..8 {
            if byte & (0x80 >> j) != 0 {
                result ^= window;
            }
            let incoming = if next_bit < RSS_KEY_LEN * 8 {
                (key[next_bit / 8] >> (7 - next_bit % 8)) & 1
            } else {
                0
            };
            window = (window << 1) | u32::from(incoming);
            next_bit += 1;
        }
    }
    result
}

/// Errors of the RSS module.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum RssError {
    /// The key is not 40 bytes long.
    #[error("RSS key must be {RSS_KEY_LEN} bytes, got {0}")]
    KeyLength(usize),
    /// The RETA size is zero or not a power of two.
    #[error("RETA size must be a non-zero power of two, got {0}")]
    RetaSize(usize),
    /// A RETA must map to at least one queue.
    #[error("RETA needs at least one queue, got {0}")]
    NoQueues(usize),
    /// A RETA index is out of range.
    #[error("RETA index {index} out of range (size {size})")]
    RetaIndex {
        /// The bad index.
        index: usize,
        /// The table size.
        size: usize,
    },
}

/// Redirection table: maps the low bits of an RSS hash to a queue (or lcore) number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reta {
    entries: Vec<u16>,
    mask: u32,
}

impl Reta {
    /// A table of `size` entries (a power of two, such as 64, 128 or 512) filled round-robin
    /// with queues `0..queues`, the way NIC drivers initialise it.
    pub fn new(size: usize, queues: u16) -> Result<Self, RssError> {
        if size == 0 || !size.is_power_of_two() || size > 1 << 16 {
            return Err(RssError::RetaSize(size));
        }
        if queues == 0 {
            return Err(RssError::NoQueues(0));
        }
        let entries = (0..size)
            .map(|i| (i % usize::from(queues)) as u16)
            .collect();
        Ok(Reta {
            entries,
            mask: (size - 1) as u32,
        })
    }

    /// Number of entries.
    pub fn size(&self) -> usize {
        self.entries.len()
    }

    /// The queue for a hash: entry `hash & (size - 1)`.
    #[inline]
    pub fn queue_for(&self, hash: u32) -> u16 {
        self.entries[(hash & self.mask) as usize]
    }

    /// Sets entry `index` to `queue`.
    pub fn set(&mut self, index: usize, queue: u16) -> Result<(), RssError> {
        let size = self.entries.len();
        let e = self
            .entries
            .get_mut(index)
            .ok_or(RssError::RetaIndex { index, size })?;
        *e = queue;
        Ok(())
    }

    /// All entries.
    pub fn entries(&self) -> &[u16] {
        &self.entries
    }

    /// Refills the table round-robin with queues `0..queues`.
    pub fn fill_round_robin(&mut self, queues: u16) -> Result<(), RssError> {
        if queues == 0 {
            return Err(RssError::NoQueues(0));
        }
        for (i, e) in self.entries.iter_mut().enumerate() {
            *e = (i % usize::from(queues)) as u16;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Microsoft's verification suite for IPv4: (destination, dport, source, sport,
    /// hash without ports, hash with ports).
    const IPV4_SUITE: [(&str, u16, &str, u16, u32, u32); 5] = [
        (
            "161.142.100.80",
            1766,
            "66.9.149.187",
            2794,
            0x323e8fc2,
            0x51ccc178,
        ),
        (
            "65.69.140.83",
            4739,
            "199.92.111.2",
            14230,
            0xd718262a,
            0xc626b0ea,
        ),
        (
            "12.22.207.184",
            38024,
            "24.19.198.95",
            12898,
            0xd2d0a5de,
            0x5c2b394a,
        ),
        (
            "209.142.163.6",
            2217,
            "38.27.205.30",
            48228,
            0x82989176,
            0xafc7327f,
        ),
        (
            "202.188.127.2",
            1303,
            "153.39.163.191",
            44251,
            0x5d1809c5,
            0x10e828a2,
        ),
    ];

    /// Microsoft's verification suite for IPv6.
    const IPV6_SUITE: [(&str, u16, &str, u16, u32, u32); 3] = [
        (
            "3ffe:2501:200:3::1",
            1766,
            "3ffe:2501:200:1fff::7",
            2794,
            0x2cc18cd5,
            0x40207d3d,
        ),
        (
            "ff02::1",
            4739,
            "3ffe:501:8::260:97ff:fe40:efab",
            14230,
            0x0f0c461c,
            0xdde51bbf,
        ),
        (
            "fe80::200:f8ff:fe21:67cf",
            38024,
            "3ffe:1900:4545:3:200:f8ff:fe21:67cf",
            44251,
            0x4b61e985,
            0x02d1feef,
        ),
    ];

    #[test]
    fn microsoft_verification_suite_ipv4() {
        let key = RssKey::microsoft();
        for (dst, dport, src, sport, h2, h4) in IPV4_SUITE {
            let (src, dst): (Ipv4Addr, Ipv4Addr) = (src.parse().unwrap(), dst.parse().unwrap());
            assert_eq!(key.hash_ipv4(src, dst), h2, "{src} -> {dst}");
            assert_eq!(
                key.hash_ipv4_ports(src, dst, sport, dport),
                h4,
                "{src} -> {dst}"
            );
            let mut input = Vec::from(src.octets());
            input.extend_from_slice(&dst.octets());
            assert_eq!(toeplitz_hash_bitwise(&MICROSOFT_RSS_KEY, &input), h2);
            input.extend_from_slice(&sport.to_be_bytes());
            input.extend_from_slice(&dport.to_be_bytes());
            assert_eq!(toeplitz_hash_bitwise(&MICROSOFT_RSS_KEY, &input), h4);
        }
    }

    #[test]
    fn microsoft_verification_suite_ipv6() {
        let key = RssKey::microsoft();
        for (dst, dport, src, sport, h2, h4) in IPV6_SUITE {
            let (src, dst): (Ipv6Addr, Ipv6Addr) = (src.parse().unwrap(), dst.parse().unwrap());
            assert_eq!(key.hash_ipv6(src, dst), h2, "{src} -> {dst}");
            assert_eq!(
                key.hash_ipv6_ports(src, dst, sport, dport),
                h4,
                "{src} -> {dst}"
            );
            let mut input = Vec::from(src.octets());
            input.extend_from_slice(&dst.octets());
            assert_eq!(toeplitz_hash_bitwise(&MICROSOFT_RSS_KEY, &input), h2);
        }
    }

    #[test]
    fn symmetric_key_hashes_both_directions_alike() {
        let key = RssKey::symmetric();
        assert!(key.is_symmetric());
        assert!(!RssKey::microsoft().is_symmetric());
        let a: Ipv4Addr = "10.1.2.3".parse().unwrap();
        let b: Ipv4Addr = "192.168.77.1".parse().unwrap();
        assert_eq!(
            key.hash_ipv4_ports(a, b, 1234, 80),
            key.hash_ipv4_ports(b, a, 80, 1234)
        );
        let a6: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let b6: Ipv6Addr = "fe80::42:1".parse().unwrap();
        assert_eq!(
            key.hash_ipv6_ports(a6, b6, 5000, 443),
            key.hash_ipv6_ports(b6, a6, 443, 5000)
        );
        // The Microsoft key is not symmetric (this pair differs).
        let ms = RssKey::microsoft();
        assert_ne!(
            ms.hash_ipv4_ports(a, b, 1234, 80),
            ms.hash_ipv4_ports(b, a, 80, 1234)
        );
    }

    #[test]
    fn key_length_is_checked() {
        assert_eq!(
            RssKey::from_slice(&[0; 39]).unwrap_err(),
            RssError::KeyLength(39)
        );
        assert_eq!(
            RssKey::from_slice(&MICROSOFT_RSS_KEY).unwrap().bytes(),
            &MICROSOFT_RSS_KEY
        );
    }

    #[test]
    fn reta_maps_round_robin_and_validates() {
        assert_eq!(Reta::new(100, 4).unwrap_err(), RssError::RetaSize(100));
        assert_eq!(Reta::new(0, 4).unwrap_err(), RssError::RetaSize(0));
        assert_eq!(Reta::new(64, 0).unwrap_err(), RssError::NoQueues(0));
        let mut reta = Reta::new(128, 3).unwrap();
        assert_eq!(reta.size(), 128);
        assert_eq!(reta.queue_for(0), 0);
        assert_eq!(reta.queue_for(4), 1);
        assert_eq!(reta.queue_for(128 + 5), 2);
        reta.set(5, 9).unwrap();
        assert_eq!(reta.queue_for(0xffff_ff85), 9);
        assert!(reta.set(128, 1).is_err());
        reta.fill_round_robin(2).unwrap();
        assert!(
            reta.entries()
                .iter()
                .enumerate()
                .all(|(i, &q)| q as usize == i % 2)
        );
    }

    proptest! {
        #[test]
        fn table_hash_matches_bitwise(key in proptest::array::uniform32(any::<u8>()),
                                      tail in proptest::array::uniform8(any::<u8>()),
                                      input in proptest::collection::vec(any::<u8>(), 0..48)) {
            let mut k = [0u8; RSS_KEY_LEN];
            k[..32].copy_from_slice(&key);
            k[32..].copy_from_slice(&tail);
            let rk = RssKey::new(k);
            prop_assert_eq!(toeplitz_hash(&rk, &input), toeplitz_hash_bitwise(&k, &input));
        }

        #[test]
        fn symmetric_key_symmetric_for_random_tuples(a in any::<u32>(), b in any::<u32>(),
                                                     pa in any::<u16>(), pb in any::<u16>()) {
            let key = RssKey::symmetric();
            let (a, b) = (Ipv4Addr::from(a), Ipv4Addr::from(b));
            prop_assert_eq!(key.hash_ipv4_ports(a, b, pa, pb), key.hash_ipv4_ports(b, a, pb, pa));
            prop_assert_eq!(key.hash_ipv4(a, b), key.hash_ipv4(b, a));
        }
    }
}
