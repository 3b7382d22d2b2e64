//! Complete frames written into a caller's buffer, and templates for re-sending them cheaply.
//!
//! [`FrameSpec`] describes Ethernet [+ one or two VLAN tags] + IPv4 or IPv6 + UDP, TCP, ICMP
//! echo (v4 or v6) or a raw IP payload; [`FrameSpec::build`] writes header and payload into a
//! `&mut [u8]`, fills every length and checksum, and returns the frame length.
//! [`VxlanSpec::build`] wraps an inner [`FrameSpec`] frame in Ethernet/IP/UDP/VXLAN.
//!
//! A traffic generator sends the same frame with a changing sequence number or timestamp.
//! [`FrameTemplate`] keeps one built frame and where its checksums are; [`FrameTemplate::write`]
//! copies it into a buffer and [`FrameTemplate::stamp`] overwrites a few bytes in a frame,
//! fixing every checksum covering them with RFC 1624 updates instead of re-summing the packet.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::checksum;
use crate::error::{BuildError, Layer, ParseError};
use crate::ethernet::{
    ETHERNET_HEADER_LEN, EthernetRepr, MacAddr, VLAN_HEADER_LEN, VlanRepr, ethertype,
};
use crate::icmp::{ICMP_HEADER_LEN, IcmpRepr, icmpv4_type, icmpv6_type};
use crate::ipv4::{Ipv4Repr, protocol};
use crate::ipv6::{IPV6_HEADER_LEN, Ipv6Repr};
use crate::ptype::{self, PacketInfo, ptype as pt};
use crate::tcp::TcpRepr;
use crate::tunnel::{VXLAN_HEADER_LEN, VXLAN_PORT, VxlanRepr};
use crate::udp::{UDP_HEADER_LEN, UdpRepr};

/// The IP layer of a frame. `protocol`/`next_header` and the length fields are set by the
/// builder from the L4 choice and the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpSpec {
    /// IPv4 (options allowed).
    V4(Ipv4Repr),
    /// IPv6 (no extension headers).
    V6(Ipv6Repr),
}

impl IpSpec {
    /// A default IPv4 or IPv6 header between two addresses of the same family, or `None`.
    pub fn between(src: IpAddr, dst: IpAddr) -> Option<Self> {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => Some(IpSpec::V4(Ipv4Repr::new(s, d, 0, 0))),
            (IpAddr::V6(s), IpAddr::V6(d)) => Some(IpSpec::V6(Ipv6Repr::new(s, d, 0, 0))),
            _ => None,
        }
    }
    fn header_len(&self) -> usize {
        match self {
            IpSpec::V4(r) => r.header_len(),
            IpSpec::V6(_) => IPV6_HEADER_LEN,
        }
    }
    fn ethertype(&self) -> u16 {
        match self {
            IpSpec::V4(_) => ethertype::IPV4,
            IpSpec::V6(_) => ethertype::IPV6,
        }
    }
}

/// The L4 layer of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum L4Spec {
    /// UDP with these ports.
    Udp {
        /// Source port.
        src_port: u16,
        /// Destination port.
        dst_port: u16,
    },
    /// TCP (`payload_len` is overwritten).
    Tcp(TcpRepr),
    /// ICMP (v4 over IPv4, v6 over IPv6) echo request or reply.
    IcmpEcho {
        /// Request (`true`) or reply.
        request: bool,
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
    },
    /// The payload is the IP payload, with this protocol number.
    Raw(u8),
}

impl L4Spec {
    fn header_len(&self) -> usize {
        match self {
            L4Spec::Udp { .. } => UDP_HEADER_LEN,
            L4Spec::Tcp(t) => t.header_len(),
            L4Spec::IcmpEcho { .. } => ICMP_HEADER_LEN,
            L4Spec::Raw(_) => 0,
        }
    }
    fn protocol(&self, v6: bool) -> u8 {
        match self {
            L4Spec::Udp { .. } => protocol::UDP,
            L4Spec::Tcp(_) => protocol::TCP,
            L4Spec::IcmpEcho { .. } if v6 => protocol::ICMPV6,
            L4Spec::IcmpEcho { .. } => protocol::ICMP,
            L4Spec::Raw(p) => *p,
        }
    }
}

/// Everything needed to write one Ethernet frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameSpec {
    /// Source MAC.
    pub src_mac: MacAddr,
    /// Destination MAC.
    pub dst_mac: MacAddr,
    /// 802.1Q tag (the inner tag if `outer_vlan` is set too).
    pub vlan: Option<VlanRepr>,
    /// 802.1ad service tag (QinQ outer tag, TPID 0x88a8); used only with `vlan`.
    pub outer_vlan: Option<VlanRepr>,
    /// IP layer.
    pub ip: IpSpec,
    /// L4 layer.
    pub l4: L4Spec,
}

fn too_small(needed: usize, available: usize) -> BuildError {
    BuildError::BufferTooSmall { needed, available }
}

impl FrameSpec {
    /// A UDP frame with default IP fields between two addresses of the same family.
    pub fn udp(
        src_mac: MacAddr,
        dst_mac: MacAddr,
        src: IpAddr,
        dst: IpAddr,
        src_port: u16,
        dst_port: u16,
    ) -> Option<Self> {
        Some(FrameSpec {
            src_mac,
            dst_mac,
            vlan: None,
            outer_vlan: None,
            ip: IpSpec::between(src, dst)?,
            l4: L4Spec::Udp { src_port, dst_port },
        })
    }

    fn l2_len(&self) -> usize {
        ETHERNET_HEADER_LEN
            + match (self.outer_vlan, self.vlan) {
                (Some(_), Some(_)) => 2 * VLAN_HEADER_LEN,
                (_, Some(_)) => VLAN_HEADER_LEN,
                _ => 0,
            }
    }

    /// Length of the frame with a payload of `payload_len` bytes.
    pub fn frame_len(&self, payload_len: usize) -> usize {
        self.l2_len() + self.ip.header_len() + self.l4.header_len() + payload_len
    }

    /// Writes the frame with `payload` to the front of `buf`; returns its length.
    pub fn build(&self, payload: &[u8], buf: &mut [u8]) -> Result<usize, BuildError> {
        let n = self.frame_len(payload.len());
        if buf.len() < n {
            return Err(too_small(n, buf.len()));
        }
        let buf = &mut buf[..n];
        let l3 = write_l2(
            self.src_mac,
            self.dst_mac,
            self.vlan,
            self.outer_vlan,
            self.ip.ethertype(),
            buf,
        )?;
        let l4_len = self.l4.header_len() + payload.len();
        let v6 = matches!(self.ip, IpSpec::V6(_));
        let proto = self.l4.protocol(v6);
        let l4 = l3 + write_ip(&self.ip, proto, l4_len, &mut buf[l3..])?;
        let seg = &mut buf[l4..];
        let hl = self.l4.header_len();
        seg[hl..].copy_from_slice(payload);
        match self.l4 {
            L4Spec::Udp { src_port, dst_port } => {
                UdpRepr {
                    src_port,
                    dst_port,
                    payload_len: payload.len(),
                }
                .emit(seg)?;
            }
            L4Spec::Tcp(t) => {
                TcpRepr {
                    payload_len: payload.len(),
                    ..t
                }
                .emit(seg)?;
            }
            L4Spec::IcmpEcho {
                request,
                ident,
                seq,
            } => {
                let t = match (v6, request) {
                    (false, true) => icmpv4_type::ECHO_REQUEST,
                    (false, false) => icmpv4_type::ECHO_REPLY,
                    (true, true) => icmpv6_type::ECHO_REQUEST,
                    (true, false) => icmpv6_type::ECHO_REPLY,
                };
                IcmpRepr::echo(t, ident, seq, payload.len()).emit(seg)?;
            }
            L4Spec::Raw(_) => {}
        }
        fill_l4_checksum(&self.ip, proto, seg);
        Ok(n)
    }
}

/// Writes Ethernet and VLAN tags; returns the L2 length.
fn write_l2(
    src: MacAddr,
    dst: MacAddr,
    vlan: Option<VlanRepr>,
    outer: Option<VlanRepr>,
    et: u16,
    buf: &mut [u8],
) -> Result<usize, BuildError> {
    let tags: &[(VlanRepr, u16)] = &match (outer, vlan) {
        (Some(o), Some(i)) => [(o, ethertype::VLAN), (i, et)],
        (_, Some(i)) => [(i, et), (i, et)],
        _ => [(VlanRepr::default(), et), (VlanRepr::default(), et)],
    };
    let (first_et, tags) = match (outer, vlan) {
        (Some(_), Some(_)) => (ethertype::QINQ, &tags[..2]),
        (_, Some(_)) => (ethertype::VLAN, &tags[..1]),
        _ => (et, &tags[..0]),
    };
    let mut off = EthernetRepr {
        src,
        dst,
        ethertype: first_et,
    }
    .emit(buf)?;
    for (t, next) in tags {
        off += t.emit(*next, &mut buf[off..])?;
    }
    Ok(off)
}

/// Writes the IP header for an L4 segment of `l4_len` bytes; returns the header length.
fn write_ip(ip: &IpSpec, proto: u8, l4_len: usize, buf: &mut [u8]) -> Result<usize, BuildError> {
    match *ip {
        IpSpec::V4(r) => Ipv4Repr {
            protocol: proto,
            payload_len: l4_len,
            ..r
        }
        .emit(buf),
        IpSpec::V6(r) => Ipv6Repr {
            next_header: proto,
            payload_len: l4_len,
            ..r
        }
        .emit(buf),
    }
}

/// Computes the L4 checksum of `seg` (whose checksum field is zero) for the protocols that
/// carry one.
fn fill_l4_checksum(ip: &IpSpec, proto: u8, seg: &mut [u8]) {
    let field = match proto {
        protocol::UDP => 6,
        protocol::TCP => 16,
        protocol::ICMP | protocol::ICMPV6 => 2,
        _ => return,
    };
    let c = match (*ip, proto) {
        (IpSpec::V4(_), protocol::ICMP) => checksum::checksum(seg),
        (IpSpec::V4(r), _) => checksum::upper_layer_v4(r.src, r.dst, proto, seg),
        (IpSpec::V6(r), _) => checksum::upper_layer_v6(r.src, r.dst, proto, seg),
    };
    let c = if proto == protocol::UDP && c == 0 {
        0xffff
    } else {
        c
    };
    seg[field..field + 2].copy_from_slice(&c.to_be_bytes());
}

/// The outer layers of a VXLAN frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VxlanSpec {
    /// Outer source MAC.
    pub src_mac: MacAddr,
    /// Outer destination MAC.
    pub dst_mac: MacAddr,
    /// Outer 802.1Q tag.
    pub vlan: Option<VlanRepr>,
    /// Outer IP (VTEP addresses).
    pub ip: IpSpec,
    /// Outer UDP source port (usually a hash of the inner flow, for ECMP).
    pub src_port: u16,
    /// Outer UDP destination port ([`VXLAN_PORT`] normally).
    pub dst_port: u16,
    /// VXLAN network identifier.
    pub vni: u32,
    /// Compute the outer UDP checksum over IPv4 (RFC 7348 recommends 0). Always computed over
    /// IPv6.
    pub udp_checksum: bool,
}

impl VxlanSpec {
    /// Defaults: no VLAN, destination port 4789, no IPv4 UDP checksum.
    pub fn new(src_mac: MacAddr, dst_mac: MacAddr, ip: IpSpec, src_port: u16, vni: u32) -> Self {
        VxlanSpec {
            src_mac,
            dst_mac,
            vlan: None,
            ip,
            src_port,
            dst_port: VXLAN_PORT,
            vni,
            udp_checksum: false,
        }
    }

    /// Bytes of outer headers (Ethernet [+VLAN], IP, UDP, VXLAN).
    pub fn overhead(&self) -> usize {
        ETHERNET_HEADER_LEN
            + if self.vlan.is_some() {
                VLAN_HEADER_LEN
            } else {
                0
            }
            + self.ip.header_len()
            + UDP_HEADER_LEN
            + VXLAN_HEADER_LEN
    }

    /// Writes the VXLAN frame around the inner frame `inner` + `payload` into `buf`.
    pub fn build(
        &self,
        inner: &FrameSpec,
        payload: &[u8],
        buf: &mut [u8],
    ) -> Result<usize, BuildError> {
        let oh = self.overhead();
        let n = oh + inner.frame_len(payload.len());
        if buf.len() < n {
            return Err(too_small(n, buf.len()));
        }
        let buf = &mut buf[..n];
        inner.build(payload, &mut buf[oh..])?;
        let l3 = write_l2(
            self.src_mac,
            self.dst_mac,
            self.vlan,
            None,
            self.ip.ethertype(),
            buf,
        )?;
        let udp_len = n - oh + UDP_HEADER_LEN + VXLAN_HEADER_LEN;
        let l4 = l3 + write_ip(&self.ip, protocol::UDP, udp_len, &mut buf[l3..])?;
        let seg = &mut buf[l4..];
        UdpRepr {
            src_port: self.src_port,
            dst_port: self.dst_port,
            payload_len: udp_len - UDP_HEADER_LEN,
        }
        .emit(seg)?;
        VxlanRepr { vni: self.vni }.emit(&mut seg[UDP_HEADER_LEN..])?;
        if self.udp_checksum || matches!(self.ip, IpSpec::V6(_)) {
            fill_l4_checksum(&self.ip, protocol::UDP, seg);
        }
        Ok(n)
    }
}

/// One checksum in a template: the field's offset and the span of frame bytes it covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct ChecksumSite {
    field: usize,
    start: usize,
    end: usize,
    /// UDP: zero means "no checksum" and a computed zero is sent as 0xffff.
    udp: bool,
}

/// A built frame kept for re-sending with a few bytes changed (see the module docs).
#[derive(Debug, Clone)]
pub struct FrameTemplate {
    frame: Vec<u8>,
    info: PacketInfo,
    sites: [ChecksumSite; 4],
    nsites: usize,
}

impl FrameTemplate {
    /// Builds `spec` with `payload` into a new template (allocates once, at set-up time).
    pub fn new(spec: &FrameSpec, payload: &[u8]) -> Result<Self, BuildError> {
        let mut v = vec![0u8; spec.frame_len(payload.len())];
        spec.build(payload, &mut v)?;
        Self::from_frame(v).map_err(|_| BuildError::LengthOverflow {
            layer: Layer::Ethernet,
            len: spec.frame_len(payload.len()),
        })
    }

    /// Builds a VXLAN frame into a new template.
    pub fn new_vxlan(
        outer: &VxlanSpec,
        inner: &FrameSpec,
        payload: &[u8],
    ) -> Result<Self, BuildError> {
        let n = outer.overhead() + inner.frame_len(payload.len());
        let mut v = vec![0u8; n];
        outer.build(inner, payload, &mut v)?;
        Self::from_frame(v).map_err(|_| BuildError::LengthOverflow {
            layer: Layer::Vxlan,
            len: n,
        })
    }

    /// Wraps an existing frame, locating its checksums with [`ptype::parse`].
    pub fn from_frame(frame: Vec<u8>) -> Result<Self, ParseError> {
        let info = ptype::parse(&frame)?;
        let mut t = FrameTemplate {
            frame,
            info,
            sites: [ChecksumSite::default(); 4],
            nsites: 0,
        };
        let outer_l3 = info.l3_offset();
        let outer_end = t.ip_end(outer_l3);
        t.add_sites(info.ptype, outer_l3, info.l3_len as usize, outer_end);
        if info.is_tunnel() && info.inner_l3_len != 0 {
            let l3 = info.inner_l3_offset();
            let inner_bits = info.ptype >> 16;
            // Inner L3/L4 values sit 16 bits up; map INNER_L3 back to the outer encoding.
            let l3_bits = match info.ptype & pt::INNER_L3_MASK {
                pt::INNER_L3_IPV4 => pt::L3_IPV4,
                pt::INNER_L3_IPV4_EXT => pt::L3_IPV4_EXT,
                pt::INNER_L3_IPV6 => pt::L3_IPV6,
                _ => pt::L3_IPV6_EXT,
            };
            let end = t.ip_end(l3);
            t.add_sites(
                l3_bits | (inner_bits & pt::L4_MASK),
                l3,
                info.inner_l3_len as usize,
                end,
            );
        }
        Ok(t)
    }

    /// End of the IP datagram starting at `l3` (the frame end if there is no IP header there;
    /// never past the frame).
    fn ip_end(&self, l3: usize) -> usize {
        let f = &self.frame;
        let end = match f.get(l3..l3 + 6) {
            Some(h) if h[0] >> 4 == 4 => l3 + u16::from_be_bytes([h[2], h[3]]) as usize,
            Some(h) if h[0] >> 4 == 6 => {
                l3 + IPV6_HEADER_LEN + u16::from_be_bytes([h[4], h[5]]) as usize
            }
            _ => f.len(),
        };
        end.min(f.len())
    }

    fn add_sites(&mut self, bits: u32, l3: usize, l3_len: usize, end: usize) {
        let v4 = matches!(bits & pt::L3_MASK, pt::L3_IPV4 | pt::L3_IPV4_EXT);
        if v4 {
            self.push(ChecksumSite {
                field: l3 + 10,
                start: l3,
                end: l3 + l3_len,
                udp: false,
            });
        }
        let l4 = l3 + l3_len;
        let site = match bits & pt::L4_MASK {
            pt::L4_UDP => Some((l4 + 6, true)),
            pt::L4_TCP => Some((l4 + 16, false)),
            pt::L4_ICMP => Some((l4 + 2, false)),
            _ => None,
        };
        if let Some((field, udp)) = site {
            // A zero UDP checksum (e.g. outer VXLAN over IPv4) stays zero when stamped.
            self.push(ChecksumSite {
                field,
                start: l4,
                end,
                udp,
            });
        }
    }

    fn push(&mut self, s: ChecksumSite) {
        if self.nsites < self.sites.len() {
            self.sites[self.nsites] = s;
            self.nsites += 1;
        }
    }

    /// The template frame.
    pub fn frame(&self) -> &[u8] {
        &self.frame
    }
    /// Length of the frame.
    pub fn len(&self) -> usize {
        self.frame.len()
    }
    /// `true` for an empty frame (never for a built one).
    pub fn is_empty(&self) -> bool {
        self.frame.is_empty()
    }
    /// Classification of the template frame.
    pub fn info(&self) -> &PacketInfo {
        &self.info
    }
    /// Offset of the innermost payload (where a generator puts its sequence number/timestamp).
    pub fn payload_offset(&self) -> usize {
        self.info.payload_offset()
    }

    /// Copies the template into `buf`; returns the frame length.
    #[inline]
    pub fn write(&self, buf: &mut [u8]) -> Result<usize, BuildError> {
        let n = self.frame.len();
        let avail = buf.len();
        let dst = buf.get_mut(..n).ok_or(too_small(n, avail))?;
        dst.copy_from_slice(&self.frame);
        Ok(n)
    }

    /// Copies the template into `buf` with `bytes` at frame offset `at`, checksums fixed up.
    #[inline]
    pub fn write_with(&self, buf: &mut [u8], at: usize, bytes: &[u8]) -> Result<usize, BuildError> {
        let n = self.write(buf)?;
        self.stamp(&mut buf[..n], at, bytes)?;
        Ok(n)
    }

    /// Overwrites `bytes` at offset `at` of `frame` (a frame written from this template, maybe
    /// stamped before) and updates every checksum covering those bytes incrementally. Bytes
    /// that are themselves a checksum field must not be stamped.
    #[inline]
    pub fn stamp(&self, frame: &mut [u8], at: usize, bytes: &[u8]) -> Result<(), BuildError> {
        let end = at + bytes.len();
        if frame.len() < self.frame.len() || end > self.frame.len() {
            return Err(too_small(end.max(self.frame.len()), frame.len()));
        }
        let mut old = [0u8; 64];
        let mut done = 0;
        // Process in chunks of up to 64 bytes (no allocation); chunks keep parity bookkeeping.
        while done < bytes.len() {
            let k = (bytes.len() - done).min(old.len());
            let (a, new) = (at + done, &bytes[done..done + k]);
            old[..k].copy_from_slice(&frame[a..a + k]);
            frame[a..a + k].copy_from_slice(new);
            // Innermost first: a changed inner checksum is itself covered by outer ones.
            for i in (0..self.nsites).rev() {
                let s = self.sites[i];
                if a >= s.start && a + k <= s.end {
                    let c = [frame[s.field], frame[s.field + 1]];
                    let nc = site_update(&s, c, &old[..k], new, a);
                    if nc != c {
                        frame[s.field..s.field + 2].copy_from_slice(&nc);
                        for o in &self.sites[..i] {
                            if s.field >= o.start && s.field + 2 <= o.end {
                                let oc = [frame[o.field], frame[o.field + 1]];
                                let onc = site_update(o, oc, &c, &nc, s.field);
                                frame[o.field..o.field + 2].copy_from_slice(&onc);
                            }
                        }
                    }
                }
            }
            done += k;
        }
        Ok(())
    }
}

/// New checksum bytes of `site` after `old` bytes at frame offset `at` became `new`.
fn site_update(site: &ChecksumSite, c: [u8; 2], old: &[u8], new: &[u8], at: usize) -> [u8; 2] {
    let c = u16::from_be_bytes(c);
    if site.udp && c == 0 {
        return [0, 0];
    }
    let mut nc = checksum::update_bytes(c, old, new, (at - site.start) % 2 == 1);
    if site.udp && nc == 0 {
        nc = 0xffff;
    }
    nc.to_be_bytes()
}

/// Convenience: the IPv4 header of a default UDP frame's IP layer.
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr) -> IpSpec {
    IpSpec::V4(Ipv4Repr::new(src, dst, 0, 0))
}

/// Convenience: the IPv6 header of a default frame's IP layer.
pub fn ipv6(src: Ipv6Addr, dst: Ipv6Addr) -> IpSpec {
    IpSpec::V6(Ipv6Repr::new(src, dst, 0, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipv4::Ipv4Packet;
    use crate::ipv6::Ipv6Packet;
    use crate::options::HeaderOptions;
    use crate::tcp::{TcpPacket, flags};
    use crate::udp::UdpPacket;

    fn mac(n: u8) -> MacAddr {
        MacAddr([2, 0, 0, 0, 0, n])
    }

    fn udp4() -> FrameSpec {
        FrameSpec::udp(
            mac(1),
            mac(2),
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            1024,
            9,
        )
        .unwrap()
    }

    #[test]
    fn udp_ipv4_minimal_frame() {
        let mut buf = [0u8; 128];
        let n = udp4().build(&[0u8; 18], &mut buf).unwrap();
        assert_eq!(n, 60);
        let info = ptype::parse(&buf[..n]).unwrap();
        assert_eq!(info.ptype, pt::L2_ETHER | pt::L3_IPV4 | pt::L4_UDP);
        let ip = Ipv4Packet::new_checked(&buf[14..n]).unwrap();
        assert!(ip.verify_checksum());
        let u = UdpPacket::new_checked(ip.payload()).unwrap();
        assert!(u.verify_checksum_v4(ip.src_addr(), ip.dst_addr()));
        assert_ne!(u.checksum(), 0);
        assert_eq!(
            udp4().build(&[0u8; 18], &mut buf[..59]),
            Err(BuildError::BufferTooSmall {
                needed: 60,
                available: 59
            })
        );
    }

    #[test]
    fn tcp_ipv6_qinq_frame() {
        let spec = FrameSpec {
            vlan: Some(VlanRepr {
                pcp: 3,
                dei: false,
                vid: 100,
            }),
            outer_vlan: Some(VlanRepr {
                pcp: 0,
                dei: true,
                vid: 20,
            }),
            ip: ipv6(
                "2001:db8::1".parse().unwrap(),
                "2001:db8::2".parse().unwrap(),
            ),
            l4: L4Spec::Tcp(TcpRepr {
                src_port: 1,
                dst_port: 2,
                seq: 3,
                ack: 4,
                flags: flags::ACK | flags::PSH,
                window: 5,
                urgent: 0,
                options: HeaderOptions::new(&[1, 1, 1, 1]).unwrap(),
                payload_len: 0,
            }),
            ..udp4()
        };
        let mut buf = [0u8; 256];
        let n = spec.build(b"data", &mut buf).unwrap();
        let info = ptype::parse(&buf[..n]).unwrap();
        assert_eq!(info.ptype, pt::L2_ETHER_QINQ | pt::L3_IPV6 | pt::L4_TCP);
        assert_eq!((info.l2_len, info.l3_len, info.l4_len), (22, 40, 24));
        assert_eq!((info.vlan_tci, info.outer_vlan_tci), (0x6064, 0x1014));
        let ip = Ipv6Packet::new_checked(&buf[22..n]).unwrap();
        let t = TcpPacket::new_checked(ip.payload()).unwrap();
        assert!(t.verify_checksum_v6(ip.src_addr(), ip.dst_addr()));
        assert_eq!(t.payload(), b"data");
    }

    #[test]
    fn vxlan_frame_and_template_stamp() {
        let outer = VxlanSpec {
            udp_checksum: true,
            ..VxlanSpec::new(
                mac(9),
                mac(8),
                ipv4("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap()),
                55555,
                42,
            )
        };
        let inner = FrameSpec {
            l4: L4Spec::IcmpEcho {
                request: true,
                ident: 7,
                seq: 0,
            },
            ..udp4()
        };
        let t = FrameTemplate::new_vxlan(&outer, &inner, &[0u8; 32]).unwrap();
        let info = *t.info();
        assert_eq!(
            info.ptype,
            pt::L2_ETHER
                | pt::L3_IPV4
                | pt::L4_UDP
                | pt::TUNNEL_VXLAN
                | pt::INNER_L2_ETHER
                | pt::INNER_L3_IPV4
                | pt::INNER_L4_ICMP
        );
        assert_eq!(t.nsites, 4);
        let mut buf = [0u8; 256];
        for seq in [1u64, 0xffff_ffff_ffff, u64::MAX, 0] {
            let n = t
                .write_with(&mut buf, t.payload_offset() + 1, &seq.to_be_bytes())
                .unwrap();
            let mut fresh = [0u8; 256];
            let mut payload = [0u8; 32];
            payload[1..9].copy_from_slice(&seq.to_be_bytes());
            let m = outer.build(&inner, &payload, &mut fresh).unwrap();
            assert_eq!(&buf[..n], &fresh[..m], "seq {seq:#x}");
        }
        // In-place stamping of the ICMP sequence number (a header field at an even offset).
        let n = t.write(&mut buf).unwrap();
        t.stamp(
            &mut buf[..n],
            info.inner_l4_offset() + 6,
            &77u16.to_be_bytes(),
        )
        .unwrap();
        let mut fresh = [0u8; 256];
        let inner77 = FrameSpec {
            l4: L4Spec::IcmpEcho {
                request: true,
                ident: 7,
                seq: 77,
            },
            ..inner
        };
        let m = outer.build(&inner77, &[0u8; 32], &mut fresh).unwrap();
        assert_eq!(&buf[..n], &fresh[..m]);
        assert!(t.stamp(&mut buf[..n], n - 2, &[1, 2, 3]).is_err());
    }

    #[test]
    fn template_of_non_ip_frames() {
        // Found by the fuzzer: an 18-byte non-IP frame whose payload starts with nibble 4.
        let mut f = vec![0u8; 18];
        f[12..14].copy_from_slice(&[0x88, 0xb5]);
        f[14] = 0x45;
        let t = FrameTemplate::from_frame(f.clone()).unwrap();
        assert_eq!(t.nsites, 0);
        let mut buf = [0u8; 18];
        t.write_with(&mut buf, 16, &[1, 2]).unwrap();
        assert_eq!(&buf[16..], &[1, 2]);
        // ARP frames too.
        f[12..14].copy_from_slice(&[0x08, 0x06]);
        assert!(FrameTemplate::from_frame(f).is_ok());
    }
}
