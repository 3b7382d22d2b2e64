//! UDP (RFC 768).
//!
//! [`UdpPacket::new_checked`] is given the IP payload and validates the length field: at least
//! 8 and within the buffer; `0` (RFC 2675 jumbograms) means "the whole buffer". The checksum
//! covers a pseudo-header, so the verify and fill helpers take the IP addresses. Over IPv4 a
//! zero checksum means "none"; a computed zero is sent as `0xffff`.

use std::net::{Ipv4Addr, Ipv6Addr};

use zerocopy::network_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::checksum;
use crate::error::{BuildError, Layer, ParseError, truncated};
use crate::field::{header, header_mut};
use crate::ipv4::protocol;

/// The UDP header as laid out on the wire.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct UdpHeader {
    /// Source port.
    pub src_port: U16,
    /// Destination port.
    pub dst_port: U16,
    /// Length of header and payload.
    pub length: U16,
    /// Checksum.
    pub checksum: U16,
}

/// Length of the UDP header.
pub const UDP_HEADER_LEN: usize = 8;

/// A view over a UDP datagram.
#[derive(Debug, Clone)]
pub struct UdpPacket<T> {
    buffer: T,
    len: usize,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// Wraps `buffer` (the IP payload), validating the length field.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let b = buffer.as_ref();
        if b.len() < UDP_HEADER_LEN {
            return Err(truncated(Layer::Udp, UDP_HEADER_LEN, b.len()));
        }
        let length = u16::from_be_bytes([b[4], b[5]]);
        let len = match length as usize {
            0 => b.len(),
            l if l < UDP_HEADER_LEN || l > b.len() => {
                return Err(ParseError::UdpLength {
                    length,
                    available: b.len(),
                });
            }
            l => l,
        };
        Ok(UdpPacket { buffer, len })
    }
    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    /// The header struct.
    #[inline]
    pub fn header(&self) -> &UdpHeader {
        header(self.buffer.as_ref())
    }
    /// Source port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        self.header().src_port.get()
    }
    /// Destination port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        self.header().dst_port.get()
    }
    /// Checksum field.
    #[inline]
    pub fn checksum(&self) -> u16 {
        self.header().checksum.get()
    }
    /// Length field.
    #[inline]
    pub fn length(&self) -> u16 {
        self.header().length.get()
    }
    /// Header and payload (up to the length field).
    #[inline]
    pub fn datagram(&self) -> &[u8] {
        &self.buffer.as_ref()[..self.len]
    }
    /// The payload.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[UDP_HEADER_LEN..self.len]
    }
    /// `true` if the checksum is absent (0) or valid, over IPv4.
    pub fn verify_checksum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        self.checksum() == 0
            || checksum::verify_upper_layer_v4(src, dst, protocol::UDP, self.datagram())
    }
    /// `true` if the checksum is valid over IPv6 (where it is mandatory).
    pub fn verify_checksum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        self.checksum() != 0
            && checksum::verify_upper_layer_v6(src, dst, protocol::UDP, self.datagram())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    #[inline]
    fn hdr_mut(&mut self) -> &mut UdpHeader {
        header_mut(self.buffer.as_mut())
    }
    /// Sets the source port (checksum not updated).
    #[inline]
    pub fn set_src_port(&mut self, v: u16) {
        self.hdr_mut().src_port.set(v);
    }
    /// Sets the destination port (checksum not updated).
    #[inline]
    pub fn set_dst_port(&mut self, v: u16) {
        self.hdr_mut().dst_port.set(v);
    }
    /// Sets the checksum field.
    #[inline]
    pub fn set_checksum(&mut self, v: u16) {
        self.hdr_mut().checksum.set(v);
    }
    /// Updates a non-zero checksum after a 16-bit word under it changed (a port, or an IPv4
    /// address half via [`Self::update_checksum_u32`]). A zero (absent) checksum stays zero.
    #[inline]
    pub fn update_checksum_u16(&mut self, old: u16, new: u16) {
        let c = self.checksum();
        if c != 0 {
            self.set_checksum(nonzero(checksum::update_u16(c, old, new)));
        }
    }
    /// As [`Self::update_checksum_u16`] for a 32-bit field (an IPv4 address in the pseudo-header).
    #[inline]
    pub fn update_checksum_u32(&mut self, old: u32, new: u32) {
        let c = self.checksum();
        if c != 0 {
            self.set_checksum(nonzero(checksum::update_u32(c, old, new)));
        }
    }
    /// Computes and writes the checksum over IPv4.
    pub fn fill_checksum_v4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let c = checksum::upper_layer_v4(src, dst, protocol::UDP, self.datagram());
        self.set_checksum(nonzero(c));
    }
    /// Computes and writes the checksum over IPv6.
    pub fn fill_checksum_v6(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let c = checksum::upper_layer_v6(src, dst, protocol::UDP, self.datagram());
        self.set_checksum(nonzero(c));
    }
    /// The payload, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = self.len;
        &mut self.buffer.as_mut()[UDP_HEADER_LEN..len]
    }
}

/// A computed UDP checksum of 0 is transmitted as all ones (RFC 768).
#[inline]
pub(crate) fn nonzero(c: u16) -> u16 {
    if c == 0 { 0xffff } else { c }
}

/// Parsed UDP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Payload length.
    pub payload_len: usize,
}

impl UdpRepr {
    /// Reads a checked datagram.
    pub fn parse<T: AsRef<[u8]>>(p: &UdpPacket<T>) -> Self {
        UdpRepr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            payload_len: p.payload().len(),
        }
    }
    /// Header length (8).
    pub const fn header_len(&self) -> usize {
        UDP_HEADER_LEN
    }
    /// Writes the header with a zero checksum to the front of `buf` (fill the checksum once the
    /// payload is in place).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, BuildError> {
        let total = UDP_HEADER_LEN + self.payload_len;
        if total > u16::MAX as usize {
            return Err(BuildError::LengthOverflow {
                layer: Layer::Udp,
                len: total,
            });
        }
        let avail = buf.len();
        let h = buf
            .get_mut(..UDP_HEADER_LEN)
            .ok_or(BuildError::BufferTooSmall {
                needed: UDP_HEADER_LEN,
                available: avail,
            })?;
        let hdr = UdpHeader {
            src_port: U16::new(self.src_port),
            dst_port: U16::new(self.dst_port),
            length: U16::new(total as u16),
            checksum: U16::ZERO,
        };
        h.copy_from_slice(hdr.as_bytes());
        Ok(UDP_HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_checksum() {
        let r = UdpRepr {
            src_port: 1234,
            dst_port: 53,
            payload_len: 5,
        };
        let mut b = vec![0u8; 13];
        r.emit(&mut b).unwrap();
        b[8..].copy_from_slice(b"hello");
        let (s, d) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
        let mut p = UdpPacket::new_checked(&mut b[..]).unwrap();
        assert!(p.verify_checksum_v4(s, d), "zero checksum means none");
        p.fill_checksum_v4(s, d);
        assert!(p.verify_checksum_v4(s, d));
        assert!(!p.verify_checksum_v4(s, Ipv4Addr::new(10, 0, 0, 3)));
        // Port rewrite with incremental update.
        let old = p.dst_port();
        p.set_dst_port(5353);
        p.update_checksum_u16(old, 5353);
        assert!(p.verify_checksum_v4(s, d));
        assert_eq!(
            UdpRepr::parse(&p),
            UdpRepr {
                dst_port: 5353,
                ..r
            }
        );
        let (s6, d6) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        p.fill_checksum_v6(s6, d6);
        assert!(p.verify_checksum_v6(s6, d6));
    }

    #[test]
    fn length_field_validation() {
        let mut b = [0u8; 16];
        b[5] = 12;
        assert_eq!(UdpPacket::new_checked(&b[..]).unwrap().payload().len(), 4);
        b[5] = 0;
        assert_eq!(UdpPacket::new_checked(&b[..]).unwrap().payload().len(), 8);
        b[5] = 7;
        assert_eq!(
            UdpPacket::new_checked(&b[..]).unwrap_err(),
            ParseError::UdpLength {
                length: 7,
                available: 16
            }
        );
        b[5] = 17;
        assert_eq!(
            UdpPacket::new_checked(&b[..]).unwrap_err(),
            ParseError::UdpLength {
                length: 17,
                available: 16
            }
        );
        assert!(matches!(
            UdpPacket::new_checked(&b[..7]),
            Err(ParseError::Truncated { .. })
        ));
    }
}
