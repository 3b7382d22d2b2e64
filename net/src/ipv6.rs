//! IPv6 (RFC 8200) and the walk over its extension headers.
//!
//! [`Ipv6Packet::new_checked`] validates version 6 and that `40 + payload_len` fits the
//! buffer; the payload is `buffer[40..40 + payload_len]` (jumbograms, payload length 0 with a
//! jumbo option, are not supported: their payload reads as empty).
//!
//! [`Ipv6Packet::extensions`] walks hop-by-hop (only directly after the fixed header, as
//! RFC 8200 4.1 requires), routing, fragment, destination options and authentication headers
//! until the first other next-header value, which is the upper layer (ESP and "no next header"
//! included). Each step checks the header fits, so a truncated chain is a typed error.

use std::net::Ipv6Addr;

use zerocopy::network_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::checksum;
use crate::error::{BuildError, Layer, ParseError, truncated};
use crate::field::{header, header_mut};
use crate::ipv4::protocol;

/// The fixed 40-byte IPv6 header as laid out on the wire.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct Ipv6Header {
    /// Version (4 bits), traffic class (8 bits), flow label (20 bits).
    pub version_tc_flow: U32,
    /// Payload length (extension headers included).
    pub payload_len: U16,
    /// Next header.
    pub next_header: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// Source address.
    pub src: [u8; 16],
    /// Destination address.
    pub dst: [u8; 16],
}

/// Length of the fixed IPv6 header.
pub const IPV6_HEADER_LEN: usize = 40;
/// Length of an IPv6 fragment header.
pub const FRAGMENT_HEADER_LEN: usize = 8;

/// `true` for the next-header values [`Ipv6Packet::extensions`] walks over.
#[inline]
pub const fn is_extension_header(next_header: u8) -> bool {
    matches!(
        next_header,
        protocol::HOPOPT
            | protocol::IPV6_ROUTE
            | protocol::IPV6_FRAG
            | protocol::IPV6_OPTS
            | protocol::AH
    )
}

/// A view over an IPv6 packet.
#[derive(Debug, Clone)]
pub struct Ipv6Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps `buffer` (starting at the IPv6 header), validating version and payload length.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let b = buffer.as_ref();
        if b.len() < IPV6_HEADER_LEN {
            return Err(truncated(Layer::Ipv6, IPV6_HEADER_LEN, b.len()));
        }
        let version = b[0] >> 4;
        if version != 6 {
            return Err(ParseError::Ipv6Version(version));
        }
        let payload_len = u16::from_be_bytes([b[4], b[5]]);
        if payload_len as usize > b.len() - IPV6_HEADER_LEN {
            return Err(ParseError::Ipv6PayloadBeyondFrame {
                payload_len,
                available: b.len() - IPV6_HEADER_LEN,
            });
        }
        Ok(Ipv6Packet { buffer })
    }
    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    /// The fixed header struct.
    #[inline]
    pub fn header(&self) -> &Ipv6Header {
        header(self.buffer.as_ref())
    }
    /// Traffic class.
    #[inline]
    pub fn traffic_class(&self) -> u8 {
        (self.header().version_tc_flow.get() >> 20) as u8
    }
    /// Flow label (20 bits).
    #[inline]
    pub fn flow_label(&self) -> u32 {
        self.header().version_tc_flow.get() & 0xf_ffff
    }
    /// Payload length field.
    #[inline]
    pub fn payload_len(&self) -> u16 {
        self.header().payload_len.get()
    }
    /// Next header of the fixed header.
    #[inline]
    pub fn next_header(&self) -> u8 {
        self.header().next_header
    }
    /// Hop limit.
    #[inline]
    pub fn hop_limit(&self) -> u8 {
        self.header().hop_limit
    }
    /// Source address.
    #[inline]
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.header().src)
    }
    /// Destination address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(self.header().dst)
    }
    /// Bytes after the fixed header, extension headers included.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[IPV6_HEADER_LEN..IPV6_HEADER_LEN + self.payload_len() as usize]
    }
    /// Walks the extension headers; see the module docs.
    #[inline]
    pub fn extensions(&self) -> Result<Ipv6Extensions, ParseError> {
        Ipv6Extensions::walk(self.next_header(), self.payload())
    }
    /// The upper-layer protocol and its bytes, after the extension headers.
    #[inline]
    pub fn upper_layer(&self) -> Result<(u8, &[u8]), ParseError> {
        let ext = self.extensions()?;
        Ok((ext.upper_protocol, &self.payload()[ext.len..]))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    #[inline]
    fn hdr_mut(&mut self) -> &mut Ipv6Header {
        header_mut(self.buffer.as_mut())
    }
    /// Sets the hop limit.
    #[inline]
    pub fn set_hop_limit(&mut self, v: u8) {
        self.hdr_mut().hop_limit = v;
    }
    /// Decrements the hop limit; `None` (unchanged) if it was 0 or 1 (drop the packet).
    /// IPv6 has no header checksum, so nothing else changes.
    #[inline]
    pub fn decrement_hop_limit(&mut self) -> Option<u8> {
        let h = self.hdr_mut();
        if h.hop_limit <= 1 {
            return None;
        }
        h.hop_limit -= 1;
        Some(h.hop_limit)
    }
    /// Sets the source address (upper-layer checksums are the caller's business; see
    /// [`checksum::update_bytes`]).
    #[inline]
    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        self.hdr_mut().src = a.octets();
    }
    /// Sets the destination address.
    #[inline]
    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        self.hdr_mut().dst = a.octets();
    }
    /// Sets traffic class and flow label.
    #[inline]
    pub fn set_traffic_class_flow(&mut self, tc: u8, flow: u32) {
        self.hdr_mut()
            .version_tc_flow
            .set((6 << 28) | ((tc as u32) << 20) | (flow & 0xf_ffff));
    }
    /// Payload (after the fixed header), mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = IPV6_HEADER_LEN + self.payload_len() as usize;
        &mut self.buffer.as_mut()[IPV6_HEADER_LEN..end]
    }
}

/// Fragment header fields found while walking the extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6FragmentInfo {
    /// Fragment offset in bytes.
    pub offset: u16,
    /// More-fragments flag.
    pub more_frags: bool,
    /// Identification.
    pub ident: u32,
}

impl Ipv6FragmentInfo {
    /// `true` unless this is an atomic fragment (offset 0, M clear, RFC 6946).
    #[inline]
    pub fn is_fragmenting(&self) -> bool {
        self.offset != 0 || self.more_frags
    }
}

/// Summary of an extension-header chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Ipv6Extensions {
    /// Total bytes of extension headers.
    pub len: usize,
    /// Number of extension headers.
    pub count: usize,
    /// Next-header value after the chain (the upper-layer protocol).
    pub upper_protocol: u8,
    /// The (first) fragment header, if any.
    pub fragment: Option<Ipv6FragmentInfo>,
}

impl Ipv6Extensions {
    /// Walks the chain starting with `next_header` over `payload` (the bytes after the fixed
    /// header).
    pub fn walk(mut next_header: u8, payload: &[u8]) -> Result<Self, ParseError> {
        let mut out = Ipv6Extensions::default();
        let mut off = 0usize;
        while is_extension_header(next_header) {
            if next_header == protocol::HOPOPT && out.count != 0 {
                return Err(ParseError::Ipv6HopByHopNotFirst);
            }
            let rest = &payload[off..];
            let min = if next_header == protocol::AH { 12 } else { 8 };
            if rest.len() < min {
                return Err(ParseError::Ipv6ExtensionTruncated {
                    next_header,
                    needed: min,
                    available: rest.len(),
                });
            }
            let len = match next_header {
                protocol::IPV6_FRAG => FRAGMENT_HEADER_LEN,
                protocol::AH => {
                    if rest[1] == 0 {
                        return Err(ParseError::AuthHeaderLength(0));
                    }
                    (rest[1] as usize + 2) * 4
                }
                _ => (rest[1] as usize + 1) * 8,
            };
            if rest.len() < len {
                return Err(ParseError::Ipv6ExtensionTruncated {
                    next_header,
                    needed: len,
                    available: rest.len(),
                });
            }
            if next_header == protocol::IPV6_FRAG && out.fragment.is_none() {
                let w = u16::from_be_bytes([rest[2], rest[3]]);
                out.fragment = Some(Ipv6FragmentInfo {
                    offset: w & 0xfff8,
                    more_frags: w & 1 != 0,
                    ident: u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]),
                });
            }
            next_header = rest[0];
            off += len;
            out.count += 1;
        }
        out.len = off;
        out.upper_protocol = next_header;
        Ok(out)
    }
    /// `true` if a fragment header makes this a (non-atomic) fragment.
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.fragment.is_some_and(|f| f.is_fragmenting())
    }
}

/// Parsed fixed IPv6 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// Next header of the fixed header.
    pub next_header: u8,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class.
    pub traffic_class: u8,
    /// Flow label (20 bits).
    pub flow_label: u32,
    /// Payload length (extension headers included).
    pub payload_len: usize,
}

impl Ipv6Repr {
    /// A plain header: hop limit 64, traffic class and flow label 0.
    pub fn new(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, payload_len: usize) -> Self {
        Ipv6Repr {
            src,
            dst,
            next_header,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
            payload_len,
        }
    }
    /// Reads a checked packet.
    pub fn parse<T: AsRef<[u8]>>(p: &Ipv6Packet<T>) -> Self {
        Ipv6Repr {
            src: p.src_addr(),
            dst: p.dst_addr(),
            next_header: p.next_header(),
            hop_limit: p.hop_limit(),
            traffic_class: p.traffic_class(),
            flow_label: p.flow_label(),
            payload_len: p.payload_len() as usize,
        }
    }
    /// Header length (40).
    pub const fn header_len(&self) -> usize {
        IPV6_HEADER_LEN
    }
    /// Writes the fixed header to the front of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, BuildError> {
        if self.payload_len > u16::MAX as usize {
            return Err(BuildError::LengthOverflow {
                layer: Layer::Ipv6,
                len: self.payload_len,
            });
        }
        let avail = buf.len();
        let h = buf
            .get_mut(..IPV6_HEADER_LEN)
            .ok_or(BuildError::BufferTooSmall {
                needed: IPV6_HEADER_LEN,
                available: avail,
            })?;
        let hdr = Ipv6Header {
            version_tc_flow: U32::new(
                (6 << 28) | ((self.traffic_class as u32) << 20) | (self.flow_label & 0xf_ffff),
            ),
            payload_len: U16::new(self.payload_len as u16),
            next_header: self.next_header,
            hop_limit: self.hop_limit,
            src: self.src.octets(),
            dst: self.dst.octets(),
        };
        h.copy_from_slice(hdr.as_bytes());
        Ok(IPV6_HEADER_LEN)
    }
}

/// An IPv6 extension header for building: options headers are padded with PadN to
/// `(hdr_ext_len + 1) * 8` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ipv6ExtRepr {
    /// Hop-by-hop options, `len8` extra 8-byte units of PadN.
    HopByHop {
        /// Header extension length (8-byte units beyond the first 8).
        len8: u8,
    },
    /// Destination options, PadN only.
    DestinationOptions {
        /// Header extension length.
        len8: u8,
    },
    /// Routing header type 0-like with zeroed data (segments left 0, so it is skipped).
    Routing {
        /// Header extension length.
        len8: u8,
    },
    /// Fragment header.
    Fragment(Ipv6FragmentInfo),
}

impl Ipv6ExtRepr {
    /// Protocol number of this header.
    pub fn protocol(&self) -> u8 {
        match self {
            Ipv6ExtRepr::HopByHop { .. } => protocol::HOPOPT,
            Ipv6ExtRepr::DestinationOptions { .. } => protocol::IPV6_OPTS,
            Ipv6ExtRepr::Routing { .. } => protocol::IPV6_ROUTE,
            Ipv6ExtRepr::Fragment(_) => protocol::IPV6_FRAG,
        }
    }
    /// Encoded length.
    pub fn len(&self) -> usize {
        match *self {
            Ipv6ExtRepr::HopByHop { len8 }
            | Ipv6ExtRepr::DestinationOptions { len8 }
            | Ipv6ExtRepr::Routing { len8 } => (len8 as usize + 1) * 8,
            Ipv6ExtRepr::Fragment(_) => FRAGMENT_HEADER_LEN,
        }
    }
    /// Always `false`: every extension header is at least 8 bytes.
    pub fn is_empty(&self) -> bool {
        false
    }
    /// Writes the header with `next_header` to the front of `buf`.
    pub fn emit(&self, next_header: u8, buf: &mut [u8]) -> Result<usize, BuildError> {
        let n = self.len();
        let avail = buf.len();
        let h = buf.get_mut(..n).ok_or(BuildError::BufferTooSmall {
            needed: n,
            available: avail,
        })?;
        h.fill(0);
        h[0] = next_header;
        match *self {
            Ipv6ExtRepr::HopByHop { len8 } | Ipv6ExtRepr::DestinationOptions { len8 } => {
                h[1] = len8;
                // One PadN option covering the 6 bytes after the first two.
                h[2] = 1;
                h[3] = (n - 4) as u8;
            }
            Ipv6ExtRepr::Routing { len8 } => {
                h[1] = len8;
                h[2] = 0; // routing type
                h[3] = 0; // segments left
            }
            Ipv6ExtRepr::Fragment(f) => {
                let w = (f.offset & 0xfff8) | f.more_frags as u16;
                h[2..4].copy_from_slice(&w.to_be_bytes());
                h[4..8].copy_from_slice(&f.ident.to_be_bytes());
            }
        }
        Ok(n)
    }
}

/// Checksum of an upper-layer message over IPv6 (convenience re-export of
/// [`checksum::upper_layer_v6`]).
#[inline]
pub fn upper_layer_checksum(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, data: &[u8]) -> u16 {
    checksum::upper_layer_v6(src, dst, next_header, data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(next: u8, ext: &[u8], upper: &[u8]) -> Vec<u8> {
        let r = Ipv6Repr::new(
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
            next,
            ext.len() + upper.len(),
        );
        let mut v = vec![0u8; 40];
        r.emit(&mut v).unwrap();
        v.extend_from_slice(ext);
        v.extend_from_slice(upper);
        v
    }

    #[test]
    fn fixed_header_round_trip() {
        let mut r = Ipv6Repr::new(
            "fe80::1".parse().unwrap(),
            "ff02::1".parse().unwrap(),
            17,
            8,
        );
        r.traffic_class = 0xb8;
        r.flow_label = 0xabcde;
        r.hop_limit = 255;
        let mut b = [0u8; 48];
        r.emit(&mut b).unwrap();
        let p = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Ipv6Repr::parse(&p), r);
        assert_eq!(p.payload().len(), 8);
        assert_eq!(p.extensions().unwrap().upper_protocol, 17);
    }

    #[test]
    fn extension_chain_walk() {
        let mut ext = Vec::new();
        let chain = [
            Ipv6ExtRepr::HopByHop { len8: 0 },
            Ipv6ExtRepr::Routing { len8: 2 },
            Ipv6ExtRepr::Fragment(Ipv6FragmentInfo {
                offset: 0,
                more_frags: true,
                ident: 77,
            }),
            Ipv6ExtRepr::DestinationOptions { len8: 1 },
        ];
        for (i, e) in chain.iter().enumerate() {
            let next = chain.get(i + 1).map_or(protocol::AH, |n| n.protocol());
            let mut b = vec![0u8; e.len()];
            e.emit(next, &mut b).unwrap();
            ext.extend_from_slice(&b);
        }
        // AH: next UDP, payload len 4 -> (4 + 2) * 4 = 24 bytes.
        let mut ah = vec![0u8; 24];
        ah[0] = protocol::UDP;
        ah[1] = 4;
        ext.extend_from_slice(&ah);
        let pkt = packet(protocol::HOPOPT, &ext, &[1, 2, 3, 4, 5, 6, 7, 8]);
        let p = Ipv6Packet::new_checked(&pkt[..]).unwrap();
        let e = p.extensions().unwrap();
        assert_eq!(e.count, 5);
        assert_eq!(e.len, 8 + 24 + 8 + 16 + 24);
        assert_eq!(e.upper_protocol, protocol::UDP);
        assert_eq!(
            e.fragment,
            Some(Ipv6FragmentInfo {
                offset: 0,
                more_frags: true,
                ident: 77
            })
        );
        assert!(e.is_fragment());
        assert_eq!(p.upper_layer().unwrap().1, &[1, 2, 3, 4, 5, 6, 7, 8]);

        // Every truncation of the chain is a typed error, never a panic.
        for cut in 0..ext.len() {
            let pkt = packet(protocol::HOPOPT, &ext[..cut], &[]);
            let p = Ipv6Packet::new_checked(&pkt[..]).unwrap();
            assert!(
                matches!(
                    p.extensions(),
                    Err(ParseError::Ipv6ExtensionTruncated { .. })
                ),
                "cut {cut}: {:?}",
                p.extensions()
            );
        }
    }

    #[test]
    fn hop_by_hop_must_be_first_and_ah_nonzero() {
        let mut ext = vec![0u8; 16];
        ext[0] = protocol::HOPOPT; // dest opts -> hop-by-hop
        let pkt = packet(protocol::IPV6_OPTS, &ext, &[]);
        let p = Ipv6Packet::new_checked(&pkt[..]).unwrap();
        assert_eq!(p.extensions(), Err(ParseError::Ipv6HopByHopNotFirst));
        let ah = [17u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        let pkt = packet(protocol::AH, &ah, &[]);
        let p = Ipv6Packet::new_checked(&pkt[..]).unwrap();
        assert_eq!(p.extensions(), Err(ParseError::AuthHeaderLength(0)));
    }

    #[test]
    fn malformed_fixed_header() {
        let pkt = packet(59, &[], &[0; 4]);
        assert_eq!(
            Ipv6Packet::new_checked(&pkt[..39]).unwrap_err(),
            ParseError::Truncated {
                layer: Layer::Ipv6,
                needed: 40,
                available: 39
            }
        );
        assert_eq!(
            Ipv6Packet::new_checked(&pkt[..43]).unwrap_err(),
            ParseError::Ipv6PayloadBeyondFrame {
                payload_len: 4,
                available: 3
            }
        );
        let mut bad = pkt.clone();
        bad[0] = 0x45;
        assert_eq!(
            Ipv6Packet::new_checked(&bad[..]).unwrap_err(),
            ParseError::Ipv6Version(4)
        );
    }

    #[test]
    fn hop_limit_decrement() {
        let mut pkt = packet(59, &[], &[]);
        let mut p = Ipv6Packet::new_checked(&mut pkt[..]).unwrap();
        p.set_hop_limit(2);
        assert_eq!(p.decrement_hop_limit(), Some(1));
        assert_eq!(p.decrement_hop_limit(), None);
    }
}
