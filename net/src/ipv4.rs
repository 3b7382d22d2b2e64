//! IPv4 (RFC 791), options included.
//!
//! [`Ipv4Packet::new_checked`] validates once: version 4, IHL at least 5, the header and the
//! total length within the buffer, total length at least the header. The payload is then
//! `buffer[header_len..total_len]`, so Ethernet padding after the datagram is excluded. Setters
//! that a router uses per packet ([`Ipv4Packet::decrement_ttl`], [`Ipv4Packet::set_src_addr`]
//! with `fix_checksum`) update the header checksum incrementally (RFC 1624).

use std::net::Ipv4Addr;

use zerocopy::network_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::checksum;
use crate::error::{BuildError, Layer, ParseError, truncated};
use crate::field::{header, header_mut};
use crate::options::HeaderOptions;

/// IP protocol numbers used in this crate (shared by IPv4 and IPv6 next-header fields).
pub mod protocol {
    /// IPv6 hop-by-hop options.
    pub const HOPOPT: u8 = 0;
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// IGMP.
    pub const IGMP: u8 = 2;
    /// IPv4 in IP.
    pub const IPIP: u8 = 4;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 in IP.
    pub const IPV6: u8 = 41;
    /// IPv6 routing header.
    pub const IPV6_ROUTE: u8 = 43;
    /// IPv6 fragment header.
    pub const IPV6_FRAG: u8 = 44;
    /// GRE.
    pub const GRE: u8 = 47;
    /// ESP.
    pub const ESP: u8 = 50;
    /// Authentication header.
    pub const AH: u8 = 51;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// IPv6 no next header.
    pub const IPV6_NONXT: u8 = 59;
    /// IPv6 destination options.
    pub const IPV6_OPTS: u8 = 60;
    /// SCTP.
    pub const SCTP: u8 = 132;
}

/// The fixed 20-byte IPv4 header as laid out on the wire.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Ipv4Header {
    /// Version (4 bits) and IHL (4 bits).
    pub version_ihl: u8,
    /// DSCP (6 bits) and ECN (2 bits).
    pub dscp_ecn: u8,
    /// Total length of the datagram.
    pub total_len: U16,
    /// Identification.
    pub ident: U16,
    /// Flags (3 bits) and fragment offset (13 bits, 8-byte units).
    pub flags_frag: U16,
    /// Time to live.
    pub ttl: u8,
    /// Upper-layer protocol.
    pub protocol: u8,
    /// Header checksum.
    pub checksum: U16,
    /// Source address.
    pub src: [u8; 4],
    /// Destination address.
    pub dst: [u8; 4],
}

/// Length of the IPv4 header without options.
pub const IPV4_HEADER_LEN: usize = 20;
const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_MASK: u16 = 0x1fff;

/// A view over an IPv4 datagram.
#[derive(Debug, Clone)]
pub struct Ipv4Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps `buffer` (starting at the IPv4 header), validating version, IHL and total length.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let b = buffer.as_ref();
        if b.len() < IPV4_HEADER_LEN {
            return Err(truncated(Layer::Ipv4, IPV4_HEADER_LEN, b.len()));
        }
        let version = b[0] >> 4;
        if version != 4 {
            return Err(ParseError::Ipv4Version(version));
        }
        let ihl = b[0] & 0xf;
        if ihl < 5 {
            return Err(ParseError::Ipv4IhlTooSmall(ihl));
        }
        let header_len = ihl as usize * 4;
        if b.len() < header_len {
            return Err(truncated(Layer::Ipv4, header_len, b.len()));
        }
        let total_len = u16::from_be_bytes([b[2], b[3]]);
        if (total_len as usize) < header_len {
            return Err(ParseError::Ipv4TotalLengthTooSmall {
                total_len,
                header_len,
            });
        }
        if total_len as usize > b.len() {
            return Err(ParseError::Ipv4TotalLengthBeyondFrame {
                total_len,
                available: b.len(),
            });
        }
        Ok(Ipv4Packet { buffer })
    }
    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    /// The fixed header struct.
    #[inline]
    pub fn header(&self) -> &Ipv4Header {
        header(self.buffer.as_ref())
    }
    /// Version (always 4 in a checked view).
    #[inline]
    pub fn version(&self) -> u8 {
        self.header().version_ihl >> 4
    }
    /// Header length in bytes (IHL * 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        (self.header().version_ihl & 0xf) as usize * 4
    }
    /// Differentiated services code point.
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.header().dscp_ecn >> 2
    }
    /// Explicit congestion notification bits.
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.header().dscp_ecn & 3
    }
    /// Total length field.
    #[inline]
    pub fn total_len(&self) -> u16 {
        self.header().total_len.get()
    }
    /// Identification.
    #[inline]
    pub fn ident(&self) -> u16 {
        self.header().ident.get()
    }
    /// Don't-fragment flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        self.header().flags_frag.get() & FLAG_DF != 0
    }
    /// More-fragments flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        self.header().flags_frag.get() & FLAG_MF != 0
    }
    /// Fragment offset in bytes.
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (self.header().flags_frag.get() & FRAG_MASK) << 3
    }
    /// `true` for any fragment (MF set or a non-zero offset).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.header().flags_frag.get() & (FLAG_MF | FRAG_MASK) != 0
    }
    /// Time to live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.header().ttl
    }
    /// Upper-layer protocol.
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.header().protocol
    }
    /// Header checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.header().checksum.get()
    }
    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.header().src)
    }
    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.header().dst)
    }
    /// Option bytes (between the fixed header and IHL * 4).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[IPV4_HEADER_LEN..self.header_len()]
    }
    /// The payload: `header_len..total_len`.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..self.total_len() as usize]
    }
    /// `true` if the header checksum is valid.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::verify(&self.buffer.as_ref()[..self.header_len()])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// The fixed header struct, mutable. Changing IHL or total length through it is the
    /// caller's business: later accessors use the new values without re-validation only as far
    /// as slicing allows, and may panic if they point outside the buffer.
    #[inline]
    fn hdr_mut(&mut self) -> &mut Ipv4Header {
        header_mut(self.buffer.as_mut())
    }
    /// Sets DSCP and ECN (checksum not updated; call [`Self::fill_checksum`]).
    #[inline]
    pub fn set_dscp_ecn(&mut self, dscp: u8, ecn: u8) {
        self.hdr_mut().dscp_ecn = (dscp << 2) | (ecn & 3);
    }
    /// Sets the identification (checksum not updated).
    #[inline]
    pub fn set_ident(&mut self, v: u16) {
        self.hdr_mut().ident.set(v);
    }
    /// Sets the TTL (checksum not updated).
    #[inline]
    pub fn set_ttl(&mut self, v: u8) {
        self.hdr_mut().ttl = v;
    }
    /// Sets the protocol (checksum not updated).
    #[inline]
    pub fn set_protocol(&mut self, v: u8) {
        self.hdr_mut().protocol = v;
    }
    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.hdr_mut().checksum.set(v);
    }
    /// Decrements the TTL and updates the checksum incrementally. Returns the new TTL, or
    /// `None` (packet unchanged) if the TTL was already 0 or 1, i.e. the packet must be dropped.
    #[inline]
    pub fn decrement_ttl(&mut self) -> Option<u8> {
        let h = self.hdr_mut();
        if h.ttl <= 1 {
            return None;
        }
        let old = u16::from_be_bytes([h.ttl, h.protocol]);
        h.ttl -= 1;
        let new = old - 0x100;
        h.checksum
            .set(checksum::update_u16(h.checksum.get(), old, new));
        Some(h.ttl)
    }
    /// Sets the source address, updating the header checksum incrementally. Returns the
    /// `(old, new)` pair so callers can fix a TCP/UDP checksum with [`checksum::update_u32`].
    #[inline]
    pub fn set_src_addr(&mut self, a: Ipv4Addr) -> (u32, u32) {
        let h = self.hdr_mut();
        let old = u32::from_be_bytes(h.src);
        let new = a.to_bits();
        h.src = a.octets();
        h.checksum
            .set(checksum::update_u32(h.checksum.get(), old, new));
        (old, new)
    }
    /// Sets the destination address, updating the header checksum incrementally.
    #[inline]
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) -> (u32, u32) {
        let h = self.hdr_mut();
        let old = u32::from_be_bytes(h.dst);
        let new = a.to_bits();
        h.dst = a.octets();
        h.checksum
            .set(checksum::update_u32(h.checksum.get(), old, new));
        (old, new)
    }
    /// Recomputes the header checksum from scratch.
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hl = self.header_len();
        let c = checksum::checksum(&self.buffer.as_ref()[..hl]);
        self.set_checksum(c);
    }
    /// The payload, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (hl, tl) = (self.header_len(), self.total_len() as usize);
        &mut self.buffer.as_mut()[hl..tl]
    }
}

/// Parsed IPv4 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Upper-layer protocol.
    pub protocol: u8,
    /// Time to live.
    pub ttl: u8,
    /// DSCP (0..=63).
    pub dscp: u8,
    /// ECN (0..=3).
    pub ecn: u8,
    /// Identification.
    pub ident: u16,
    /// Don't fragment.
    pub dont_frag: bool,
    /// More fragments.
    pub more_frags: bool,
    /// Fragment offset in bytes (a multiple of 8).
    pub frag_offset: u16,
    /// Options (a multiple of 4 bytes, up to 40).
    pub options: HeaderOptions,
    /// Payload length (total length minus header length).
    pub payload_len: usize,
}

impl Ipv4Repr {
    /// A plain header: TTL 64, DF set, no options.
    pub fn new(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload_len: usize) -> Self {
        Ipv4Repr {
            src,
            dst,
            protocol,
            ttl: 64,
            dscp: 0,
            ecn: 0,
            ident: 0,
            dont_frag: true,
            more_frags: false,
            frag_offset: 0,
            options: HeaderOptions::EMPTY,
            payload_len,
        }
    }
    /// Reads a checked packet. Options longer than 40 bytes cannot occur (IHL <= 15).
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv4Packet<T>) -> Self {
        Ipv4Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            protocol: p.protocol(),
            ttl: p.ttl(),
            dscp: p.dscp(),
            ecn: p.ecn(),
            ident: p.ident(),
            dont_frag: p.dont_frag(),
            more_frags: p.more_frags(),
            frag_offset: p.frag_offset(),
            options: HeaderOptions::new(p.options()).unwrap_or_default(),
            payload_len: p.payload().len(),
        }
    }
    /// Header length including options.
    pub fn header_len(&self) -> usize {
        IPV4_HEADER_LEN + self.options.len()
    }
    /// Writes the header (checksum filled) to the front of `buf`; the payload is not touched.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, BuildError> {
        let hl = self.header_len();
        let total = hl + self.payload_len;
        if total > u16::MAX as usize {
            return Err(BuildError::LengthOverflow {
                layer: Layer::Ipv4,
                len: total,
            });
        }
        let avail = buf.len();
        let h = buf.get_mut(..hl).ok_or(BuildError::BufferTooSmall {
            needed: hl,
            available: avail,
        })?;
        let mut flags = (self.frag_offset >> 3) & FRAG_MASK;
        if self.dont_frag {
            flags |= FLAG_DF;
        }
        if self.more_frags {
            flags |= FLAG_MF;
        }
        let hdr = Ipv4Header {
            version_ihl: 0x40 | (hl / 4) as u8,
            dscp_ecn: (self.dscp << 2) | (self.ecn & 3),
            total_len: U16::new(total as u16),
            ident: U16::new(self.ident),
            flags_frag: U16::new(flags),
            ttl: self.ttl,
            protocol: self.protocol,
            checksum: U16::ZERO,
            src: self.src.octets(),
            dst: self.dst.octets(),
        };
        h[..IPV4_HEADER_LEN].copy_from_slice(hdr.as_bytes());
        h[IPV4_HEADER_LEN..].copy_from_slice(self.options.as_bytes());
        let c = checksum::checksum(h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        Ok(hl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071-era textbook header: 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7.
    const HDR: [u8; 20] = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];

    fn datagram() -> Vec<u8> {
        let mut v = HDR.to_vec();
        v.resize(0x73, 0xab);
        v
    }

    #[test]
    fn parses_known_header() {
        let d = datagram();
        let p = Ipv4Packet::new_checked(&d[..]).unwrap();
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.total_len(), 0x73);
        assert!(p.dont_frag() && !p.more_frags() && !p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), protocol::UDP);
        assert_eq!(p.checksum(), 0xb861);
        assert!(p.verify_checksum());
        assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 0, 1));
        assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 168, 0, 199));
        assert_eq!(p.payload().len(), 0x73 - 20);
        let r = Ipv4Repr::parse(&p);
        let mut out = vec![0u8; 20];
        r.emit(&mut out).unwrap();
        assert_eq!(out, HDR);
    }

    #[test]
    fn padding_after_total_length_is_excluded() {
        let mut d = datagram();
        d.extend_from_slice(&[0; 10]);
        let p = Ipv4Packet::new_checked(&d[..]).unwrap();
        assert_eq!(p.payload().len(), 0x73 - 20);
    }

    #[test]
    fn malformed_headers_are_typed_errors() {
        let d = datagram();
        assert_eq!(
            Ipv4Packet::new_checked(&d[..19]).unwrap_err(),
            ParseError::Truncated {
                layer: Layer::Ipv4,
                needed: 20,
                available: 19
            }
        );
        let mut v = d.clone();
        v[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&v[..]).unwrap_err(),
            ParseError::Ipv4Version(6)
        );
        for ihl in 0..5 {
            v[0] = 0x40 | ihl;
            assert_eq!(
                Ipv4Packet::new_checked(&v[..]).unwrap_err(),
                ParseError::Ipv4IhlTooSmall(ihl)
            );
        }
        v[0] = 0x4f;
        assert_eq!(
            Ipv4Packet::new_checked(&v[..40]).unwrap_err(),
            ParseError::Truncated {
                layer: Layer::Ipv4,
                needed: 60,
                available: 40
            }
        );
        v[2] = 0;
        v[3] = 56;
        assert_eq!(
            Ipv4Packet::new_checked(&v[..]).unwrap_err(),
            ParseError::Ipv4TotalLengthTooSmall {
                total_len: 56,
                header_len: 60
            }
        );
        let mut v = d.clone();
        v[3] = 19;
        v[2] = 0;
        assert_eq!(
            Ipv4Packet::new_checked(&v[..]).unwrap_err(),
            ParseError::Ipv4TotalLengthTooSmall {
                total_len: 19,
                header_len: 20
            }
        );
        assert_eq!(
            Ipv4Packet::new_checked(&d[..0x72]).unwrap_err(),
            ParseError::Ipv4TotalLengthBeyondFrame {
                total_len: 0x73,
                available: 0x72
            }
        );
    }

    #[test]
    fn ttl_decrement_and_address_rewrite_keep_checksum_valid() {
        let mut d = datagram();
        let mut p = Ipv4Packet::new_checked(&mut d[..]).unwrap();
        for expect in (1..64).rev() {
            assert_eq!(p.decrement_ttl(), Some(expect));
            assert!(p.verify_checksum());
        }
        assert_eq!(p.decrement_ttl(), None);
        assert_eq!(p.ttl(), 1);
        p.set_src_addr(Ipv4Addr::new(10, 255, 0, 1));
        p.set_dst_addr(Ipv4Addr::new(0, 0, 0, 0));
        assert!(p.verify_checksum());
        let inc = p.checksum();
        p.fill_checksum();
        assert_eq!(p.checksum(), inc);
    }

    #[test]
    fn options_round_trip() {
        let mut r = Ipv4Repr::new(Ipv4Addr::new(1, 2, 3, 4), Ipv4Addr::new(5, 6, 7, 8), 6, 3);
        r.options = HeaderOptions::new(&[0x94, 0x04, 0, 0]).unwrap(); // router alert
        r.frag_offset = 1480;
        r.more_frags = true;
        r.dont_frag = false;
        let mut buf = vec![0u8; r.header_len() + 3];
        assert_eq!(r.emit(&mut buf).unwrap(), 24);
        let p = Ipv4Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(p.options(), &[0x94, 0x04, 0, 0]);
        assert!(p.is_fragment());
        assert_eq!(Ipv4Repr::parse(&p), r);
    }
}
