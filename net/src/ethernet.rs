//! Ethernet II frames and 802.1Q / 802.1ad (QinQ) tags.
//!
//! [`EthernetFrame`] is a view over the 14-byte header (destination, source, EtherType) and the
//! payload after it. A tagged frame carries TPID `0x8100` (802.1Q) or `0x88a8` (802.1ad
//! service tag, the outer tag of QinQ) where the EtherType would be, then a 4-byte
//! [`VlanTag`]: TCI (priority, drop-eligible bit, VLAN id) and the next EtherType.

use core::fmt;
use core::str::FromStr;

use zerocopy::network_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::error::{BuildError, Layer, ParseError, truncated};
use crate::field::{header, header_mut};

/// EtherType values used by the parsers and builders.
pub mod ethertype {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// 802.1Q customer VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad service VLAN tag (outer tag of QinQ).
    pub const QINQ: u16 = 0x88a8;
    /// IPv6.
    pub const IPV6: u16 = 0x86dd;
    /// Transparent Ethernet bridging (an Ethernet frame inside GRE).
    pub const TEB: u16 = 0x6558;
    /// MPLS unicast.
    pub const MPLS: u16 = 0x8847;
    /// LLDP.
    pub const LLDP: u16 = 0x88cc;
    /// IEEE 1588 (PTP) over Ethernet.
    pub const TIMESYNC: u16 = 0x88f7;
}

/// A 48-bit Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: MacAddr = MacAddr([0xff; 6]);
    /// `00:00:00:00:00:00`.
    pub const ZERO: MacAddr = MacAddr([0; 6]);
    /// The six octets.
    #[inline]
    pub const fn octets(&self) -> [u8; 6] {
        self.0
    }
    /// All ones.
    #[inline]
    pub fn is_broadcast(&self) -> bool {
        self.0 == [0xff; 6]
    }
    /// Group bit set (broadcast included).
    #[inline]
    pub fn is_multicast(&self) -> bool {
        self.0[0] & 1 != 0
    }
    /// Neither multicast nor broadcast.
    #[inline]
    pub fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }
    /// Locally administered bit set.
    #[inline]
    pub fn is_local(&self) -> bool {
        self.0[0] & 2 != 0
    }
}

impl From<[u8; 6]> for MacAddr {
    fn from(o: [u8; 6]) -> Self {
        MacAddr(o)
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            o[0], o[1], o[2], o[3], o[4], o[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A string that is not six hex octets separated by `:` or `-`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid MAC address {0:?} (expected six hex octets like 02:00:00:00:00:01)")]
pub struct MacParseError(pub String);

impl FromStr for MacAddr {
    type Err = MacParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut o = [0u8; 6];
        let mut n = 0;
        for part in s.split([':', '-']) {
            if n == 6 || part.is_empty() || part.len() > 2 {
                return Err(MacParseError(s.to_string()));
            }
            o[n] = u8::from_str_radix(part, 16).map_err(|_| MacParseError(s.to_string()))?;
            n += 1;
        }
        if n != 6 {
            return Err(MacParseError(s.to_string()));
        }
        Ok(MacAddr(o))
    }
}

/// The Ethernet II header as laid out on the wire.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct EthernetHeader {
    /// Destination MAC.
    pub dst: [u8; 6],
    /// Source MAC.
    pub src: [u8; 6],
    /// EtherType or TPID.
    pub ethertype: U16,
}

/// Length of the Ethernet II header.
pub const ETHERNET_HEADER_LEN: usize = 14;

/// A view over an Ethernet II frame.
#[derive(Debug, Clone)]
pub struct EthernetFrame<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// Wraps `buffer`, checking it holds at least the 14-byte header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let len = buffer.as_ref().len();
        if len < ETHERNET_HEADER_LEN {
            return Err(truncated(Layer::Ethernet, ETHERNET_HEADER_LEN, len));
        }
        Ok(EthernetFrame { buffer })
    }
    /// The underlying buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }
    /// The header struct.
    #[inline]
    pub fn header(&self) -> &EthernetHeader {
        header(self.buffer.as_ref())
    }
    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> MacAddr {
        MacAddr(self.header().dst)
    }
    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> MacAddr {
        MacAddr(self.header().src)
    }
    /// EtherType (or TPID of a first VLAN tag).
    #[inline]
    pub fn ethertype(&self) -> u16 {
        self.header().ethertype.get()
    }
    /// Bytes after the 14-byte header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[ETHERNET_HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    /// The header struct, mutable.
    #[inline]
    pub fn header_mut(&mut self) -> &mut EthernetHeader {
        header_mut(self.buffer.as_mut())
    }
    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, a: MacAddr) {
        self.header_mut().dst = a.0;
    }
    /// Sets the source address.
    #[inline]
    pub fn set_src_addr(&mut self, a: MacAddr) {
        self.header_mut().src = a.0;
    }
    /// Sets the EtherType.
    #[inline]
    pub fn set_ethertype(&mut self, v: u16) {
        self.header_mut().ethertype.set(v);
    }
    /// Swaps source and destination (what l2fwd-style reflectors do).
    #[inline]
    pub fn swap_addrs(&mut self) {
        let h = self.header_mut();
        core::mem::swap(&mut h.src, &mut h.dst);
    }
    /// Bytes after the header, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[ETHERNET_HEADER_LEN..]
    }
}

/// Parsed Ethernet II header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    /// Source MAC.
    pub src: MacAddr,
    /// Destination MAC.
    pub dst: MacAddr,
    /// EtherType (or TPID).
    pub ethertype: u16,
}

impl EthernetRepr {
    /// Reads the header of a checked frame.
    pub fn parse<T: AsRef<[u8]>>(frame: &EthernetFrame<T>) -> Self {
        EthernetRepr {
            src: frame.src_addr(),
            dst: frame.dst_addr(),
            ethertype: frame.ethertype(),
        }
    }
    /// Header length.
    pub const fn header_len(&self) -> usize {
        ETHERNET_HEADER_LEN
    }
    /// Writes the header to the front of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, BuildError> {
        let available = buf.len();
        let h = buf
            .get_mut(..ETHERNET_HEADER_LEN)
            .ok_or(BuildError::BufferTooSmall {
                needed: ETHERNET_HEADER_LEN,
                available,
            })?;
        let hdr = EthernetHeader {
            dst: self.dst.0,
            src: self.src.0,
            ethertype: U16::new(self.ethertype),
        };
        h.copy_from_slice(hdr.as_bytes());
        Ok(ETHERNET_HEADER_LEN)
    }
}

/// The 4 bytes after a VLAN TPID: tag control information and the next EtherType.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct VlanHeader {
    /// PCP (3 bits), DEI (1 bit), VID (12 bits).
    pub tci: U16,
    /// EtherType (or TPID of the next tag).
    pub ethertype: U16,
}

/// Length of a VLAN tag after its TPID.
pub const VLAN_HEADER_LEN: usize = 4;

/// A view over a VLAN tag (starting at the TCI, i.e. right after a `0x8100`/`0x88a8` TPID).
#[derive(Debug, Clone)]
pub struct VlanTag<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VlanTag<T> {
    /// Wraps `buffer`, checking it holds the 4-byte tag.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let len = buffer.as_ref().len();
        if len < VLAN_HEADER_LEN {
            return Err(truncated(Layer::Vlan, VLAN_HEADER_LEN, len));
        }
        Ok(VlanTag { buffer })
    }
    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    /// The header struct.
    #[inline]
    pub fn header(&self) -> &VlanHeader {
        header(self.buffer.as_ref())
    }
    /// Tag control information.
    #[inline]
    pub fn tci(&self) -> u16 {
        self.header().tci.get()
    }
    /// Priority code point (0..=7).
    #[inline]
    pub fn pcp(&self) -> u8 {
        (self.tci() >> 13) as u8
    }
    /// Drop eligible indicator.
    #[inline]
    pub fn dei(&self) -> bool {
        self.tci() & 0x1000 != 0
    }
    /// VLAN identifier (0..=4095).
    #[inline]
    pub fn vid(&self) -> u16 {
        self.tci() & 0x0fff
    }
    /// EtherType after the tag.
    #[inline]
    pub fn ethertype(&self) -> u16 {
        self.header().ethertype.get()
    }
    /// Bytes after the tag.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[VLAN_HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VlanTag<T> {
    /// Sets the TCI.
    #[inline]
    pub fn set_tci(&mut self, tci: u16) {
        header_mut::<VlanHeader>(self.buffer.as_mut()).tci.set(tci);
    }
    /// Sets the VLAN id, keeping PCP and DEI.
    #[inline]
    pub fn set_vid(&mut self, vid: u16) {
        let tci = (self.tci() & 0xf000) | (vid & 0x0fff);
        self.set_tci(tci);
    }
    /// Sets the EtherType after the tag.
    #[inline]
    pub fn set_ethertype(&mut self, v: u16) {
        header_mut::<VlanHeader>(self.buffer.as_mut())
            .ethertype
            .set(v);
    }
}

/// Parsed VLAN tag (without its TPID, which the preceding EtherType field carries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct VlanRepr {
    /// Priority code point (0..=7).
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    /// VLAN id (0..=4095).
    pub vid: u16,
}

impl VlanRepr {
    /// Reads a checked tag.
    pub fn parse<T: AsRef<[u8]>>(tag: &VlanTag<T>) -> Self {
        VlanRepr {
            pcp: tag.pcp(),
            dei: tag.dei(),
            vid: tag.vid(),
        }
    }
    /// The TCI word.
    pub fn tci(&self) -> u16 {
        ((self.pcp as u16 & 7) << 13) | ((self.dei as u16) << 12) | (self.vid & 0x0fff)
    }
    /// Writes TCI and `next_ethertype` to the front of `buf`.
    pub fn emit(&self, next_ethertype: u16, buf: &mut [u8]) -> Result<usize, BuildError> {
        let available = buf.len();
        let h = buf
            .get_mut(..VLAN_HEADER_LEN)
            .ok_or(BuildError::BufferTooSmall {
                needed: VLAN_HEADER_LEN,
                available,
            })?;
        h[..2].copy_from_slice(&self.tci().to_be_bytes());
        h[2..].copy_from_slice(&next_ethertype.to_be_bytes());
        Ok(VLAN_HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_parse_and_display() {
        let m: MacAddr = "02:00:5e:10:00:0a".parse().unwrap();
        assert_eq!(m.0, [2, 0, 0x5e, 0x10, 0, 0x0a]);
        assert_eq!(m.to_string(), "02:00:5e:10:00:0a");
        assert!(m.is_local() && m.is_unicast());
        assert!(MacAddr::BROADCAST.is_broadcast() && MacAddr::BROADCAST.is_multicast());
        for bad in [
            "",
            "02:00",
            "02:00:5e:10:00:0a:01",
            "zz:00:00:00:00:00",
            "020:0:0:0:0:0",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn ethernet_view_reads_and_writes() {
        let mut f = [0u8; 20];
        f[..6].copy_from_slice(&[1, 2, 3, 4, 5, 6]);
        f[6..12].copy_from_slice(&[7, 8, 9, 10, 11, 12]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let v = EthernetFrame::new_checked(&f[..]).unwrap();
        assert_eq!(v.dst_addr(), MacAddr([1, 2, 3, 4, 5, 6]));
        assert_eq!(v.src_addr(), MacAddr([7, 8, 9, 10, 11, 12]));
        assert_eq!(v.ethertype(), ethertype::IPV4);
        assert_eq!(v.payload().len(), 6);
        let r = EthernetRepr::parse(&v);
        let mut m = EthernetFrame::new_checked(&mut f[..]).unwrap();
        m.swap_addrs();
        m.set_ethertype(ethertype::IPV6);
        assert_eq!(m.src_addr(), r.dst);
        assert_eq!(&f[12..14], &[0x86, 0xdd]);
        let mut out = [0u8; 14];
        r.emit(&mut out).unwrap();
        assert_eq!(out[..12], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
        assert_eq!(
            r.emit(&mut [0u8; 13]),
            Err(BuildError::BufferTooSmall {
                needed: 14,
                available: 13
            })
        );
    }

    #[test]
    fn ethernet_short_is_truncated_error() {
        for n in 0..14 {
            assert_eq!(
                EthernetFrame::new_checked(&[0u8; 14][..n]).unwrap_err(),
                ParseError::Truncated {
                    layer: Layer::Ethernet,
                    needed: 14,
                    available: n
                }
            );
        }
    }

    #[test]
    fn vlan_tag_fields() {
        let mut t = [0xb0, 0x64, 0x86, 0xdd, 0xaa];
        let v = VlanTag::new_checked(&t[..]).unwrap();
        assert_eq!(
            (v.pcp(), v.dei(), v.vid(), v.ethertype()),
            (5, true, 100, ethertype::IPV6)
        );
        let r = VlanRepr::parse(&v);
        assert_eq!(r.tci(), 0xb064);
        let mut m = VlanTag::new_checked(&mut t[..]).unwrap();
        m.set_vid(4095);
        assert_eq!((m.pcp(), m.dei(), m.vid()), (5, true, 4095));
        assert!(VlanTag::new_checked(&[0u8; 3][..]).is_err());
    }
}
