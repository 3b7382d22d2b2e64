//! Packet-type classification in the manner of DPDK's `rte_net_get_ptype`.
//!
//! [`parse`] walks a frame once and returns a [`PacketInfo`]: a packet-type word with DPDK's
//! `RTE_PTYPE_*` bit layout (constants in [`ptype`]) and the header lengths. It validates what
//! it walks over (IPv4 IHL and total length, IPv6 payload length and extension chain, TCP data
//! offset, UDP length, ...), so a frame it accepts can be handed to the views without surprises
//! and a malformed one is a typed [`ParseError`].
//!
//! What it recognises:
//! - L2: Ethernet, one 802.1Q tag (`L2_ETHER_VLAN`) or two tags (`L2_ETHER_QINQ`), ARP,
//!   LLDP, IEEE 1588.
//! - L3: IPv4 (`L3_IPV4`, or `L3_IPV4_EXT` with options), IPv6 (`L3_IPV6`, or `L3_IPV6_EXT`
//!   with extension headers).
//! - L4: TCP, UDP, SCTP, ICMP (ICMPv4, and ICMPv6 over IPv6: DPDK has one ICMP value), `L4_FRAG`
//!   for fragments (an IPv6 atomic fragment is not one), `L4_NONFRAG` for other protocols.
//! - Tunnels: VXLAN (UDP destination port 4789 with the I flag), GRE (version 0, payload IPv4,
//!   IPv6 or Ethernet), IP-in-IP and IPv6-in-IP (`TUNNEL_IP`); the inner packet is classified
//!   into the `INNER_*` fields. Tunnels are not followed inside tunnels.
//!
//! Lengths follow `struct rte_net_hdr_lens`: `l2_len` includes VLAN tags, `l3_len` includes
//! IPv4 options or IPv6 extension headers, `l4_len` is the TCP header (data offset), 8 for UDP
//! and ICMP, 12 for SCTP, 0 for fragments and unknown protocols. For a VXLAN frame `l4_len` is
//! the outer UDP header and `tunnel_len` the VXLAN header; for GRE `tunnel_len` is the GRE
//! header. [`fill_meta`] maps these onto mbuf-style metadata through [`PacketMeta`].

use crate::error::{Layer, ParseError, truncated};
use crate::ethernet::{ETHERNET_HEADER_LEN, ethertype};
use crate::ipv4::{Ipv4Packet, protocol};
use crate::ipv6::{IPV6_HEADER_LEN, Ipv6Extensions, Ipv6Packet};
use crate::tcp::TcpPacket;
use crate::tunnel::{GrePacket, VXLAN_FLAG_VNI, VXLAN_HEADER_LEN, VXLAN_PORT};
use crate::udp::UdpPacket;

/// Packet-type bits, with the values and layout of DPDK's `RTE_PTYPE_*` (rte_mbuf_ptype.h).
#[allow(clippy::module_inception)] // `ptype::ptype::L4_UDP` mirrors `RTE_PTYPE_L4_UDP`.
pub mod ptype {
    /// Unknown.
    pub const UNKNOWN: u32 = 0;
    /// Ethernet.
    pub const L2_ETHER: u32 = 0x0000_0001;
    /// IEEE 1588 over Ethernet.
    pub const L2_ETHER_TIMESYNC: u32 = 0x0000_0002;
    /// ARP.
    pub const L2_ETHER_ARP: u32 = 0x0000_0003;
    /// LLDP.
    pub const L2_ETHER_LLDP: u32 = 0x0000_0004;
    /// Ethernet carrying NSH.
    pub const L2_ETHER_NSH: u32 = 0x0000_0005;
    /// One VLAN tag.
    pub const L2_ETHER_VLAN: u32 = 0x0000_0006;
    /// Two VLAN tags.
    pub const L2_ETHER_QINQ: u32 = 0x0000_0007;
    /// L2 field mask.
    pub const L2_MASK: u32 = 0x0000_000f;
    /// IPv4 without options.
    pub const L3_IPV4: u32 = 0x0000_0010;
    /// IPv4 with options.
    pub const L3_IPV4_EXT: u32 = 0x0000_0030;
    /// IPv6 without extension headers.
    pub const L3_IPV6: u32 = 0x0000_0040;
    /// IPv4, options unknown.
    pub const L3_IPV4_EXT_UNKNOWN: u32 = 0x0000_0090;
    /// IPv6 with extension headers.
    pub const L3_IPV6_EXT: u32 = 0x0000_00c0;
    /// IPv6, extension headers unknown.
    pub const L3_IPV6_EXT_UNKNOWN: u32 = 0x0000_00e0;
    /// L3 field mask.
    pub const L3_MASK: u32 = 0x0000_00f0;
    /// TCP.
    pub const L4_TCP: u32 = 0x0000_0100;
    /// UDP.
    pub const L4_UDP: u32 = 0x0000_0200;
    /// A fragment.
    pub const L4_FRAG: u32 = 0x0000_0300;
    /// SCTP.
    pub const L4_SCTP: u32 = 0x0000_0400;
    /// ICMP.
    pub const L4_ICMP: u32 = 0x0000_0500;
    /// Not a fragment, other protocol.
    pub const L4_NONFRAG: u32 = 0x0000_0600;
    /// IGMP.
    pub const L4_IGMP: u32 = 0x0000_0700;
    /// L4 field mask.
    pub const L4_MASK: u32 = 0x0000_0f00;
    /// IP in IP.
    pub const TUNNEL_IP: u32 = 0x0000_1000;
    /// GRE.
    pub const TUNNEL_GRE: u32 = 0x0000_2000;
    /// VXLAN.
    pub const TUNNEL_VXLAN: u32 = 0x0000_3000;
    /// Ethernet over GRE/NVGRE.
    pub const TUNNEL_GRENAT: u32 = 0x0000_6000;
    /// NVGRE.
    pub const TUNNEL_NVGRE: u32 = 0x0000_4000;
    /// Geneve.
    pub const TUNNEL_GENEVE: u32 = 0x0000_5000;
    /// Tunnel field mask.
    pub const TUNNEL_MASK: u32 = 0x0000_f000;
    /// Inner Ethernet.
    pub const INNER_L2_ETHER: u32 = 0x0001_0000;
    /// Inner Ethernet with one VLAN tag.
    pub const INNER_L2_ETHER_VLAN: u32 = 0x0002_0000;
    /// Inner Ethernet with two VLAN tags.
    pub const INNER_L2_ETHER_QINQ: u32 = 0x0003_0000;
    /// Inner L2 field mask.
    pub const INNER_L2_MASK: u32 = 0x000f_0000;
    /// Inner IPv4.
    pub const INNER_L3_IPV4: u32 = 0x0010_0000;
    /// Inner IPv4 with options.
    pub const INNER_L3_IPV4_EXT: u32 = 0x0020_0000;
    /// Inner IPv6.
    pub const INNER_L3_IPV6: u32 = 0x0030_0000;
    /// Inner IPv4, options unknown.
    pub const INNER_L3_IPV4_EXT_UNKNOWN: u32 = 0x0040_0000;
    /// Inner IPv6 with extension headers.
    pub const INNER_L3_IPV6_EXT: u32 = 0x0050_0000;
    /// Inner IPv6, extension headers unknown.
    pub const INNER_L3_IPV6_EXT_UNKNOWN: u32 = 0x0060_0000;
    /// Inner L3 field mask.
    pub const INNER_L3_MASK: u32 = 0x00f0_0000;
    /// Inner TCP.
    pub const INNER_L4_TCP: u32 = 0x0100_0000;
    /// Inner UDP.
    pub const INNER_L4_UDP: u32 = 0x0200_0000;
    /// Inner fragment.
    pub const INNER_L4_FRAG: u32 = 0x0300_0000;
    /// Inner SCTP.
    pub const INNER_L4_SCTP: u32 = 0x0400_0000;
    /// Inner ICMP.
    pub const INNER_L4_ICMP: u32 = 0x0500_0000;
    /// Inner non-fragment, other protocol.
    pub const INNER_L4_NONFRAG: u32 = 0x0600_0000;
    /// Inner L4 field mask.
    pub const INNER_L4_MASK: u32 = 0x0f00_0000;
}

/// Result of [`parse`]: packet type and header lengths (like `struct rte_net_hdr_lens`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PacketInfo {
    /// Packet type, [`ptype`] bits.
    pub ptype: u32,
    /// Outer L2 length (Ethernet plus VLAN tags).
    pub l2_len: u16,
    /// Outer L3 length (IPv4 with options, IPv6 with extension headers).
    pub l3_len: u16,
    /// Outer L4 length (see the module docs).
    pub l4_len: u16,
    /// Tunnel header length (VXLAN, GRE; 0 for IP-in-IP).
    pub tunnel_len: u16,
    /// Inner L2 length (VXLAN and GRE/TEB).
    pub inner_l2_len: u16,
    /// Inner L3 length.
    pub inner_l3_len: u16,
    /// Inner L4 length.
    pub inner_l4_len: u16,
    /// TCI of the (innermost) outer VLAN tag, 0 if untagged.
    pub vlan_tci: u16,
    /// TCI of the outer tag of a QinQ frame, 0 otherwise.
    pub outer_vlan_tci: u16,
    /// Outer L4 protocol (IP protocol number after extension headers), 0 without IP.
    pub l4_proto: u8,
}

impl PacketInfo {
    /// `true` if the packet type has a tunnel.
    #[inline]
    pub fn is_tunnel(&self) -> bool {
        self.ptype & ptype::TUNNEL_MASK != 0
    }
    /// Offset of the outer L3 header.
    #[inline]
    pub fn l3_offset(&self) -> usize {
        self.l2_len as usize
    }
    /// Offset of the outer L4 header.
    #[inline]
    pub fn l4_offset(&self) -> usize {
        self.l3_offset() + self.l3_len as usize
    }
    /// Offset of the tunnel header.
    #[inline]
    pub fn tunnel_offset(&self) -> usize {
        self.l4_offset() + self.l4_len as usize
    }
    /// Offset of the inner L2 header (for tunnels).
    #[inline]
    pub fn inner_l2_offset(&self) -> usize {
        self.tunnel_offset() + self.tunnel_len as usize
    }
    /// Offset of the inner L3 header.
    #[inline]
    pub fn inner_l3_offset(&self) -> usize {
        self.inner_l2_offset() + self.inner_l2_len as usize
    }
    /// Offset of the inner L4 header.
    #[inline]
    pub fn inner_l4_offset(&self) -> usize {
        self.inner_l3_offset() + self.inner_l3_len as usize
    }
    /// Offset of the innermost payload (after every header counted).
    #[inline]
    pub fn payload_offset(&self) -> usize {
        self.inner_l4_offset() + self.inner_l4_len as usize
    }
}

/// Mbuf-style packet metadata that [`fill_meta`] writes (implemented by the mempool's mbuf).
///
/// The mapping follows DPDK's mbuf TX-offload convention: for a plain packet `l2/l3/l4` are
/// the headers; for a tunnel packet `outer_l2/outer_l3` are the outer headers and `l2_len`
/// covers outer L4 + tunnel header + inner L2, `l3/l4` the inner headers.
pub trait PacketMeta {
    /// Stores the packet type.
    fn set_packet_type(&mut self, ptype: u32);
    /// Stores the L2 length.
    fn set_l2_len(&mut self, len: u16);
    /// Stores the L3 length.
    fn set_l3_len(&mut self, len: u16);
    /// Stores the L4 length.
    fn set_l4_len(&mut self, len: u16);
    /// Stores the outer L2 length (tunnels; 0 otherwise).
    fn set_outer_l2_len(&mut self, len: u16);
    /// Stores the outer L3 length (tunnels; 0 otherwise).
    fn set_outer_l3_len(&mut self, len: u16);
    /// Stores the VLAN TCI (0 when untagged); the default ignores it.
    fn set_vlan_tci(&mut self, _tci: u16) {}
    /// Stores the outer VLAN TCI of a QinQ frame; the default ignores it.
    fn set_vlan_tci_outer(&mut self, _tci: u16) {}
}

/// Parses `frame` and writes the result into `meta` (see [`PacketMeta`]); returns the info.
/// On error `meta` is set to packet type [`ptype::UNKNOWN`] with zero lengths.
pub fn fill_meta<M: PacketMeta + ?Sized>(
    frame: &[u8],
    meta: &mut M,
) -> Result<PacketInfo, ParseError> {
    let r = parse(frame);
    let info = r.unwrap_or_default();
    meta.set_packet_type(info.ptype);
    meta.set_vlan_tci(info.vlan_tci);
    meta.set_vlan_tci_outer(info.outer_vlan_tci);
    if info.is_tunnel() {
        meta.set_outer_l2_len(info.l2_len);
        meta.set_outer_l3_len(info.l3_len);
        meta.set_l2_len(info.l4_len + info.tunnel_len + info.inner_l2_len);
        meta.set_l3_len(info.inner_l3_len);
        meta.set_l4_len(info.inner_l4_len);
    } else {
        meta.set_outer_l2_len(0);
        meta.set_outer_l3_len(0);
        meta.set_l2_len(info.l2_len);
        meta.set_l3_len(info.l3_len);
        meta.set_l4_len(info.l4_len);
    }
    r
}

/// Classifies `frame` (starting at the Ethernet header); see the module docs.
#[inline]
pub fn parse(frame: &[u8]) -> Result<PacketInfo, ParseError> {
    let mut info = PacketInfo::default();
    let (l2, ethertype, l2_len) = parse_l2(frame, &mut info.vlan_tci, &mut info.outer_vlan_tci)?;
    info.ptype = l2;
    info.l2_len = l2_len as u16;
    let rest = &frame[l2_len..];
    match ethertype {
        ethertype::IPV4 | ethertype::IPV6 => {
            let l3 = parse_l3(ethertype, rest, false)?;
            info.ptype |= l3.ptype;
            info.l3_len = l3.l3_len;
            info.l4_len = l3.l4_len;
            info.l4_proto = l3.proto;
            if let Some(t) = l3.tunnel {
                parse_tunnel(&mut info, &l3, t, rest)?;
            }
        }
        _ => {}
    }
    Ok(info)
}

/// Tunnel found at L4.
#[derive(Clone, Copy)]
enum Tunnel {
    Vxlan,
    Gre,
    Ip(u16),
}

/// One IP layer's classification.
struct L3Result {
    ptype: u32,
    l3_len: u16,
    l4_len: u16,
    proto: u8,
    /// Bytes of the L3 packet (without padding), i.e. where L4 and inner headers must fit.
    ip_len: usize,
    tunnel: Option<Tunnel>,
}

/// Parses Ethernet and up to two VLAN tags: `(ptype L2 bits, ethertype, l2_len)`.
#[inline(always)]
fn parse_l2(
    frame: &[u8],
    tci: &mut u16,
    outer_tci: &mut u16,
) -> Result<(u32, u16, usize), ParseError> {
    if frame.len() < ETHERNET_HEADER_LEN {
        return Err(truncated(Layer::Ethernet, ETHERNET_HEADER_LEN, frame.len()));
    }
    let mut et = u16::from_be_bytes([frame[12], frame[13]]);
    let mut off = ETHERNET_HEADER_LEN;
    let mut tags = 0;
    while (et == ethertype::VLAN || et == ethertype::QINQ) && tags < 2 {
        if frame.len() < off + 4 {
            return Err(truncated(Layer::Vlan, 4, frame.len() - off));
        }
        *outer_tci = *tci;
        *tci = u16::from_be_bytes([frame[off], frame[off + 1]]);
        et = u16::from_be_bytes([frame[off + 2], frame[off + 3]]);
        off += 4;
        tags += 1;
    }
    if tags < 2 {
        *outer_tci = 0;
    }
    let l2 = match (tags, et) {
        (1, _) => ptype::L2_ETHER_VLAN,
        (2, _) => ptype::L2_ETHER_QINQ,
        (_, ethertype::ARP) => ptype::L2_ETHER_ARP,
        (_, ethertype::LLDP) => ptype::L2_ETHER_LLDP,
        (_, ethertype::TIMESYNC) => ptype::L2_ETHER_TIMESYNC,
        _ => ptype::L2_ETHER,
    };
    Ok((l2, et, off))
}

/// Parses one IP header and its L4 header. Output ptype bits are outer ones; the caller shifts
/// them for inner use.
#[inline(always)]
fn parse_l3(et: u16, b: &[u8], inner: bool) -> Result<L3Result, ParseError> {
    let (l3_ptype, l3_len, proto, frag, ip_len) = if et == ethertype::IPV4 {
        let p = Ipv4Packet::new_checked(b)?;
        let hl = p.header_len();
        let t = if hl == 20 {
            ptype::L3_IPV4
        } else {
            ptype::L3_IPV4_EXT
        };
        (t, hl, p.protocol(), p.is_fragment(), p.total_len() as usize)
    } else {
        let p = Ipv6Packet::new_checked(b)?;
        let ext = if p.next_header() == protocol::UDP || p.next_header() == protocol::TCP {
            // Fast path: no extension headers to walk.
            Ipv6Extensions {
                upper_protocol: p.next_header(),
                ..Default::default()
            }
        } else {
            p.extensions()?
        };
        let t = if ext.count == 0 {
            ptype::L3_IPV6
        } else {
            ptype::L3_IPV6_EXT
        };
        (
            t,
            IPV6_HEADER_LEN + ext.len,
            ext.upper_protocol,
            ext.is_fragment(),
            IPV6_HEADER_LEN + p.payload_len() as usize,
        )
    };
    let mut r = L3Result {
        ptype: l3_ptype,
        l3_len: l3_len as u16,
        l4_len: 0,
        proto,
        ip_len,
        tunnel: None,
    };
    if frag {
        r.ptype |= ptype::L4_FRAG;
        return Ok(r);
    }
    let l4 = &b[l3_len..ip_len];
    match proto {
        protocol::TCP => {
            let t = TcpPacket::new_checked(l4)?;
            r.ptype |= ptype::L4_TCP;
            r.l4_len = t.header_len() as u16;
        }
        protocol::UDP => {
            let u = UdpPacket::new_checked(l4)?;
            r.ptype |= ptype::L4_UDP;
            r.l4_len = 8;
            if !inner && u.dst_port() == VXLAN_PORT {
                let p = u.payload();
                if p.len() >= VXLAN_HEADER_LEN && p[0] & VXLAN_FLAG_VNI != 0 {
                    r.tunnel = Some(Tunnel::Vxlan);
                }
            }
        }
        protocol::SCTP => {
            if l4.len() < 12 {
                return Err(truncated(Layer::Sctp, 12, l4.len()));
            }
            r.ptype |= ptype::L4_SCTP;
            r.l4_len = 12;
        }
        protocol::ICMP | protocol::ICMPV6 => {
            let (layer, want_v6) = if proto == protocol::ICMP {
                (Layer::Icmpv4, false)
            } else {
                (Layer::Icmpv6, true)
            };
            if want_v6 == (et == ethertype::IPV6) {
                if l4.len() < 8 {
                    return Err(truncated(layer, 8, l4.len()));
                }
                r.ptype |= ptype::L4_ICMP;
                r.l4_len = 8;
            } else {
                r.ptype |= ptype::L4_NONFRAG;
            }
        }
        protocol::GRE if !inner => r.tunnel = Some(Tunnel::Gre),
        protocol::IPIP if !inner => r.tunnel = Some(Tunnel::Ip(ethertype::IPV4)),
        protocol::IPV6 if !inner => r.tunnel = Some(Tunnel::Ip(ethertype::IPV6)),
        _ => r.ptype |= ptype::L4_NONFRAG,
    }
    Ok(r)
}

/// Converts outer L3/L4 ptype bits into the INNER_ fields.
#[inline(always)]
fn inner_bits(outer: u32) -> u32 {
    let l3 = match outer & ptype::L3_MASK {
        ptype::L3_IPV4 => ptype::INNER_L3_IPV4,
        ptype::L3_IPV4_EXT => ptype::INNER_L3_IPV4_EXT,
        ptype::L3_IPV6 => ptype::INNER_L3_IPV6,
        ptype::L3_IPV6_EXT => ptype::INNER_L3_IPV6_EXT,
        _ => 0,
    };
    // Inner L4 values are the outer ones shifted by 16 bits (TCP..NONFRAG).
    l3 | ((outer & ptype::L4_MASK) << 16)
}

#[cold]
fn parse_tunnel(
    info: &mut PacketInfo,
    l3: &L3Result,
    t: Tunnel,
    ip: &[u8],
) -> Result<(), ParseError> {
    let l4_start = l3.l3_len as usize;
    let body = &ip[l4_start..l3.ip_len];
    let (tun_bits, tunnel_len, inner_et, inner) = match t {
        Tunnel::Vxlan => {
            // UDP length was validated; the inner frame is the UDP payload after VXLAN.
            let u = UdpPacket::new_checked(body)?;
            let end = u.datagram().len();
            (
                ptype::TUNNEL_VXLAN,
                VXLAN_HEADER_LEN,
                None,
                &body[8 + VXLAN_HEADER_LEN..end],
            )
        }
        Tunnel::Gre => {
            let g = GrePacket::new_checked(body)?;
            let hl = g.header_len();
            let proto = g.protocol();
            let payload = &body[hl..];
            match proto {
                ethertype::TEB => (ptype::TUNNEL_GRE, hl, None, payload),
                ethertype::IPV4 | ethertype::IPV6 => (ptype::TUNNEL_GRE, hl, Some(proto), payload),
                _ => {
                    info.ptype |= ptype::TUNNEL_GRE;
                    info.tunnel_len = hl as u16;
                    return Ok(());
                }
            }
        }
        Tunnel::Ip(et) => (ptype::TUNNEL_IP, 0, Some(et), body),
    };
    info.ptype |= tun_bits;
    info.tunnel_len = tunnel_len as u16;
    let (et, l3b) = match inner_et {
        Some(et) => (et, inner),
        None => {
            let (mut tci, mut otci) = (0, 0);
            let (l2, et, l2_len) = parse_l2(inner, &mut tci, &mut otci)?;
            info.ptype |= match l2 {
                ptype::L2_ETHER_VLAN => ptype::INNER_L2_ETHER_VLAN,
                ptype::L2_ETHER_QINQ => ptype::INNER_L2_ETHER_QINQ,
                _ => ptype::INNER_L2_ETHER,
            };
            info.inner_l2_len = l2_len as u16;
            (et, &inner[l2_len..])
        }
    };
    if et == ethertype::IPV4 || et == ethertype::IPV6 {
        let r = parse_l3(et, l3b, true)?;
        info.ptype |= inner_bits(r.ptype);
        info.inner_l3_len = r.l3_len;
        info.inner_l4_len = r.l4_len;
    }
    Ok(())
}
