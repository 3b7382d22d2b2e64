//! What to send: the traffic model shared by the command line and TOML files.
//!
//! A [`TrafficConfig`] names frame sizes (fixed, a list sent round-robin, or IMIX), the L2/L3/L4
//! headers, and value ranges for source/destination addresses and ports. A range written
//! `a-b` steps through `a..=b` one packet at a time; `a~b` draws a pseudo-random value from it
//! for each packet (so RSS, LPM and ACL see many flows). Frame sizes count the 4-byte FCS, as
//! RFC 2544 and pktgen-dpdk do: a "64-byte" frame is 60 bytes in the buffer.
//!
//! Every generated frame carries an 18-byte [`signature`](crate::payload) in its payload, so
//! the smallest frame is the headers plus 18 bytes plus FCS; smaller sizes are raised to that.

use std::net::IpAddr;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::PktgenError;

/// Bytes of Ethernet FCS counted in a frame size but not present in the buffer.
pub const FCS_LEN: usize = 4;
/// Preamble, start delimiter and inter-frame gap: bytes a frame costs on the wire beyond its size.
pub const L1_OVERHEAD: usize = 20;

/// IMIX: 7 x 64, 4 x 570, 1 x 1518 bytes, interleaved so that every 12 frames hold the mix.
pub const IMIX_PATTERN: [u16; 12] = [64, 570, 64, 64, 570, 64, 1518, 64, 570, 64, 570, 64];

/// Frame sizes to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum FrameSizes {
    /// One size.
    Fixed(u16),
    /// Sizes sent round-robin.
    List(Vec<u16>),
    /// The simple IMIX (7:4:1 of 64, 570 and 1518 bytes).
    Imix,
}

impl FrameSizes {
    /// The per-packet size sequence (cycled by the generator).
    pub fn pattern(&self) -> Vec<u16> {
        match self {
            FrameSizes::Fixed(s) => vec![*s],
            FrameSizes::List(v) => v.clone(),
            FrameSizes::Imix => IMIX_PATTERN.to_vec(),
        }
    }
    /// Mean frame size (with FCS) over one pattern cycle.
    pub fn mean(&self) -> f64 {
        let p = self.pattern();
        p.iter().map(|&s| s as f64).sum::<f64>() / p.len().max(1) as f64
    }
}

impl FromStr for FrameSizes {
    type Err = PktgenError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            PktgenError::Config(format!(
                "frame size {s:?}: expected a size in 60..=9018, a comma list, or \"imix\""
            ))
        };
        let t = s.trim();
        if t.eq_ignore_ascii_case("imix") {
            return Ok(FrameSizes::Imix);
        }
        let mut v = Vec::new();
        for part in t.split(',') {
            let n: u16 = part.trim().parse().map_err(|_| bad())?;
            if !(60..=9018).contains(&n) {
                return Err(bad());
            }
            v.push(n);
        }
        match v.len() {
            0 => Err(bad()),
            1 => Ok(FrameSizes::Fixed(v[0])),
            _ => Ok(FrameSizes::List(v)),
        }
    }
}

impl TryFrom<String> for FrameSizes {
    type Error = PktgenError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<FrameSizes> for String {
    fn from(f: FrameSizes) -> String {
        match f {
            FrameSizes::Fixed(s) => s.to_string(),
            FrameSizes::List(v) => v.iter().map(u16::to_string).collect::<Vec<_>>().join(","),
            FrameSizes::Imix => "imix".into(),
        }
    }
}

/// How a varied field moves through its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    /// One step per packet, wrapping at the end.
    Inc,
    /// A pseudo-random value per packet.
    Random,
}

/// A range of values (`a`, `a-b` incrementing, `a~b` random), `start + 0..count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range<T> {
    /// First value.
    pub start: T,
    /// Number of values (at least 1).
    pub count: u128,
    /// Order of the values.
    pub order: Order,
}

fn split_range(s: &str) -> (&str, Option<&str>, Order) {
    if let Some((a, b)) = s.split_once('~') {
        (a.trim(), Some(b.trim()), Order::Random)
    } else if let Some((a, b)) = s.split_once('-') {
        (a.trim(), Some(b.trim()), Order::Inc)
    } else {
        (s.trim(), None, Order::Inc)
    }
}

fn ip_to_u128(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v) => u32::from(v) as u128,
        IpAddr::V6(v) => u128::from(v),
    }
}

impl FromStr for Range<IpAddr> {
    type Err = PktgenError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| PktgenError::Config(format!("address range {s:?}: {why}"));
        let (a, b, order) = split_range(s);
        let start: IpAddr = a.parse().map_err(|_| bad("not an IP address"))?;
        let count = match b {
            None => 1,
            Some(b) => {
                let end: IpAddr = b.parse().map_err(|_| bad("end is not an IP address"))?;
                if start.is_ipv4() != end.is_ipv4() {
                    return Err(bad("start and end are of different families"));
                }
                let (x, y) = (ip_to_u128(start), ip_to_u128(end));
                if y < x {
                    return Err(bad("end before start"));
                }
                (y - x).saturating_add(1)
            }
        };
        Ok(Range {
            start,
            count,
            order,
        })
    }
}

impl FromStr for Range<u16> {
    type Err = PktgenError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| PktgenError::Config(format!("port range {s:?}: {why}"));
        let (a, b, order) = split_range(s);
        let start: u16 = a.parse().map_err(|_| bad("not a port number"))?;
        let count = match b {
            None => 1,
            Some(b) => {
                let end: u16 = b.parse().map_err(|_| bad("end is not a port number"))?;
                if end < start {
                    return Err(bad("end before start"));
                }
                (end - start) as u128 + 1
            }
        };
        Ok(Range {
            start,
            count,
            order,
        })
    }
}

/// L4 protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// UDP.
    Udp,
    /// TCP (ACK segments).
    Tcp,
}

/// The traffic model (TOML table `[traffic]`; the same fields as the command line options).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrafficConfig {
    /// Frame sizes with FCS: `64`, `64,128,1518` or `imix`.
    pub size: FrameSizes,
    /// Source MAC.
    pub src_mac: String,
    /// Destination MAC.
    pub dst_mac: String,
    /// 802.1Q VLAN id, if tagged.
    pub vlan: Option<u16>,
    /// UDP or TCP.
    pub proto: Proto,
    /// Source addresses (IPv4 or IPv6, same family as `dst_ip`).
    pub src_ip: String,
    /// Destination addresses.
    pub dst_ip: String,
    /// Source ports.
    pub src_port: String,
    /// Destination ports.
    pub dst_port: String,
    /// Replay the frames of this pcap file instead of building them.
    pub pcap: Option<PathBuf>,
}

impl Default for TrafficConfig {
    fn default() -> Self {
        TrafficConfig {
            size: FrameSizes::Fixed(64),
            src_mac: "02:00:00:00:00:01".into(),
            dst_mac: "02:00:00:00:00:02".into(),
            vlan: None,
            proto: Proto::Udp,
            src_ip: "10.0.0.1".into(),
            dst_ip: "10.1.0.1".into(),
            src_port: "1024".into(),
            dst_port: "5001".into(),
            pcap: None,
        }
    }
}

/// A [`TrafficConfig`] checked and parsed.
#[derive(Debug, Clone)]
pub struct Traffic {
    /// Frame size pattern (FCS included), each at least [`Traffic::min_frame_size`].
    pub sizes: Vec<u16>,
    /// Source MAC.
    pub src_mac: ferroplane_net::MacAddr,
    /// Destination MAC.
    pub dst_mac: ferroplane_net::MacAddr,
    /// VLAN id.
    pub vlan: Option<u16>,
    /// L4 protocol.
    pub proto: Proto,
    /// Source addresses.
    pub src_ip: Range<IpAddr>,
    /// Destination addresses.
    pub dst_ip: Range<IpAddr>,
    /// Source ports.
    pub src_port: Range<u16>,
    /// Destination ports.
    pub dst_port: Range<u16>,
    /// Pcap file to replay.
    pub pcap: Option<PathBuf>,
}

impl TrafficConfig {
    /// Checks every field; the error names the bad value.
    pub fn parse(&self) -> Result<Traffic, PktgenError> {
        let mac = |what: &str, s: &str| {
            s.parse::<ferroplane_net::MacAddr>()
                .map_err(|e| PktgenError::Config(format!("{what}: {e}")))
        };
        let src_ip: Range<IpAddr> = self.src_ip.parse()?;
        let dst_ip: Range<IpAddr> = self.dst_ip.parse()?;
        if src_ip.start.is_ipv4() != dst_ip.start.is_ipv4() {
            return Err(PktgenError::Config(format!(
                "src_ip {:?} and dst_ip {:?} are of different families",
                self.src_ip, self.dst_ip
            )));
        }
        if let Some(v) = self.vlan
            && v > 4095
        {
            return Err(PktgenError::Config(format!("vlan {v}: must be 0..=4095")));
        }
        let mut t = Traffic {
            sizes: self.size.pattern(),
            src_mac: mac("src_mac", &self.src_mac)?,
            dst_mac: mac("dst_mac", &self.dst_mac)?,
            vlan: self.vlan,
            proto: self.proto,
            src_ip,
            dst_ip,
            src_port: self.src_port.parse()?,
            dst_port: self.dst_port.parse()?,
            pcap: self.pcap.clone(),
        };
        let min = t.min_frame_size();
        for s in &mut t.sizes {
            if (*s as usize) < min {
                log::warn!("frame size {s} raised to {min} (headers + pktgen signature + FCS)");
                *s = min as u16;
            }
        }
        Ok(t)
    }
}

impl Traffic {
    /// Bytes of headers before the payload.
    pub fn header_len(&self) -> usize {
        14 + if self.vlan.is_some() { 4 } else { 0 }
            + if self.src_ip.start.is_ipv4() { 20 } else { 40 }
            + match self.proto {
                Proto::Udp => 8,
                Proto::Tcp => 20,
            }
    }
    /// The smallest frame size (with FCS) that holds the headers and the signature.
    pub fn min_frame_size(&self) -> usize {
        (self.header_len() + crate::payload::SIG_LEN + FCS_LEN).max(64)
    }
    /// Mean frame size over the pattern (with FCS).
    pub fn mean_frame_size(&self) -> f64 {
        self.sizes.iter().map(|&s| s as f64).sum::<f64>() / self.sizes.len().max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_reject() {
        assert_eq!("64".parse::<FrameSizes>().unwrap(), FrameSizes::Fixed(64));
        assert_eq!(
            "64, 128,1518".parse::<FrameSizes>().unwrap(),
            FrameSizes::List(vec![64, 128, 1518])
        );
        assert_eq!("IMIX".parse::<FrameSizes>().unwrap(), FrameSizes::Imix);
        let e = "12".parse::<FrameSizes>().unwrap_err().to_string();
        assert!(e.contains("\"12\""), "{e}");
        assert!("64,x".parse::<FrameSizes>().is_err());
        let imix = FrameSizes::Imix.pattern();
        assert_eq!(imix.iter().filter(|&&s| s == 64).count(), 7);
        assert_eq!(imix.iter().filter(|&&s| s == 570).count(), 4);
        assert_eq!(imix.iter().filter(|&&s| s == 1518).count(), 1);
    }

    #[test]
    fn ranges_parse() {
        let r: Range<IpAddr> = "10.0.0.1-10.0.1.0".parse().unwrap();
        assert_eq!((r.count, r.order), (256, Order::Inc));
        let r: Range<IpAddr> = "2001:db8::1~2001:db8::ff".parse().unwrap();
        assert_eq!((r.count, r.order), (255, Order::Random));
        let r: Range<u16> = "1000-1003".parse().unwrap();
        assert_eq!((r.start, r.count), (1000, 4));
        assert!("10.0.0.5-10.0.0.1".parse::<Range<IpAddr>>().is_err());
        assert!("10.0.0.1-::1".parse::<Range<IpAddr>>().is_err());
        let e = "70000".parse::<Range<u16>>().unwrap_err().to_string();
        assert!(e.contains("70000"), "{e}");
    }

    #[test]
    fn toml_and_defaults_share_one_model() {
        let c: TrafficConfig = toml::from_str(
            "size = \"imix\"\nproto = \"tcp\"\nvlan = 7\nsrc_ip = \"10.0.0.1~10.0.0.9\"",
        )
        .unwrap();
        assert_eq!(c.size, FrameSizes::Imix);
        let t = c.parse().unwrap();
        assert_eq!(t.header_len(), 14 + 4 + 20 + 20);
        // 64-byte TCP+VLAN frames cannot hold the signature: raised.
        assert!(t.sizes.iter().all(|&s| s as usize >= t.min_frame_size()));
        assert!(toml::from_str::<TrafficConfig>("bogus = 1").is_err());
        let back = toml::to_string(&c).unwrap();
        assert_eq!(toml::from_str::<TrafficConfig>(&back).unwrap(), c);
        let bad = TrafficConfig {
            dst_ip: "::1".into(),
            ..TrafficConfig::default()
        };
        assert!(bad.parse().is_err());
    }
}
