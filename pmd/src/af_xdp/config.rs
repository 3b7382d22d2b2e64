//! The `af_xdp:` device string.
//!
//! ```text
//! af_xdp:iface=veth0,queues=2,start_queue=0,frame_size=4096,rx_ring=2048,tx_ring=2048,
//!        fill_ring=4096,comp_ring=2048,mode=auto,zerocopy=auto,busy_poll=20,busy_budget=64,
//!        tx_budget=256,force=0,arp=pass,mismatch=arrival,flow0=dst/udp/10.0.0.2/5000/queue1,...
//! ```
//!
//! | key | default | meaning |
//! |---|---|---|
//! | `iface` | required | the interface |
//! | `queues` | the port config's queue count | sockets, on queues `start_queue..start_queue+queues` |
//! | `start_queue` | 0 | first interface queue |
//! | `frame_size` | the pool's chunk size | UMEM frame size: 2048 or 4096, must equal the pool's chunk size |
//! | `rx_ring`, `tx_ring` | the port config's ring sizes | descriptor ring sizes (powers of two) |
//! | `fill_ring`, `comp_ring` | 2 x `rx_ring`, `tx_ring` | fill and completion ring sizes (powers of two) |
//! | `mode` | `auto` | XDP attach mode: `native`, `generic`, or `auto` (native, else generic) |
//! | `zerocopy` | `auto` | bind with zero-copy: `on`, `off`, or `auto` (try it, else copy) |
//! | `busy_poll` | 20 | `SO_BUSY_POLL` in microseconds (0: off); also sets `SO_PREFER_BUSY_POLL`, and an idle RX poll then makes one `recvfrom` to drive the driver (as DPDK's net_af_xdp does by default) |
//! | `busy_budget` | 64 | `SO_BUSY_POLL_BUDGET` |
//! | `tx_budget` | 256 | frames one copy-mode `sendto` may transmit (`XDP_MAX_TX_SKB_BUDGET`, kernel 6.17+; capped at `tx_ring`; older kernels keep their 32): a TX backlog drains in fewer system calls |
//! | `force` | 0 | replace an XDP program already attached to the interface |
//! | `arp` | `pass` | `pass`: ARP goes to the kernel; `xsk`: ARP is received like other frames |
//! | `mismatch` | `arrival` | a `queueN` rule hit on another queue: `arrival` (to the arrival queue's socket), `pass`, `drop` |
//! | `flowN` | | a flow-director rule, see below |
//!
//! Flow rules (`N` is any number, to keep the keys distinct; values use `/` so that IPv6
//! addresses fit):
//! - `ether/<ethertype>/<action>`, e.g. `ether/0x88cc/drop`
//! - `dst/<proto>/<dst addr>/<dst port>/<action>`, e.g. `dst/udp/10.0.0.2/5000/queue1`
//! - `5tuple/<proto>/<src addr>/<src port>/<dst addr>/<dst port>/<action>`
//!
//! with `<proto>` `udp`, `tcp`, `sctp` or a number and `<action>` `drop`, `pass` or `queueN`.

use std::net::IpAddr;

use super::xdp::{FlowAction, FlowMatch, FlowRule, MismatchPolicy, XdpMode};
use super::xsk::ZeroCopy;
use crate::devargs::DevArgs;
use crate::error::PmdError;

/// The AF_XDP driver's name in device strings.
pub const DRIVER: &str = "af_xdp";

/// Largest ring size accepted.
pub const MAX_RING: u32 = 1 << 16;
/// Default `tx_budget`: eight bursts per `sendto` (a few hundred microseconds of kernel work
/// at most, so RX polling is not held off for long).
pub const DEFAULT_TX_BUDGET: u32 = 256;

/// Everything the AF_XDP driver is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AfXdpConfig {
    /// The interface.
    pub iface: String,
    /// Number of queues (one socket each); `None`: from the port configuration.
    pub queues: Option<u16>,
    /// The first interface queue.
    pub start_queue: u32,
    /// UMEM frame size; `None`: the pool's chunk size.
    pub frame_size: Option<u32>,
    /// RX ring size; `None`: from the port configuration.
    pub rx_ring: Option<u32>,
    /// TX ring size; `None`: from the port configuration.
    pub tx_ring: Option<u32>,
    /// Fill ring size; `None`: twice the RX ring (room to refill while the RX ring is full).
    pub fill_ring: Option<u32>,
    /// Completion ring size; `None`: the TX ring size.
    pub comp_ring: Option<u32>,
    /// XDP attach mode.
    pub mode: XdpMode,
    /// Zero-copy policy.
    pub zerocopy: ZeroCopy,
    /// `SO_BUSY_POLL` microseconds (0: off).
    pub busy_poll_us: u32,
    /// `SO_BUSY_POLL_BUDGET`.
    pub busy_budget: u32,
    /// Frames one copy-mode `sendto` may transmit (`XDP_MAX_TX_SKB_BUDGET`).
    pub tx_budget: u32,
    /// Replace an XDP program already attached.
    pub force: bool,
    /// Receive ARP on the sockets instead of passing it to the kernel.
    pub arp_to_xsk: bool,
    /// What to do with queue-rule hits on another queue.
    pub mismatch: MismatchPolicy,
    /// Flow-director rules installed at start.
    pub rules: Vec<FlowRule>,
}

impl AfXdpConfig {
    /// Defaults for `iface`.
    pub fn new(iface: &str) -> Self {
        AfXdpConfig {
            iface: iface.to_string(),
            queues: None,
            start_queue: 0,
            frame_size: None,
            rx_ring: None,
            tx_ring: None,
            fill_ring: None,
            comp_ring: None,
            mode: XdpMode::Auto,
            zerocopy: ZeroCopy::Auto,
            busy_poll_us: 20,
            busy_budget: 64,
            tx_budget: DEFAULT_TX_BUDGET,
            force: false,
            arp_to_xsk: false,
            mismatch: MismatchPolicy::ArrivalQueue,
            rules: Vec::new(),
        }
    }

    /// The ring sizes in effect with port-configuration rings `rx_ring`/`tx_ring`:
    /// `(rx, tx, fill, completion)`.
    pub fn ring_sizes(&self, rx_ring: u32, tx_ring: u32) -> (u32, u32, u32, u32) {
        let rx = self.rx_ring.unwrap_or(rx_ring);
        let tx = self.tx_ring.unwrap_or(tx_ring);
        let fill = self.fill_ring.unwrap_or(rx.saturating_mul(2).min(MAX_RING));
        (rx, tx, fill, self.comp_ring.unwrap_or(tx))
    }

    /// Chunks one queue can have out of the pool at once with port-configuration rings
    /// `rx_ring`/`tx_ring`: per RX queue the fill ring plus the RX ring, per TX queue the TX
    /// ring plus the completion ring.
    pub fn mbufs_held(&self, rx_ring: u32, tx_ring: u32) -> (u64, u64) {
        let (rx, tx, fill, comp) = self.ring_sizes(rx_ring, tx_ring);
        (
            u64::from(fill) + u64::from(rx),
            u64::from(tx) + u64::from(comp),
        )
    }

    /// Reads the `af_xdp:` keys of a parsed device string. Values are checked here as far as
    /// possible without the system (powers of two, ranges, rule syntax).
    pub fn from_devargs(a: &DevArgs) -> Result<Self, PmdError> {
        const KEYS: &[&str] = &[
            "iface",
            "queues",
            "start_queue",
            "frame_size",
            "rx_ring",
            "tx_ring",
            "fill_ring",
            "comp_ring",
            "mode",
            "zerocopy",
            "busy_poll",
            "busy_budget",
            "tx_budget",
            "force",
            "arp",
            "mismatch",
            "flowN",
        ];
        for (k, _) in a.pairs() {
            let is_flow = k
                .strip_prefix("flow")
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
            if !is_flow && !KEYS.contains(&k.as_str()) {
                return Err(PmdError::UnknownKey {
                    driver: DRIVER.into(),
                    key: k.clone(),
                    known: KEYS.join(", "),
                });
            }
        }
        let iface = a.require("iface")?;
        if iface.len() > 15 || iface.contains(['/', ':', ' ']) {
            return Err(a.bad(
                "iface",
                iface,
                "interface names are 1 to 15 bytes without '/', ':' or spaces",
            ));
        }
        let mut c = AfXdpConfig::new(iface);
        if a.get("queues").is_some() {
            c.queues = Some(a.number("queues", 1u16, 1, 256)?);
        }
        c.start_queue = a.number("start_queue", 0u32, 0, 255)?;
        if let Some(v) = a.get("frame_size") {
            let n: u32 = a.number("frame_size", 0u32, 2048, 4096)?;
            if !n.is_power_of_two() {
                return Err(a.bad("frame_size", v, "must be a power of two: 2048 or 4096"));
            }
            c.frame_size = Some(n);
        }
        let ring = |key: &str| -> Result<Option<u32>, PmdError> {
            let Some(v) = a.get(key) else { return Ok(None) };
            let n: u32 = a.number(key, 0u32, 8, MAX_RING)?;
            if !n.is_power_of_two() {
                return Err(a.bad(key, v, "ring sizes must be powers of two"));
            }
            Ok(Some(n))
        };
        c.rx_ring = ring("rx_ring")?;
        c.tx_ring = ring("tx_ring")?;
        c.fill_ring = ring("fill_ring")?;
        c.comp_ring = ring("comp_ring")?;
        c.mode = match a.get("mode") {
            None | Some("auto") => XdpMode::Auto,
            Some("native" | "drv") => XdpMode::Native,
            Some("generic" | "skb") => XdpMode::Generic,
            Some(v) => return Err(a.bad("mode", v, "expected auto, native or generic")),
        };
        c.zerocopy = match a.get("zerocopy") {
            None | Some("auto") => ZeroCopy::Auto,
            Some("on" | "1" | "yes" | "true") => ZeroCopy::On,
            Some("off" | "0" | "no" | "false") => ZeroCopy::Off,
            Some(v) => return Err(a.bad("zerocopy", v, "expected auto, on or off")),
        };
        c.busy_poll_us = a.number("busy_poll", 20u32, 0, 1_000_000)?;
        c.busy_budget = a.number("busy_budget", 64u32, 1, 1024)?;
        c.tx_budget = a.number("tx_budget", DEFAULT_TX_BUDGET, 32, MAX_RING)?;
        c.force = a.flag("force", false)?;
        c.arp_to_xsk = match a.get("arp") {
            None | Some("pass") => false,
            Some("xsk") => true,
            Some(v) => return Err(a.bad("arp", v, "expected pass or xsk")),
        };
        c.mismatch = match a.get("mismatch") {
            None | Some("arrival") => MismatchPolicy::ArrivalQueue,
            Some("pass") => MismatchPolicy::Pass,
            Some("drop") => MismatchPolicy::Drop,
            Some(v) => return Err(a.bad("mismatch", v, "expected arrival, pass or drop")),
        };
        for (k, v) in a.pairs() {
            if k.starts_with("flow") {
                c.rules
                    .push(parse_rule(v).map_err(|reason| a.bad(k, v, &reason))?);
            }
        }
        Ok(c)
    }
}

fn parse_proto(s: &str) -> Result<u8, String> {
    match s {
        "tcp" => Ok(6),
        "udp" => Ok(17),
        "sctp" => Ok(132),
        _ => s
            .parse()
            .map_err(|_| format!("protocol '{s}': expected tcp, udp, sctp or a number 0..=255")),
    }
}

fn parse_addr(s: &str) -> Result<IpAddr, String> {
    s.parse()
        .map_err(|_| format!("'{s}' is not an IPv4 or IPv6 address"))
}

fn parse_port(s: &str) -> Result<u16, String> {
    s.parse()
        .map_err(|_| format!("port '{s}': expected 0..=65535"))
}

/// Parses one rule, e.g. `dst/udp/10.0.0.2/5000/queue1` (syntax in the module docs).
pub fn parse_rule(s: &str) -> Result<FlowRule, String> {
    let parts: Vec<&str> = s.split('/').collect();
    let (action, fields) = parts.split_last().ok_or_else(|| "empty rule".to_string())?;
    let action = match *action {
        "drop" => FlowAction::Drop,
        "pass" => FlowAction::Pass,
        q if q.starts_with("queue") => FlowAction::Queue(
            q[5..]
                .parse()
                .map_err(|_| format!("action '{q}': expected queueN with N a number"))?,
        ),
        a => return Err(format!("action '{a}': expected drop, pass or queueN")),
    };
    let matches = match fields {
        ["ether", t] => {
            let t = t.trim_start_matches("0x");
            FlowMatch::EtherType(
                u16::from_str_radix(t, 16)
                    .map_err(|_| format!("ethertype '{t}': expected hex like 0x88cc"))?,
            )
        }
        ["dst", proto, dst, dport] => FlowMatch::Dst {
            proto: parse_proto(proto)?,
            dst: parse_addr(dst)?,
            dport: parse_port(dport)?,
        },
        ["5tuple", proto, src, sport, dst, dport] => {
            let (src, dst) = (parse_addr(src)?, parse_addr(dst)?);
            if src.is_ipv4() != dst.is_ipv4() {
                return Err("source and destination must be the same IP version".into());
            }
            FlowMatch::FiveTuple {
                proto: parse_proto(proto)?,
                src,
                sport: parse_port(sport)?,
                dst,
                dport: parse_port(dport)?,
            }
        }
        _ => {
            return Err(
                "expected ether/<type>/<action>, dst/<proto>/<addr>/<port>/<action> or \
                 5tuple/<proto>/<src>/<sport>/<dst>/<dport>/<action>"
                    .into(),
            );
        }
    };
    Ok(FlowRule { matches, action })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbufs_held_counts_the_fill_and_completion_rings() {
        // Defaults: fill = 2 x RX, completion = TX.
        let c = cfg("af_xdp:iface=v").unwrap();
        assert_eq!(c.mbufs_held(1024, 512), (3 * 1024, 2 * 512));
        let c =
            cfg("af_xdp:iface=v,rx_ring=4096,fill_ring=2048,tx_ring=256,comp_ring=1024").unwrap();
        assert_eq!(c.mbufs_held(1024, 1024), (4096 + 2048, 256 + 1024));
        // Through the registry, which falls back to one per descriptor for other drivers.
        assert_eq!(crate::mbufs_held("af_xdp:iface=v", 1024, 512), (3072, 1024));
        assert_eq!(crate::mbufs_held("null:size=64", 1024, 512), (1024, 512));
        assert_eq!(
            crate::mbufs_held("af_xdp:iface=v,rx_ring=3", 1024, 512),
            (1024, 512)
        );
    }

    fn cfg(s: &str) -> Result<AfXdpConfig, PmdError> {
        AfXdpConfig::from_devargs(&DevArgs::parse(s).unwrap())
    }

    #[test]
    fn defaults_and_all_keys() {
        let c = cfg("af_xdp:iface=veth0").unwrap();
        assert_eq!(c, AfXdpConfig::new("veth0"));
        let c = cfg(
            "af_xdp:iface=v1,queues=2,start_queue=1,frame_size=2048,rx_ring=512,\
                     tx_ring=1024,fill_ring=4096,comp_ring=256,mode=generic,zerocopy=off,\
                     busy_poll=20,busy_budget=32,force=1,arp=xsk,mismatch=drop,\
                     flow0=ether/0x88cc/drop,flow7=dst/udp/10.0.0.2/5000/queue1,\
                     flow2=5tuple/tcp/fd00::1/1/fd00::2/80/pass",
        )
        .unwrap();
        assert_eq!(c.queues, Some(2));
        assert_eq!(c.start_queue, 1);
        assert_eq!(c.frame_size, Some(2048));
        assert_eq!((c.rx_ring, c.tx_ring), (Some(512), Some(1024)));
        assert_eq!((c.fill_ring, c.comp_ring), (Some(4096), Some(256)));
        assert_eq!(c.mode, XdpMode::Generic);
        assert_eq!(c.zerocopy, ZeroCopy::Off);
        assert_eq!((c.busy_poll_us, c.busy_budget), (20, 32));
        assert!(c.force && c.arp_to_xsk);
        assert_eq!(c.mismatch, MismatchPolicy::Drop);
        assert_eq!(c.rules.len(), 3);
        assert_eq!(
            c.rules[0],
            FlowRule {
                matches: FlowMatch::EtherType(0x88cc),
                action: FlowAction::Drop
            }
        );
        assert_eq!(
            c.rules[1],
            FlowRule {
                matches: FlowMatch::Dst {
                    proto: 17,
                    dst: "10.0.0.2".parse().unwrap(),
                    dport: 5000
                },
                action: FlowAction::Queue(1)
            }
        );
        assert!(matches!(
            c.rules[2].matches,
            FlowMatch::FiveTuple {
                proto: 6,
                sport: 1,
                dport: 80,
                ..
            }
        ));
        assert_eq!(c.rules[2].to_string(), "5tuple/6/fd00::1/1/fd00::2/80/pass");
    }

    #[test]
    fn errors_name_the_bad_value() {
        for (s, needle) in [
            ("af_xdp:queues=1", "missing required key 'iface'"),
            ("af_xdp:iface=v,frame_size=3000", "'3000'"),
            ("af_xdp:iface=v,frame_size=1024", "2048..=4096"),
            ("af_xdp:iface=v,rx_ring=1000", "powers of two"),
            ("af_xdp:iface=v,fill_ring=100", "'100'"),
            ("af_xdp:iface=v,mode=fast", "'fast'"),
            ("af_xdp:iface=v,zerocopy=maybe", "'maybe'"),
            ("af_xdp:iface=v,bogus=1", "unknown key 'bogus'"),
            ("af_xdp:iface=v,flowx=ether/1/drop", "unknown key 'flowx'"),
            ("af_xdp:iface=v,flow1=ether/zz/drop", "ethertype 'zz'"),
            (
                "af_xdp:iface=v,flow1=dst/udp/1.2.3/5/drop",
                "'1.2.3' is not",
            ),
            (
                "af_xdp:iface=v,flow1=dst/udp/1.2.3.4/5/explode",
                "action 'explode'",
            ),
            (
                "af_xdp:iface=v,flow1=5tuple/udp/1.2.3.4/5/::1/6/drop",
                "same IP version",
            ),
            (
                "af_xdp:iface=v,flow1=dst/bogus/1.2.3.4/5/drop",
                "protocol 'bogus'",
            ),
            ("af_xdp:iface=a234567890123456", "15 bytes"),
        ] {
            let e = cfg(s).unwrap_err().to_string();
            assert!(e.contains(needle), "{s}: {e}");
        }
    }
}
