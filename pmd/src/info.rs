//! What a port tells about itself: identity, MAC, MTU, link and capabilities.

use crate::port::PortConfig;
use std::fmt;
use std::str::FromStr;

/// An Ethernet MAC address.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    /// Whether the address is a unicast address (group bit clear) and not all zeros.
    pub fn is_valid_unicast(&self) -> bool {
        self.0[0] & 1 == 0 && self.0 != [0; 6]
    }

    /// A locally administered unicast address derived from `seed`.
    pub fn local_from(seed: u64) -> Self {
        let b = seed.to_be_bytes();
        MacAddr([0x02, b[3], b[4], b[5], b[6], b[7]])
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.0;
        write!(
            f,
            "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
            m[0], m[1], m[2], m[3], m[4], m[5]
        )
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Error parsing a MAC address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad MAC address '{0}': expected six hex bytes like 02:00:00:00:00:01")]
pub struct MacParseError(pub String);

impl FromStr for MacAddr {
    type Err = MacParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut out = [0u8; 6];
        let mut n = 0;
        for part in s.split([':', '-']) {
            if n == 6 || part.len() != 2 {
                return Err(MacParseError(s.to_string()));
            }
            out[n] = u8::from_str_radix(part, 16).map_err(|_| MacParseError(s.to_string()))?;
            n += 1;
        }
        if n != 6 {
            return Err(MacParseError(s.to_string()));
        }
        Ok(MacAddr(out))
    }
}

/// Link status of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkState {
    /// Whether the link is up (carrier present and interface running).
    pub up: bool,
    /// Speed in Mbit/s, when the driver knows it.
    pub speed_mbps: Option<u32>,
    /// Full duplex (virtual ports say true).
    pub full_duplex: bool,
}

impl LinkState {
    /// An always-up virtual link of unknown speed.
    pub const VIRTUAL_UP: LinkState = LinkState {
        up: true,
        speed_mbps: None,
        full_duplex: true,
    };
}

/// What a driver can do, so the engine can adapt (for example, hash in software when the
/// port has no RSS, or skip checksum computation when TX offloads it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// Most RX queues the driver supports.
    pub max_rx_queues: u16,
    /// Most TX queues the driver supports.
    pub max_tx_queues: u16,
    /// Packets are received into mbufs without a copy.
    pub zero_copy_rx: bool,
    /// Packets are sent from mbufs without a copy.
    pub zero_copy_tx: bool,
    /// RX verifies IPv4/TCP/UDP checksums and sets flags.
    pub rx_checksum_offload: bool,
    /// TX fills IPv4/TCP/UDP checksums.
    pub tx_checksum_offload: bool,
    /// The port spreads flows over its RX queues by a hash (RSS or fanout).
    pub rss: bool,
    /// The RX hash is delivered in the mbuf.
    pub rss_hash_in_mbuf: bool,
    /// Promiscuous mode can be switched.
    pub promiscuous: bool,
    /// Multi-segment (chained) mbufs are accepted on TX.
    pub multi_segment_tx: bool,
}

impl Capabilities {
    /// A port in process memory (`null`, `ring`): mbufs move without a copy, it sees every
    /// frame anyway, and chained mbufs are fine.
    pub(crate) fn in_memory(max_queues: u16) -> Self {
        Capabilities {
            max_rx_queues: max_queues,
            max_tx_queues: max_queues,
            zero_copy_rx: true,
            zero_copy_tx: true,
            promiscuous: true,
            multi_segment_tx: true,
            ..Capabilities::default()
        }
    }
}

/// Description of an open port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    /// The port name (interface, file or ring name).
    pub name: String,
    /// The driver name (`af_packet`, `tap`, ...).
    pub driver: &'static str,
    /// The device string the port was opened from.
    pub devstr: String,
    /// The MAC address (virtual ports make up a locally administered one).
    pub mac: MacAddr,
    /// The MTU (L3 payload size).
    pub mtu: u32,
    /// Number of RX queues.
    pub rx_queues: u16,
    /// Number of TX queues.
    pub tx_queues: u16,
    /// The kernel interface index, for kernel-backed ports.
    pub ifindex: Option<u32>,
    /// What the driver can do.
    pub caps: Capabilities,
}

impl PortInfo {
    /// A port without a kernel interface, set up as `cfg` says: its queue counts, its MAC or
    /// else `mac`, its MTU or else 1500.
    pub(crate) fn without_interface(
        name: String,
        driver: &'static str,
        devstr: &str,
        cfg: &PortConfig,
        mac: MacAddr,
        caps: Capabilities,
    ) -> Self {
        PortInfo {
            name,
            driver,
            devstr: devstr.to_string(),
            mac: cfg.mac.unwrap_or(mac),
            mtu: cfg.mtu.unwrap_or(1500),
            rx_queues: cfg.rx_queues,
            tx_queues: cfg.tx_queues,
            ifindex: None,
            caps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_parses_and_prints() {
        let m: MacAddr = "02:aB:00:10:ff:09".parse().unwrap();
        assert_eq!(m.0, [0x02, 0xab, 0x00, 0x10, 0xff, 0x09]);
        assert_eq!(m.to_string(), "02:ab:00:10:ff:09");
        assert!(m.is_valid_unicast());
        for bad in [
            "",
            "02:00:00:00:00",
            "02:00:00:00:00:00:00",
            "0g:00:00:00:00:00",
            "2:0:0:0:0:0",
        ] {
            assert!(bad.parse::<MacAddr>().is_err(), "{bad}");
        }
        assert!(!MacAddr([1, 0, 0, 0, 0, 0]).is_valid_unicast());
        assert!(MacAddr::local_from(7).is_valid_unicast());
    }
}
