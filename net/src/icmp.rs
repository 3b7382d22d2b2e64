//! ICMPv4 (RFC 792) and ICMPv6 (RFC 4443) messages, with the NDP (RFC 4861) neighbor
//! solicitation/advertisement fields a router needs.
//!
//! Both views require the 8-byte header (type, code, checksum and 4 bytes that echo messages
//! use for identifier and sequence number, NDP for flags). The ICMPv4 checksum covers the
//! message; the ICMPv6 checksum also covers the IPv6 pseudo-header.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::checksum;
use crate::error::{BuildError, Layer, ParseError, truncated};
use crate::ethernet::MacAddr;
use crate::ipv4::protocol;

/// Length of the ICMP header (both versions, rest-of-header included).
pub const ICMP_HEADER_LEN: usize = 8;

/// ICMPv4 type numbers.
pub mod icmpv4_type {
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination unreachable.
    pub const DEST_UNREACHABLE: u8 = 3;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 11;
}

/// ICMPv6 type numbers.
pub mod icmpv6_type {
    /// Destination unreachable.
    pub const DEST_UNREACHABLE: u8 = 1;
    /// Packet too big.
    pub const PACKET_TOO_BIG: u8 = 2;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 3;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 129;
    /// Router solicitation.
    pub const ROUTER_SOLICIT: u8 = 133;
    /// Router advertisement.
    pub const ROUTER_ADVERT: u8 = 134;
    /// Neighbor solicitation.
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    /// Neighbor advertisement.
    pub const NEIGHBOR_ADVERT: u8 = 136;
    /// Redirect.
    pub const REDIRECT: u8 = 137;
}

macro_rules! icmp_common {
    ($name:ident, $layer:expr) => {
        impl<T: AsRef<[u8]>> $name<T> {
            /// Wraps `buffer` (the IP payload), checking it holds the 8-byte header.
            #[inline]
            pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
                let len = buffer.as_ref().len();
                if len < ICMP_HEADER_LEN {
                    return Err(truncated($layer, ICMP_HEADER_LEN, len));
                }
                Ok($name { buffer })
            }
            /// The underlying buffer.
            pub fn into_inner(self) -> T {
                self.buffer
            }
            /// Message type.
            #[inline]
            pub fn msg_type(&self) -> u8 {
                self.buffer.as_ref()[0]
            }
            /// Code.
            #[inline]
            pub fn code(&self) -> u8 {
                self.buffer.as_ref()[1]
            }
            /// Checksum field.
            #[inline]
            pub fn checksum(&self) -> u16 {
                let b = self.buffer.as_ref();
                u16::from_be_bytes([b[2], b[3]])
            }
            /// The 4 bytes after the checksum as one word.
            #[inline]
            pub fn rest_of_header(&self) -> u32 {
                let b = self.buffer.as_ref();
                u32::from_be_bytes([b[4], b[5], b[6], b[7]])
            }
            /// Echo identifier (bytes 4..6).
            #[inline]
            pub fn echo_ident(&self) -> u16 {
                (self.rest_of_header() >> 16) as u16
            }
            /// Echo sequence number (bytes 6..8).
            #[inline]
            pub fn echo_seq(&self) -> u16 {
                self.rest_of_header() as u16
            }
            /// Bytes after the 8-byte header.
            #[inline]
            pub fn payload(&self) -> &[u8] {
                &self.buffer.as_ref()[ICMP_HEADER_LEN..]
            }
            /// The whole message.
            #[inline]
            pub fn message(&self) -> &[u8] {
                self.buffer.as_ref()
            }
        }

        impl<T: AsRef<[u8]> + AsMut<[u8]>> $name<T> {
            /// Sets the type (checksum not updated).
            #[inline]
            pub fn set_msg_type(&mut self, v: u8) {
                self.buffer.as_mut()[0] = v;
            }
            /// Sets the code (checksum not updated).
            #[inline]
            pub fn set_code(&mut self, v: u8) {
                self.buffer.as_mut()[1] = v;
            }
            /// Sets the checksum field.
            #[inline]
            pub fn set_checksum(&mut self, v: u16) {
                self.buffer.as_mut()[2..4].copy_from_slice(&v.to_be_bytes());
            }
            /// Sets the echo sequence number, updating the checksum incrementally.
            #[inline]
            pub fn set_echo_seq(&mut self, v: u16) {
                let old = self.echo_seq();
                self.buffer.as_mut()[6..8].copy_from_slice(&v.to_be_bytes());
                let c = checksum::update_u16(self.checksum(), old, v);
                self.set_checksum(c);
            }
            /// Turns an echo request into a reply in place (type change, checksum updated
            /// incrementally).
            #[inline]
            pub fn make_echo_reply(&mut self, reply_type: u8) {
                let old = u16::from_be_bytes([self.msg_type(), self.code()]);
                self.set_msg_type(reply_type);
                let new = u16::from_be_bytes([reply_type, self.code()]);
                let c = checksum::update_u16(self.checksum(), old, new);
                self.set_checksum(c);
            }
            /// Bytes after the header, mutable.
            #[inline]
            pub fn payload_mut(&mut self) -> &mut [u8] {
                &mut self.buffer.as_mut()[ICMP_HEADER_LEN..]
            }
        }
    };
}

/// A view over an ICMPv4 message.
#[derive(Debug, Clone)]
pub struct Icmpv4Packet<T> {
    buffer: T,
}
icmp_common!(Icmpv4Packet, Layer::Icmpv4);

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    /// `true` if the checksum over the message is valid.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::verify(self.buffer.as_ref())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
    /// Computes and writes the checksum.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// A view over an ICMPv6 message.
#[derive(Debug, Clone)]
pub struct Icmpv6Packet<T> {
    buffer: T,
}
icmp_common!(Icmpv6Packet, Layer::Icmpv6);

/// NDP option type: source link-layer address.
pub const NDP_OPT_SOURCE_LL: u8 = 1;
/// NDP option type: target link-layer address.
pub const NDP_OPT_TARGET_LL: u8 = 2;
/// Neighbor advertisement flag: sender is a router.
pub const NA_FLAG_ROUTER: u32 = 0x8000_0000;
/// Neighbor advertisement flag: solicited.
pub const NA_FLAG_SOLICITED: u32 = 0x4000_0000;
/// Neighbor advertisement flag: override.
pub const NA_FLAG_OVERRIDE: u32 = 0x2000_0000;

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    /// `true` if the checksum (with the IPv6 pseudo-header) is valid.
    pub fn verify_checksum(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        checksum::verify_upper_layer_v6(src, dst, protocol::ICMPV6, self.buffer.as_ref())
    }
    /// Reads a neighbor solicitation or advertisement: the target address and the link-layer
    /// address option (source for NS, target for NA). Errors for other types, a message shorter
    /// than 24 bytes, and malformed options (zero length, running past the end).
    pub fn ndp(&self) -> Result<NdpRepr, ParseError> {
        let b = self.buffer.as_ref();
        let t = b[0];
        if t != icmpv6_type::NEIGHBOR_SOLICIT && t != icmpv6_type::NEIGHBOR_ADVERT {
            return Err(ParseError::UnexpectedType {
                layer: Layer::Icmpv6,
                msg_type: t,
            });
        }
        if b.len() < 24 {
            return Err(truncated(Layer::Icmpv6, 24, b.len()));
        }
        let mut target = [0u8; 16];
        target.copy_from_slice(&b[8..24]);
        let target = Ipv6Addr::from(target);
        let want = if t == icmpv6_type::NEIGHBOR_SOLICIT {
            NDP_OPT_SOURCE_LL
        } else {
            NDP_OPT_TARGET_LL
        };
        let mut lladdr = None;
        let mut opts = &b[24..];
        while !opts.is_empty() {
            if opts.len() < 2 {
                return Err(truncated(Layer::NdpOption, 2, opts.len()));
            }
            let len = opts[1] as usize * 8;
            if len == 0 {
                return Err(ParseError::NdpOptionZeroLength(opts[0]));
            }
            if len > opts.len() {
                return Err(truncated(Layer::NdpOption, len, opts.len()));
            }
            if opts[0] == want && len == 8 && lladdr.is_none() {
                let mut m = [0u8; 6];
                m.copy_from_slice(&opts[2..8]);
                lladdr = Some(MacAddr(m));
            }
            opts = &opts[len..];
        }
        Ok(if t == icmpv6_type::NEIGHBOR_SOLICIT {
            NdpRepr::NeighborSolicit {
                target,
                source_lladdr: lladdr,
            }
        } else {
            let f = self.rest_of_header();
            NdpRepr::NeighborAdvert {
                router: f & NA_FLAG_ROUTER != 0,
                solicited: f & NA_FLAG_SOLICITED != 0,
                override_: f & NA_FLAG_OVERRIDE != 0,
                target,
                target_lladdr: lladdr,
            }
        })
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    /// Computes and writes the checksum with the IPv6 pseudo-header.
    pub fn fill_checksum(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let c = checksum::upper_layer_v6(src, dst, protocol::ICMPV6, self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// Neighbor discovery messages a router answers or learns from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NdpRepr {
    /// Neighbor solicitation (type 135).
    NeighborSolicit {
        /// Address being resolved.
        target: Ipv6Addr,
        /// Source link-layer address option, if present.
        source_lladdr: Option<MacAddr>,
    },
    /// Neighbor advertisement (type 136).
    NeighborAdvert {
        /// R flag.
        router: bool,
        /// S flag.
        solicited: bool,
        /// O flag.
        override_: bool,
        /// Address advertised.
        target: Ipv6Addr,
        /// Target link-layer address option, if present.
        target_lladdr: Option<MacAddr>,
    },
}

/// Parsed ICMP message header for echo and other simple messages.
///
/// `rest_of_header` holds identifier and sequence number for echo messages. The checksum is
/// computed at emit time over header and payload (for ICMPv6 with the pseudo-header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IcmpRepr {
    /// Message type.
    pub msg_type: u8,
    /// Code.
    pub code: u8,
    /// Bytes 4..8 of the header.
    pub rest_of_header: u32,
    /// Payload length.
    pub payload_len: usize,
}

impl IcmpRepr {
    /// An echo request or reply (`msg_type` from [`icmpv4_type`] or [`icmpv6_type`]).
    pub fn echo(msg_type: u8, ident: u16, seq: u16, payload_len: usize) -> Self {
        IcmpRepr {
            msg_type,
            code: 0,
            rest_of_header: ((ident as u32) << 16) | seq as u32,
            payload_len,
        }
    }
    /// Reads a checked ICMPv4 message.
    pub fn parse_v4<T: AsRef<[u8]>>(p: &Icmpv4Packet<T>) -> Self {
        IcmpRepr {
            msg_type: p.msg_type(),
            code: p.code(),
            rest_of_header: p.rest_of_header(),
            payload_len: p.payload().len(),
        }
    }
    /// Reads a checked ICMPv6 message.
    pub fn parse_v6<T: AsRef<[u8]>>(p: &Icmpv6Packet<T>) -> Self {
        IcmpRepr {
            msg_type: p.msg_type(),
            code: p.code(),
            rest_of_header: p.rest_of_header(),
            payload_len: p.payload().len(),
        }
    }
    /// Header length (8).
    pub const fn header_len(&self) -> usize {
        ICMP_HEADER_LEN
    }
    /// Writes the header with a zero checksum.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, BuildError> {
        let avail = buf.len();
        let h = buf
            .get_mut(..ICMP_HEADER_LEN)
            .ok_or(BuildError::BufferTooSmall {
                needed: ICMP_HEADER_LEN,
                available: avail,
            })?;
        h[0] = self.msg_type;
        h[1] = self.code;
        h[2] = 0;
        h[3] = 0;
        h[4..8].copy_from_slice(&self.rest_of_header.to_be_bytes());
        Ok(ICMP_HEADER_LEN)
    }
}

impl NdpRepr {
    /// Encoded length (24, plus 8 for a link-layer address option).
    pub fn len(&self) -> usize {
        let ll = match self {
            NdpRepr::NeighborSolicit { source_lladdr, .. } => source_lladdr.is_some(),
            NdpRepr::NeighborAdvert { target_lladdr, .. } => target_lladdr.is_some(),
        };
        24 + if ll { 8 } else { 0 }
    }
    /// Always `false`.
    pub fn is_empty(&self) -> bool {
        false
    }
    /// Writes the message with its checksum (over `src`/`dst`) to the front of `buf`.
    pub fn emit(&self, src: Ipv6Addr, dst: Ipv6Addr, buf: &mut [u8]) -> Result<usize, BuildError> {
        let n = self.len();
        let avail = buf.len();
        let m = buf.get_mut(..n).ok_or(BuildError::BufferTooSmall {
            needed: n,
            available: avail,
        })?;
        m.fill(0);
        let (t, flags, target, ll, opt) = match *self {
            NdpRepr::NeighborSolicit {
                target,
                source_lladdr,
            } => (
                icmpv6_type::NEIGHBOR_SOLICIT,
                0,
                target,
                source_lladdr,
                NDP_OPT_SOURCE_LL,
            ),
            NdpRepr::NeighborAdvert {
                router,
                solicited,
                override_,
                target,
                target_lladdr,
            } => {
                let mut f = 0;
                if router {
                    f |= NA_FLAG_ROUTER;
                }
                if solicited {
                    f |= NA_FLAG_SOLICITED;
                }
                if override_ {
                    f |= NA_FLAG_OVERRIDE;
                }
                (
                    icmpv6_type::NEIGHBOR_ADVERT,
                    f,
                    target,
                    target_lladdr,
                    NDP_OPT_TARGET_LL,
                )
            }
        };
        m[0] = t;
        m[4..8].copy_from_slice(&flags.to_be_bytes());
        m[8..24].copy_from_slice(&target.octets());
        if let Some(mac) = ll {
            m[24] = opt;
            m[25] = 1;
            m[26..32].copy_from_slice(&mac.0);
        }
        let c = checksum::upper_layer_v6(src, dst, protocol::ICMPV6, m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        Ok(n)
    }
}

/// Checksum of an ICMPv4 message (convenience; equal to [`checksum::checksum`]).
#[inline]
pub fn icmpv4_checksum(message: &[u8]) -> u16 {
    checksum::checksum(message)
}

/// The source address of the IPv4 datagram quoted in an ICMPv4 error message (bytes 12..16 of
/// the payload), if the quote is long enough.
pub fn icmpv4_quoted_src<T: AsRef<[u8]>>(p: &Icmpv4Packet<T>) -> Option<Ipv4Addr> {
    let q = p.payload();
    let o: [u8; 4] = q.get(12..16)?.try_into().ok()?;
    Some(Ipv4Addr::from(o))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmpv4_echo_round_trip_and_reply() {
        let r = IcmpRepr::echo(icmpv4_type::ECHO_REQUEST, 0x1234, 1, 4);
        let mut b = vec![0u8; 12];
        r.emit(&mut b).unwrap();
        b[8..].copy_from_slice(b"ping");
        let mut p = Icmpv4Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!((p.echo_ident(), p.echo_seq()), (0x1234, 1));
        assert_eq!(IcmpRepr::parse_v4(&p), r);
        p.set_echo_seq(2);
        p.make_echo_reply(icmpv4_type::ECHO_REPLY);
        assert!(p.verify_checksum());
        assert_eq!(p.msg_type(), 0);
        assert!(Icmpv4Packet::new_checked(&b[..7]).is_err());
    }

    #[test]
    fn ndp_ns_na_round_trip() {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let dst: Ipv6Addr = "ff02::1:ff00:2".parse().unwrap();
        let mac = MacAddr([2, 0, 0, 0, 0, 1]);
        for r in [
            NdpRepr::NeighborSolicit {
                target: "2001:db8::2".parse().unwrap(),
                source_lladdr: Some(mac),
            },
            NdpRepr::NeighborSolicit {
                target: "2001:db8::2".parse().unwrap(),
                source_lladdr: None,
            },
            NdpRepr::NeighborAdvert {
                router: true,
                solicited: true,
                override_: false,
                target: "2001:db8::1".parse().unwrap(),
                target_lladdr: Some(mac),
            },
        ] {
            let mut b = vec![0u8; r.len()];
            r.emit(src, dst, &mut b).unwrap();
            let p = Icmpv6Packet::new_checked(&b[..]).unwrap();
            assert!(p.verify_checksum(src, dst));
            assert_eq!(p.ndp().unwrap(), r);
        }
    }

    #[test]
    fn ndp_malformed_options() {
        let r = NdpRepr::NeighborSolicit {
            target: "::2".parse().unwrap(),
            source_lladdr: Some(MacAddr([1; 6])),
        };
        let mut b = vec![0u8; 32];
        r.emit("::1".parse().unwrap(), "::2".parse().unwrap(), &mut b)
            .unwrap();
        let mut z = b.clone();
        z[25] = 0;
        assert_eq!(
            Icmpv6Packet::new_checked(&z[..]).unwrap().ndp(),
            Err(ParseError::NdpOptionZeroLength(1))
        );
        let mut long = b.clone();
        long[25] = 2;
        assert!(matches!(
            Icmpv6Packet::new_checked(&long[..]).unwrap().ndp(),
            Err(ParseError::Truncated { .. })
        ));
        assert!(matches!(
            Icmpv6Packet::new_checked(&b[..20]).unwrap().ndp(),
            Err(ParseError::Truncated { .. })
        ));
        assert!(matches!(
            Icmpv6Packet::new_checked(&b[..25]).unwrap().ndp(),
            Err(ParseError::Truncated { .. })
        ));
        let mut echo = b.clone();
        echo[0] = 128;
        assert_eq!(
            Icmpv6Packet::new_checked(&echo[..]).unwrap().ndp(),
            Err(ParseError::UnexpectedType {
                layer: Layer::Icmpv6,
                msg_type: 128
            })
        );
    }
}
