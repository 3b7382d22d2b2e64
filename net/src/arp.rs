//! ARP for IPv4 over Ethernet (RFC 826): the 28-byte packet after EtherType `0x0806`.

use std::net::Ipv4Addr;

use zerocopy::network_endian::U16;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use crate::error::{BuildError, Layer, ParseError, truncated};
use crate::ethernet::{MacAddr, ethertype};
use crate::field::{header, header_mut};

/// ARP operation: request.
pub const ARP_REQUEST: u16 = 1;
/// ARP operation: reply.
pub const ARP_REPLY: u16 = 2;
/// Length of an Ethernet/IPv4 ARP packet.
pub const ARP_LEN: usize = 28;

/// The Ethernet/IPv4 ARP packet as laid out on the wire.
#[derive(Debug, Clone, Copy, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned)]
#[repr(C)]
pub struct ArpHeader {
    /// Hardware type (1 = Ethernet).
    pub htype: U16,
    /// Protocol type (0x0800).
    pub ptype: U16,
    /// Hardware address length (6).
    pub hlen: u8,
    /// Protocol address length (4).
    pub plen: u8,
    /// Operation.
    pub oper: U16,
    /// Sender hardware address.
    pub sha: [u8; 6],
    /// Sender protocol address.
    pub spa: [u8; 4],
    /// Target hardware address.
    pub tha: [u8; 6],
    /// Target protocol address.
    pub tpa: [u8; 4],
}

/// A view over an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone)]
pub struct ArpPacket<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ArpPacket<T> {
    /// Wraps `buffer`, checking the length and that it is Ethernet/IPv4 ARP.
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let b = buffer.as_ref();
        if b.len() < ARP_LEN {
            return Err(truncated(Layer::Arp, ARP_LEN, b.len()));
        }
        let h: &ArpHeader = header(b);
        if h.htype.get() != 1 || h.ptype.get() != ethertype::IPV4 || h.hlen != 6 || h.plen != 4 {
            return Err(ParseError::ArpUnsupported {
                htype: h.htype.get(),
                ptype: h.ptype.get(),
                hlen: h.hlen,
                plen: h.plen,
            });
        }
        Ok(ArpPacket { buffer })
    }
    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    /// The header struct.
    #[inline]
    pub fn header(&self) -> &ArpHeader {
        header(self.buffer.as_ref())
    }
    /// Operation.
    #[inline]
    pub fn operation(&self) -> u16 {
        self.header().oper.get()
    }
    /// Sender MAC.
    #[inline]
    pub fn sender_mac(&self) -> MacAddr {
        MacAddr(self.header().sha)
    }
    /// Sender IPv4 address.
    #[inline]
    pub fn sender_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.header().spa)
    }
    /// Target MAC.
    #[inline]
    pub fn target_mac(&self) -> MacAddr {
        MacAddr(self.header().tha)
    }
    /// Target IPv4 address.
    #[inline]
    pub fn target_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.header().tpa)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> ArpPacket<T> {
    /// The header struct, mutable.
    #[inline]
    pub fn header_mut(&mut self) -> &mut ArpHeader {
        header_mut(self.buffer.as_mut())
    }
    /// Turns a request for `my_mac`'s address into the reply in place.
    pub fn make_reply(&mut self, my_mac: MacAddr) {
        let h = self.header_mut();
        h.oper.set(ARP_REPLY);
        h.tha = h.sha;
        core::mem::swap(&mut h.spa, &mut h.tpa);
        h.sha = my_mac.0;
    }
}

/// Parsed Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    /// Operation ([`ARP_REQUEST`], [`ARP_REPLY`], ...).
    pub operation: u16,
    /// Sender MAC.
    pub sender_mac: MacAddr,
    /// Sender IPv4 address.
    pub sender_ip: Ipv4Addr,
    /// Target MAC.
    pub target_mac: MacAddr,
    /// Target IPv4 address.
    pub target_ip: Ipv4Addr,
}

impl ArpRepr {
    /// Reads a checked packet.
    pub fn parse<T: AsRef<[u8]>>(p: &ArpPacket<T>) -> Self {
        ArpRepr {
            operation: p.operation(),
            sender_mac: p.sender_mac(),
            sender_ip: p.sender_ip(),
            target_mac: p.target_mac(),
            target_ip: p.target_ip(),
        }
    }
    /// Length (28).
    pub const fn len(&self) -> usize {
        ARP_LEN
    }
    /// Always `false`.
    pub const fn is_empty(&self) -> bool {
        false
    }
    /// Writes the packet to the front of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, BuildError> {
        let avail = buf.len();
        let h = buf.get_mut(..ARP_LEN).ok_or(BuildError::BufferTooSmall {
            needed: ARP_LEN,
            available: avail,
        })?;
        let a = ArpHeader {
            htype: U16::new(1),
            ptype: U16::new(ethertype::IPV4),
            hlen: 6,
            plen: 4,
            oper: U16::new(self.operation),
            sha: self.sender_mac.0,
            spa: self.sender_ip.octets(),
            tha: self.target_mac.0,
            tpa: self.target_ip.octets(),
        };
        h.copy_from_slice(a.as_bytes());
        Ok(ARP_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_reply() {
        let req = ArpRepr {
            operation: ARP_REQUEST,
            sender_mac: MacAddr([2, 0, 0, 0, 0, 1]),
            sender_ip: Ipv4Addr::new(10, 0, 0, 1),
            target_mac: MacAddr::ZERO,
            target_ip: Ipv4Addr::new(10, 0, 0, 2),
        };
        let mut b = [0u8; 28];
        req.emit(&mut b).unwrap();
        let mut p = ArpPacket::new_checked(&mut b[..]).unwrap();
        assert_eq!(ArpRepr::parse(&p), req);
        let me = MacAddr([2, 0, 0, 0, 0, 2]);
        p.make_reply(me);
        let rep = ArpRepr::parse(&p);
        assert_eq!(rep.operation, ARP_REPLY);
        assert_eq!((rep.sender_mac, rep.sender_ip), (me, req.target_ip));
        assert_eq!(
            (rep.target_mac, rep.target_ip),
            (req.sender_mac, req.sender_ip)
        );
        assert!(ArpPacket::new_checked(&b[..27]).is_err());
        b[5] = 16;
        assert!(matches!(
            ArpPacket::new_checked(&b[..]),
            Err(ParseError::ArpUnsupported { plen: 16, .. })
        ));
    }
}
