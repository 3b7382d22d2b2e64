//! Writes the frames of a [`Traffic`] model into buffers, one per call, with varying addresses
//! and ports and the measurement stamp (see [`crate::payload`]).
//!
//! One [`FrameTemplate`] per frame size is built at set-up; per packet the template is copied
//! and a few bytes are stamped with [`FrameTemplate::stamp`], which fixes the IPv4 header and
//! L4 checksums incrementally. Changed addresses are also in the L4 pseudo-header, which the
//! template does not cover, so that checksum gets one more RFC 1624 update here.

use std::net::IpAddr;

use ferroplane_net::builder::{FrameSpec, FrameTemplate, IpSpec, L4Spec};
use ferroplane_net::checksum;
use ferroplane_net::ethernet::VlanRepr;
use ferroplane_net::ipv4::Ipv4Repr;
use ferroplane_net::ipv6::Ipv6Repr;
use ferroplane_net::options::HeaderOptions;
use ferroplane_net::tcp::{TcpRepr, flags};

use crate::error::PktgenError;
use crate::payload::{self, SIG_LEN, SIGNATURE};
use crate::traffic::{FCS_LEN, Order, Proto, Range, Traffic};

/// xorshift64*: a small, fast generator for random field values (not cryptographic).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator (a zero seed is replaced).
    pub fn new(seed: u64) -> Self {
        Rng(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }
    /// Next value.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// One field that moves through a range.
#[derive(Debug, Clone)]
struct Field {
    start: u128,
    count: u128,
    order: Order,
    next: u128,
    /// Offset of the field in the frame (from the L3 header for addresses, L4 for ports).
    off: usize,
    /// Width in bytes: 2 (port), 4 (IPv4) or 16 (IPv6).
    width: usize,
    /// Whether the field is in the L4 pseudo-header (addresses).
    pseudo: bool,
}

impl Field {
    fn new<T>(r: &Range<T>, start: u128, off: usize, width: usize, pseudo: bool) -> Option<Self> {
        (r.count > 1).then_some(Field {
            start,
            count: r.count,
            order: r.order,
            next: 0,
            off,
            width,
            pseudo,
        })
    }
    #[inline]
    fn value(&mut self, rng: &mut Rng) -> u128 {
        let i = match self.order {
            Order::Inc => {
                let i = self.next;
                self.next = if i + 1 >= self.count { 0 } else { i + 1 };
                i
            }
            Order::Random => {
                let r = ((rng.next_u64() as u128) << 64) | rng.next_u64() as u128;
                r % self.count
            }
        };
        self.start.wrapping_add(i)
    }
}

/// Writes generated frames. Owned by one TX core (`Send`, used through `&mut`).
#[derive(Debug, Clone)]
pub struct FrameFactory {
    templates: Vec<FrameTemplate>,
    /// Index into `templates` per packet of the size pattern.
    pattern: Vec<usize>,
    pos: usize,
    fields: Vec<Field>,
    rng: Rng,
    l3: usize,
    /// L4 checksum field offset and whether it is UDP's.
    l4_csum: usize,
    udp: bool,
    payload_off: usize,
    /// Payload offset of each template if it carries a stamp (pcap frames may not).
    stamp_at: Vec<Option<usize>>,
}

fn ip_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u32::from(v) as u128,
        IpAddr::V6(v) => u128::from(v),
    }
}

impl FrameFactory {
    /// Builds the templates of `t` (one per distinct size). `seed` seeds random fields.
    pub fn new(t: &Traffic, seed: u64) -> Result<Self, PktgenError> {
        let v4 = t.src_ip.start.is_ipv4();
        let ip = match (t.src_ip.start, t.dst_ip.start) {
            (IpAddr::V4(s), IpAddr::V4(d)) => IpSpec::V4(Ipv4Repr::new(s, d, 0, 0)),
            (IpAddr::V6(s), IpAddr::V6(d)) => IpSpec::V6(Ipv6Repr::new(s, d, 0, 0)),
            _ => return Err(PktgenError::Config("mixed address families".into())),
        };
        let l4 = match t.proto {
            Proto::Udp => L4Spec::Udp {
                src_port: t.src_port.start,
                dst_port: t.dst_port.start,
            },
            Proto::Tcp => L4Spec::Tcp(TcpRepr {
                src_port: t.src_port.start,
                dst_port: t.dst_port.start,
                seq: 1,
                ack: 1,
                flags: flags::ACK,
                window: 65535,
                urgent: 0,
                options: HeaderOptions::EMPTY,
                payload_len: 0,
            }),
        };
        let spec = FrameSpec {
            src_mac: t.src_mac,
            dst_mac: t.dst_mac,
            vlan: t.vlan.map(|vid| VlanRepr {
                pcp: 0,
                dei: false,
                vid,
            }),
            outer_vlan: None,
            ip,
            l4,
        };
        let hdr = spec.frame_len(0);
        let mut sizes: Vec<u16> = t.sizes.clone();
        sizes.sort_unstable();
        sizes.dedup();
        let mut templates = Vec::with_capacity(sizes.len());
        for &s in &sizes {
            let len = s as usize - FCS_LEN;
            let plen = len
                .checked_sub(hdr)
                .filter(|&p| p >= SIG_LEN)
                .ok_or_else(|| {
                    PktgenError::Config(format!("frame size {s} too small for the headers"))
                })?;
            let mut payload = vec![0u8; plen];
            payload[..2].copy_from_slice(&SIGNATURE);
            // A recognisable fill after the stamp.
            for (i, b) in payload[SIG_LEN..].iter_mut().enumerate() {
                *b = i as u8;
            }
            templates.push(FrameTemplate::new(&spec, &payload)?);
        }
        let pattern = t
            .sizes
            .iter()
            .map(|s| sizes.binary_search(s).unwrap_or(0))
            .collect();
        let info = *templates[0].info();
        let (l3, l4o) = (info.l3_offset(), info.l4_offset());
        let (sa, da, aw) = if v4 { (12, 16, 4) } else { (8, 24, 16) };
        let fields = [
            Field::new(&t.src_ip, ip_u128(t.src_ip.start), l3 + sa, aw, true),
            Field::new(&t.dst_ip, ip_u128(t.dst_ip.start), l3 + da, aw, true),
            Field::new(&t.src_port, t.src_port.start as u128, l4o, 2, false),
            Field::new(&t.dst_port, t.dst_port.start as u128, l4o + 2, 2, false),
        ]
        .into_iter()
        .flatten()
        .collect();
        let udp = t.proto == Proto::Udp;
        Ok(FrameFactory {
            payload_off: templates[0].payload_offset(),
            stamp_at: templates.iter().map(|t| Some(t.payload_offset())).collect(),
            templates,
            pattern,
            pos: 0,
            fields,
            rng: Rng::new(seed),
            l3,
            l4_csum: l4o + if udp { 6 } else { 16 },
            udp,
        })
    }

    /// Replays the frames of a pcap file (up to `max_frames`, in file order, cycling). Frames
    /// that are IPv4/IPv6 UDP or TCP with room for the 18-byte stamp get it (overwriting the
    /// start of their payload, checksums fixed); others are sent unchanged and not measured.
    pub fn from_pcap(path: &std::path::Path, max_frames: usize) -> Result<Self, PktgenError> {
        use ferroplane_pmd::pcap_file::PcapReader;
        let file = std::fs::File::open(path).map_err(|e| PktgenError::io(path.display(), e))?;
        let bad = |e: &dyn std::fmt::Display| {
            PktgenError::Config(format!("pcap {}: {e}", path.display()))
        };
        let mut rd = PcapReader::new(std::io::BufReader::new(file)).map_err(|e| bad(&e))?;
        let mut templates = Vec::new();
        let mut stamp_at = Vec::new();
        while templates.len() < max_frames {
            let Some((_, frame)) = rd.next_record().map_err(|e| bad(&e))? else {
                break;
            };
            if frame.len() < 14 {
                continue;
            }
            let info = ferroplane_net::parse(&frame).ok();
            let l4 = info.map(|i| i.l4_proto);
            let off = info.map(|i| i.payload_offset()).filter(|&o| {
                matches!(l4, Some(6 | 17))
                    && o + SIG_LEN <= frame.len()
                    && !info.is_some_and(|i| i.is_tunnel())
            });
            let mut frame = frame;
            let t = match off {
                Some(o) => {
                    // Put the signature in through a template so the checksums follow.
                    let plain = FrameTemplate::from_frame(frame.clone()).map_err(|e| bad(&e))?;
                    plain.stamp(&mut frame, o, &SIGNATURE)?;
                    FrameTemplate::from_frame(frame).map_err(|e| bad(&e))?
                }
                None => match FrameTemplate::from_frame(frame) {
                    Ok(t) => t,
                    Err(e) => {
                        log::warn!(
                            "pcap {}: skipping a frame that does not parse: {e}",
                            path.display()
                        );
                        continue;
                    }
                },
            };
            stamp_at.push(off);
            templates.push(t);
        }
        if templates.is_empty() {
            return Err(bad(&"no Ethernet frames"));
        }
        Ok(FrameFactory {
            pattern: (0..templates.len()).collect(),
            payload_off: stamp_at[0].unwrap_or(0),
            stamp_at,
            templates,
            pos: 0,
            fields: Vec::new(),
            rng: Rng::new(1),
            l3: 14,
            l4_csum: 0,
            udp: false,
        })
    }

    /// Length of the next frame [`FrameFactory::write`] will produce.
    #[inline]
    pub fn next_len(&self) -> usize {
        self.templates[self.pattern[self.pos]].len()
    }

    /// Length of the longest frame.
    pub fn max_len(&self) -> usize {
        self.templates
            .iter()
            .map(FrameTemplate::len)
            .max()
            .unwrap_or(0)
    }

    /// Offset of the payload (where the stamp goes).
    pub fn payload_offset(&self) -> usize {
        self.payload_off
    }

    /// Offset of the L4 checksum and whether it is UDP's (`None` for pcap replay).
    pub fn l4_checksum(&self) -> Option<(usize, bool)> {
        (self.l4_csum != 0).then_some((self.l4_csum, self.udp))
    }

    /// Offset of the L3 header.
    pub fn l3_offset(&self) -> usize {
        self.l3
    }

    /// Writes the next frame into `buf` (at least [`FrameFactory::next_len`] bytes) with
    /// `stream`/`seq`/`tsc` stamped; returns its length.
    #[inline]
    pub fn write(
        &mut self,
        buf: &mut [u8],
        stream: u16,
        seq: u64,
        tsc: u64,
    ) -> Result<usize, PktgenError> {
        let idx = self.pattern[self.pos];
        let t = &self.templates[idx];
        self.pos += 1;
        if self.pos == self.pattern.len() {
            self.pos = 0;
        }
        let n = t.write(buf)?;
        let frame = &mut buf[..n];
        for f in &mut self.fields {
            let v = f.value(&mut self.rng).to_be_bytes();
            let new = &v[16 - f.width..];
            let mut old = [0u8; 16];
            old[..f.width].copy_from_slice(&frame[f.off..f.off + f.width]);
            t.stamp(frame, f.off, new)?;
            if f.pseudo {
                let c = u16::from_be_bytes([frame[self.l4_csum], frame[self.l4_csum + 1]]);
                if !(self.udp && c == 0) {
                    let mut nc = checksum::update_bytes(c, &old[..f.width], new, false);
                    if self.udp && nc == 0 {
                        nc = 0xffff;
                    }
                    frame[self.l4_csum..self.l4_csum + 2].copy_from_slice(&nc.to_be_bytes());
                }
            }
        }
        if let Some(off) = self.stamp_at[idx] {
            t.stamp(frame, off + 2, &payload::encode(stream, seq, tsc))?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::TrafficConfig;
    use etherparse::{NetSlice, SlicedPacket, TransportSlice};

    fn check(frame: &[u8]) -> (IpAddr, IpAddr, u16, u16) {
        let p = SlicedPacket::from_ethernet(frame).expect("parses");
        let (src, dst, pseudo_ok) = match p.net.as_ref().unwrap() {
            NetSlice::Ipv4(v4) => {
                let h = v4.header().to_header();
                assert_eq!(h.header_checksum, h.calc_header_checksum(), "ipv4 csum");
                (
                    IpAddr::V4(h.source.into()),
                    IpAddr::V4(h.destination.into()),
                    true,
                )
            }
            NetSlice::Ipv6(v6) => {
                let h = v6.header().to_header();
                (
                    IpAddr::V6(h.source.into()),
                    IpAddr::V6(h.destination.into()),
                    true,
                )
            }
            _ => panic!("no ip"),
        };
        assert!(pseudo_ok);
        let info = ferroplane_net::parse(frame).unwrap();
        let l4 = &frame[info.l4_offset()..];
        let (sp, dp) = match p.transport.as_ref().unwrap() {
            TransportSlice::Udp(u) => (u.source_port(), u.destination_port()),
            TransportSlice::Tcp(t) => (t.source_port(), t.destination_port()),
            _ => panic!("no l4"),
        };
        // Verify the L4 checksum over the pseudo-header from scratch.
        let proto = info.l4_proto;
        let sum = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => checksum::upper_layer_v4(s, d, proto, l4),
            (IpAddr::V6(s), IpAddr::V6(d)) => checksum::upper_layer_v6(s, d, proto, l4),
            _ => unreachable!(),
        };
        assert_eq!(sum, 0, "l4 checksum does not verify");
        (src, dst, sp, dp)
    }

    fn factory(cfg: TrafficConfig) -> FrameFactory {
        FrameFactory::new(&cfg.parse().unwrap(), 7).unwrap()
    }

    #[test]
    fn varied_v4_udp_frames_have_valid_checksums_and_stamps() {
        let mut f = factory(TrafficConfig {
            size: "64,128".parse().unwrap(),
            src_ip: "10.0.0.1-10.0.0.3".into(),
            dst_ip: "192.168.0.0~192.168.255.255".into(),
            src_port: "1000-1001".into(),
            dst_port: "1~65535".into(),
            ..Default::default()
        });
        let mut buf = [0u8; 2048];
        let mut srcs = std::collections::BTreeSet::new();
        let mut dsts = std::collections::BTreeSet::new();
        for seq in 0..300u64 {
            let n = f.write(&mut buf, 3, seq, 1000 + seq).unwrap();
            assert_eq!(n, if seq % 2 == 0 { 60 } else { 124 });
            let (s, d, sp, _) = check(&buf[..n]);
            assert_eq!(s, IpAddr::V4([10, 0, 0, 1 + (seq % 3) as u8].into()));
            assert_eq!(sp, 1000 + (seq % 2) as u16);
            srcs.insert(s);
            dsts.insert(d);
            let st = payload::decode(&buf[..n]).unwrap();
            assert_eq!((st.stream, st.seq, st.tsc), (3, seq, 1000 + seq));
        }
        assert_eq!(srcs.len(), 3);
        assert!(dsts.len() > 250, "random destinations: {}", dsts.len());
    }

    #[test]
    fn v6_tcp_vlan_imix_frames_verify() {
        let mut f = factory(TrafficConfig {
            size: "imix".parse().unwrap(),
            proto: Proto::Tcp,
            vlan: Some(100),
            src_ip: "2001:db8::1-2001:db8::ffff".into(),
            dst_ip: "2001:db8:1::1~2001:db8:1::ff".into(),
            ..Default::default()
        });
        let mut buf = [0u8; 2048];
        for seq in 0..48u64 {
            let n = f.write(&mut buf, 0, seq, 5).unwrap();
            check(&buf[..n]);
            assert_eq!(payload::decode(&buf[..n]).unwrap().seq, seq);
        }
    }

    #[test]
    fn small_buffer_is_an_error() {
        let mut f = factory(TrafficConfig::default());
        let mut buf = [0u8; 20];
        assert!(f.write(&mut buf, 0, 0, 0).is_err());
    }
}
