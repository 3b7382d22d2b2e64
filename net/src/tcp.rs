//! TCP (RFC 9293) headers.
//!
//! [`TcpPacket::new_checked`] is given the IP payload and validates the data offset: at least
//! 5 words and within the segment. Options are exposed raw; the checksum helpers take the IP
//! addresses for the pseudo-header.

use std::net::{Ipv4Addr, Ipv6Addr};

use zerocopy::network_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::checksum;
use crate::error::{BuildError, Layer, ParseError, truncated};
use crate::field::{header, header_mut};
use crate::ipv4::protocol;
use crate::options::HeaderOptions;

/// TCP flag bits (the low 9 bits of the offset/flags word).
pub mod flags {
    /// No more data.
    pub const FIN: u16 = 0x001;
    /// Synchronise.
    pub const SYN: u16 = 0x002;
    /// Reset.
    pub const RST: u16 = 0x004;
    /// Push.
    pub const PSH: u16 = 0x008;
    /// Acknowledgement valid.
    pub const ACK: u16 = 0x010;
    /// Urgent pointer valid.
    pub const URG: u16 = 0x020;
    /// ECN echo.
    pub const ECE: u16 = 0x040;
    /// Congestion window reduced.
    pub const CWR: u16 = 0x080;
    /// ECN nonce (historic).
    pub const NS: u16 = 0x100;
}

/// The fixed 20-byte TCP header as laid out on the wire.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct TcpHeader {
    /// Source port.
    pub src_port: U16,
    /// Destination port.
    pub dst_port: U16,
    /// Sequence number.
    pub seq: U32,
    /// Acknowledgement number.
    pub ack: U32,
    /// Data offset (4 bits), reserved (3 bits), flags (9 bits).
    pub offset_flags: U16,
    /// Window.
    pub window: U16,
    /// Checksum.
    pub checksum: U16,
    /// Urgent pointer.
    pub urgent: U16,
}

/// Length of the TCP header without options.
pub const TCP_HEADER_LEN: usize = 20;

/// A view over a TCP segment.
#[derive(Debug, Clone)]
pub struct TcpPacket<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps `buffer` (the IP payload), validating the data offset.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let b = buffer.as_ref();
        if b.len() < TCP_HEADER_LEN {
            return Err(truncated(Layer::Tcp, TCP_HEADER_LEN, b.len()));
        }
        let off = b[12] >> 4;
        if off < 5 {
            return Err(ParseError::TcpDataOffsetTooSmall(off));
        }
        let header_len = off as usize * 4;
        if header_len > b.len() {
            return Err(ParseError::TcpDataOffsetBeyondSegment {
                header_len,
                available: b.len(),
            });
        }
        Ok(TcpPacket { buffer })
    }
    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    /// The fixed header struct.
    #[inline]
    pub fn header(&self) -> &TcpHeader {
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
    /// Sequence number.
    #[inline]
    pub fn seq(&self) -> u32 {
        self.header().seq.get()
    }
    /// Acknowledgement number.
    #[inline]
    pub fn ack(&self) -> u32 {
        self.header().ack.get()
    }
    /// Header length in bytes (data offset * 4).
    #[inline]
    pub fn header_len(&self) -> usize {
        (self.header().offset_flags.get() >> 12) as usize * 4
    }
    /// The 9 flag bits (see [`flags`]).
    #[inline]
    pub fn flags(&self) -> u16 {
        self.header().offset_flags.get() & 0x1ff
    }
    /// `true` if every bit of `f` is set.
    #[inline]
    pub fn has_flags(&self, f: u16) -> bool {
        self.flags() & f == f
    }
    /// Window.
    #[inline]
    pub fn window(&self) -> u16 {
        self.header().window.get()
    }
    /// Urgent pointer.
    #[inline]
    pub fn urgent(&self) -> u16 {
        self.header().urgent.get()
    }
    /// Option bytes.
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[TCP_HEADER_LEN..self.header_len()]
    }
    /// The payload.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
    /// `true` if the checksum is valid over IPv4.
    pub fn verify_checksum_v4(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        checksum::verify_upper_layer_v4(src, dst, protocol::TCP, self.buffer.as_ref())
    }
    /// `true` if the checksum is valid over IPv6.
    pub fn verify_checksum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        checksum::verify_upper_layer_v6(src, dst, protocol::TCP, self.buffer.as_ref())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    #[inline]
    fn hdr_mut(&mut self) -> &mut TcpHeader {
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
    /// Sets the sequence number, updating the checksum incrementally.
    #[inline]
    pub fn set_seq(&mut self, v: u32) {
        let h = self.hdr_mut();
        let old = h.seq.get();
        h.seq.set(v);
        h.checksum
            .set(checksum::update_u32(h.checksum.get(), old, v));
    }
    /// Sets the acknowledgement number, updating the checksum incrementally.
    #[inline]
    pub fn set_ack(&mut self, v: u32) {
        let h = self.hdr_mut();
        let old = h.ack.get();
        h.ack.set(v);
        h.checksum
            .set(checksum::update_u32(h.checksum.get(), old, v));
    }
    /// Sets the flag bits (checksum not updated).
    #[inline]
    pub fn set_flags(&mut self, f: u16) {
        let h = self.hdr_mut();
        let w = (h.offset_flags.get() & 0xf000) | (f & 0x1ff);
        h.offset_flags.set(w);
    }
    /// Sets the window (checksum not updated).
    #[inline]
    pub fn set_window(&mut self, v: u16) {
        self.hdr_mut().window.set(v);
    }
    /// Updates the checksum after a 16-bit word under it (or the pseudo-header) changed.
    #[inline]
    pub fn update_checksum_u16(&mut self, old: u16, new: u16) {
        let c = self.checksum();
        self.set_checksum(checksum::update_u16(c, old, new));
    }
    /// Updates the checksum after a 32-bit word under it (e.g. an IPv4 address) changed.
    #[inline]
    pub fn update_checksum_u32(&mut self, old: u32, new: u32) {
        let c = self.checksum();
        self.set_checksum(checksum::update_u32(c, old, new));
    }
    /// Computes and writes the checksum over IPv4.
    pub fn fill_checksum_v4(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let c = checksum::upper_layer_v4(src, dst, protocol::TCP, self.buffer.as_ref());
        self.set_checksum(c);
    }
    /// Computes and writes the checksum over IPv6.
    pub fn fill_checksum_v6(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let c = checksum::upper_layer_v6(src, dst, protocol::TCP, self.buffer.as_ref());
        self.set_checksum(c);
    }
    /// The payload, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        &mut self.buffer.as_mut()[hl..]
    }
}

/// Parsed TCP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TcpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: u32,
    /// Acknowledgement number.
    pub ack: u32,
    /// Flags (see [`flags`]).
    pub flags: u16,
    /// Window.
    pub window: u16,
    /// Urgent pointer.
    pub urgent: u16,
    /// Options (a multiple of 4 bytes, up to 40).
    pub options: HeaderOptions,
    /// Payload length.
    pub payload_len: usize,
}

impl TcpRepr {
    /// Reads a checked segment.
    pub fn parse<T: AsRef<[u8]>>(p: &TcpPacket<T>) -> Self {
        TcpRepr {
            src_port: p.src_port(),
            dst_port: p.dst_port(),
            seq: p.seq(),
            ack: p.ack(),
            flags: p.flags(),
            window: p.window(),
            urgent: p.urgent(),
            options: HeaderOptions::new(p.options()).unwrap_or_default(),
            payload_len: p.payload().len(),
        }
    }
    /// Header length including options.
    pub fn header_len(&self) -> usize {
        TCP_HEADER_LEN + self.options.len()
    }
    /// Writes the header with a zero checksum to the front of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, BuildError> {
        let hl = self.header_len();
        let avail = buf.len();
        let h = buf.get_mut(..hl).ok_or(BuildError::BufferTooSmall {
            needed: hl,
            available: avail,
        })?;
        let hdr = TcpHeader {
            src_port: U16::new(self.src_port),
            dst_port: U16::new(self.dst_port),
            seq: U32::new(self.seq),
            ack: U32::new(self.ack),
            offset_flags: U16::new((((hl / 4) as u16) << 12) | (self.flags & 0x1ff)),
            window: U16::new(self.window),
            checksum: U16::ZERO,
            urgent: U16::new(self.urgent),
        };
        h[..TCP_HEADER_LEN].copy_from_slice(hdr.as_bytes());
        h[TCP_HEADER_LEN..].copy_from_slice(self.options.as_bytes());
        Ok(hl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repr() -> TcpRepr {
        TcpRepr {
            src_port: 443,
            dst_port: 50000,
            seq: 0xdead_beef,
            ack: 1,
            flags: flags::SYN | flags::ACK,
            window: 65535,
            urgent: 0,
            options: HeaderOptions::new(&[2, 4, 5, 0xb4]).unwrap(),
            payload_len: 3,
        }
    }

    #[test]
    fn round_trip_flags_and_checksum() {
        let r = repr();
        let mut b = vec![0u8; r.header_len() + 3];
        r.emit(&mut b).unwrap();
        let (s, d) = (Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(2, 2, 2, 2));
        let mut p = TcpPacket::new_checked(&mut b[..]).unwrap();
        p.payload_mut().copy_from_slice(b"abc");
        p.fill_checksum_v4(s, d);
        assert!(p.verify_checksum_v4(s, d));
        assert!(p.has_flags(flags::SYN) && !p.has_flags(flags::FIN));
        assert_eq!(TcpRepr::parse(&p), r);
        p.set_seq(7);
        p.set_ack(0xffff_ffff);
        assert!(p.verify_checksum_v4(s, d));
        let (s6, d6) = ("::1".parse().unwrap(), "::2".parse().unwrap());
        p.fill_checksum_v6(s6, d6);
        assert!(p.verify_checksum_v6(s6, d6));
    }

    #[test]
    fn data_offset_out_of_range() {
        let r = repr();
        let mut b = vec![0u8; r.header_len()];
        r.emit(&mut b).unwrap();
        for off in 0..5u8 {
            b[12] = off << 4;
            assert_eq!(
                TcpPacket::new_checked(&b[..]).unwrap_err(),
                ParseError::TcpDataOffsetTooSmall(off)
            );
        }
        b[12] = 0xf0;
        assert_eq!(
            TcpPacket::new_checked(&b[..]).unwrap_err(),
            ParseError::TcpDataOffsetBeyondSegment {
                header_len: 60,
                available: 24
            }
        );
        assert!(matches!(
            TcpPacket::new_checked(&b[..19]),
            Err(ParseError::Truncated { .. })
        ));
    }
}
