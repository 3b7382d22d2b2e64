//! The per-packet decision of l3fwd: checks, local delivery (router mode), lookup, header
//! update, next-hop MAC. Written over any [`Packet`] and an [`Output`] so that it runs the same
//! on mbufs in the engine and on byte vectors in unit tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ferroplane_net::MacAddr;
use ferroplane_net::arp::{ARP_REPLY, ARP_REQUEST, ArpPacket};
use ferroplane_net::ethernet::{ETHERNET_HEADER_LEN, ethertype};
use ferroplane_net::icmp::{Icmpv6Packet, NdpRepr, icmpv4_type, icmpv6_type};
use ferroplane_net::ipv4::protocol;

use super::icmp;
use super::lookup::{BULK_MAX, DecisionRef, Key, Lookup, RAW_MISS};
use super::neigh::{NeighConfig, NeighTable, Resolve};
use super::ratelimit::TokenBucket;
use super::rfc1812;
use super::routes::NextHop;
use super::{DropReason, RouterCounters};
use crate::packet::Packet;

/// Where the router sends what it decides.
pub trait Output<P> {
    /// Send `p` on `port`.
    fn tx(&mut self, port: u16, p: P);
    /// Drop `p`, counted under `reason`.
    fn drop(&mut self, p: P, reason: DropReason);
    /// A fresh empty packet for a reply or request.
    fn alloc(&mut self) -> Option<P>;
}

/// One port as the router sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortAddrs {
    /// The port's MAC.
    pub mac: MacAddr,
    /// IPv4 addresses with prefix lengths (router mode).
    pub v4: Vec<(Ipv4Addr, u8)>,
    /// IPv6 addresses with prefix lengths (router mode).
    pub v6: Vec<(Ipv6Addr, u8)>,
}

/// Configuration shared by every lcore.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// Ports, by id.
    pub ports: Vec<PortAddrs>,
    /// Router mode: ARP/ND, ICMP, neighbour resolution.
    pub router: bool,
    /// Destination MAC per output port when not in router mode (`--eth-dest`, else
    /// `02:00:00:00:00:<port>` as DPDK).
    pub eth_dest: Vec<MacAddr>,
    /// Send packets that match nothing back out of their input port (DPDK l3fwd's LPM and EM
    /// behaviour) instead of dropping them. Ignored in router mode.
    pub miss_to_rx_port: bool,
    /// Neighbour timers.
    pub neigh: NeighConfig,
    /// ICMP errors per second per lcore.
    pub icmp_rate: u64,
    /// ICMP error burst.
    pub icmp_burst: u64,
}

/// The router configuration shared by every lcore and changeable at run time (port addresses):
/// the control thread publishes a new version; each lcore picks it up at its next burst or tick
/// (one atomic load per burst; the lock is taken only when the version changed).
#[derive(Debug)]
pub struct ConfigCell {
    version: AtomicU64,
    current: Mutex<Arc<RouterConfig>>,
}

impl ConfigCell {
    /// A cell holding `cfg`.
    pub fn new(cfg: RouterConfig) -> Self {
        ConfigCell {
            version: AtomicU64::new(0),
            current: Mutex::new(Arc::new(cfg)),
        }
    }

    /// The current configuration.
    pub fn get(&self) -> Arc<RouterConfig> {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Changes the configuration with `f` (on a copy; nothing changes if `f` fails) and
    /// publishes it.
    pub fn update<T>(
        &self,
        f: impl FnOnce(&mut RouterConfig) -> Result<T, String>,
    ) -> Result<T, String> {
        let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = RouterConfig::clone(&cur);
        let r = f(&mut next)?;
        *cur = Arc::new(next);
        self.version.fetch_add(1, Ordering::Release);
        Ok(r)
    }

    #[inline]
    fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }
}

/// IPv4 lookup keys of a burst and their results, looked up in bulk before the per-packet
/// path (DPDK l3fwd's bulk lookups). Entry `i` belongs to the burst's packet `i`.
#[derive(Debug)]
pub struct BurstHints {
    keys: [Key<Ipv4Addr>; BULK_MAX],
    raw: [u32; BULK_MAX],
    valid: [bool; BULK_MAX],
    /// Where each frame's bytes start: a hint is only used for the frame it was made from.
    frames: [usize; BULK_MAX],
    n: usize,
}

/// A frame's IPv4 key and raw bulk lookup result ([`BurstHints::get`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hint {
    key: Key<Ipv4Addr>,
    raw: u32,
    frame: usize,
}

impl Default for BurstHints {
    fn default() -> Self {
        let k = Key {
            src: Ipv4Addr::UNSPECIFIED,
            dst: Ipv4Addr::UNSPECIFIED,
            sport: 0,
            dport: 0,
            proto: 0,
        };
        BurstHints {
            keys: [k; BULK_MAX],
            raw: [RAW_MISS; BULK_MAX],
            valid: [false; BULK_MAX],
            frames: [0; BULK_MAX],
            n: 0,
        }
    }
}

impl BurstHints {
    /// Starts a new burst.
    #[inline]
    pub fn clear(&mut self) {
        self.n = 0;
    }

    /// Records packet `self.len()`'s frame (extracts its IPv4 key, if it has one).
    #[inline]
    pub fn push(&mut self, frame: &[u8]) {
        if self.n >= BULK_MAX {
            return;
        }
        match ipv4_key(frame) {
            Some(k) => {
                self.keys[self.n] = k;
                self.valid[self.n] = true;
            }
            None => self.valid[self.n] = false,
        }
        self.frames[self.n] = frame.as_ptr() as usize;
        self.n += 1;
    }

    /// Packets recorded.
    #[inline]
    pub fn len(&self) -> usize {
        self.n
    }

    /// Whether no packet is recorded.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The key and raw result of packet `i`, if it had an IPv4 key and was looked up.
    #[inline]
    pub fn get(&self, i: usize) -> Option<Hint> {
        (i < self.n && self.valid[i]).then(|| Hint {
            key: self.keys[i],
            raw: self.raw[i],
            frame: self.frames[i],
        })
    }
}

/// The IPv4 lookup key of a frame exactly as the per-packet path computes it, or `None` if it is
/// not an IPv4 frame with a whole header.
#[inline]
fn ipv4_key(b: &[u8]) -> Option<Key<Ipv4Addr>> {
    if b.len() < ETHERNET_HEADER_LEN + 20 || u16::from_be_bytes([b[12], b[13]]) != ethertype::IPV4 {
        return None;
    }
    let ip = &b[ETHERNET_HEADER_LEN..];
    let hl = (ip[0] & 0xf) as usize * 4;
    if hl < 20 || ip.len() < hl {
        return None;
    }
    let proto = ip[9];
    let frag = u16::from_be_bytes([ip[6], ip[7]]) & 0x1fff != 0;
    let (sport, dport) = l4_ports(proto, frag, &ip[hl..]);
    Some(Key {
        src: Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]),
        dst: Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]),
        sport,
        dport,
        proto,
    })
}

fn in_prefix4(a: Ipv4Addr, net: Ipv4Addr, len: u8) -> bool {
    len == 0 || (a.to_bits() ^ net.to_bits()) >> (32 - len as u32) == 0
}

fn in_prefix6(a: Ipv6Addr, net: Ipv6Addr, len: u8) -> bool {
    len == 0 || (a.to_bits() ^ net.to_bits()) >> (128 - len as u32) == 0
}

/// One lcore's router.
pub struct Router<P> {
    cfg: Arc<RouterConfig>,
    /// Where run-time configuration changes come from, and the version last seen.
    cell: Option<(Arc<ConfigCell>, u64)>,
    lookup: Lookup,
    neigh: NeighTable<P>,
    icmp_limit: TokenBucket,
    counters: Arc<RouterCounters>,
}

impl<P> std::fmt::Debug for Router<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("router", &self.cfg.router)
            .field("neighbours", &self.neigh.len())
            .finish()
    }
}

impl<P: Packet> Router<P> {
    /// A router for one lcore.
    pub fn new(cfg: Arc<RouterConfig>, lookup: Lookup, counters: Arc<RouterCounters>) -> Self {
        Router {
            neigh: NeighTable::new(cfg.neigh),
            icmp_limit: TokenBucket::new(cfg.icmp_rate, cfg.icmp_burst),
            cfg,
            cell: None,
            lookup,
            counters,
        }
    }

    /// A router for one lcore that follows the run-time changes published in `cell`.
    pub fn following(cell: Arc<ConfigCell>, lookup: Lookup, counters: Arc<RouterCounters>) -> Self {
        let v = cell.version();
        let mut r = Self::new(cell.get(), lookup, counters);
        r.cell = Some((cell, v));
        r
    }

    /// The configuration in use.
    pub fn config(&self) -> &Arc<RouterConfig> {
        &self.cfg
    }

    /// Whether [`Router::lookup_hints`] looks bursts up in bulk (LPM and exact match).
    #[inline]
    pub fn bulk(&self) -> bool {
        self.lookup.has_bulk()
    }

    /// Looks up the recorded keys of a burst in bulk.
    #[inline]
    pub fn lookup_hints(&self, hints: &mut BurstHints) {
        let n = hints.n;
        let got = self.lookup.v4_bulk(&hints.keys[..n], &mut hints.raw[..n]);
        // Entries not looked up (none, in practice) go the per-packet way.
        for v in &mut hints.valid[got..n] {
            *v = false;
        }
    }

    /// The event counters.
    pub fn counters(&self) -> &Arc<RouterCounters> {
        &self.counters
    }

    /// Start of a burst at time `now` (ns): LPM quiescent state and neighbour timers.
    pub fn begin_burst(&mut self, now: u64, out: &mut impl Output<P>) {
        self.lookup.quiescent();
        if let Some((cell, seen)) = &mut self.cell {
            let v = cell.version();
            if v != *seen {
                *seen = v;
                self.cfg = cell.get();
            }
        }
        if self.neigh.incomplete() == 0 {
            return;
        }
        let mut probes: [(u16, Option<IpAddr>); 8] = [(0, None); 8];
        let mut n = 0;
        let mut failed = 0u64;
        self.neigh.poll(
            now,
            |port, ip| {
                if n < probes.len() {
                    probes[n] = (port, Some(ip));
                    n += 1;
                }
            },
            |p| {
                failed += 1;
                out.drop(p, DropReason::NeighUnresolved);
            },
        );
        for (port, ip) in probes.into_iter().take(n) {
            if let Some(ip) = ip {
                self.probe(port, ip, out);
            }
        }
    }

    /// Handles one frame received on `rx_port`.
    #[inline]
    pub fn handle(&mut self, rx_port: u16, pkt: P, now: u64, out: &mut impl Output<P>) {
        self.handle_hinted(rx_port, pkt, now, None, out)
    }

    /// Like [`Router::handle`], with the frame's IPv4 key and raw lookup result from a bulk
    /// lookup ([`BurstHints::get`]): the key is not read again from the frame. The frame must be
    /// unchanged since it was pushed; a hint made from another frame (another buffer) is ignored.
    #[inline]
    pub fn handle_hinted(
        &mut self,
        rx_port: u16,
        pkt: P,
        now: u64,
        hint: Option<Hint>,
        out: &mut impl Output<P>,
    ) {
        let b = pkt.bytes();
        if b.len() < ETHERNET_HEADER_LEN {
            return out.drop(pkt, DropReason::Truncated);
        }
        match u16::from_be_bytes([b[12], b[13]]) {
            ethertype::IPV4 => self.ipv4(rx_port, pkt, now, hint, out),
            ethertype::IPV6 => self.ipv6(rx_port, pkt, now, out),
            ethertype::ARP if self.cfg.router => self.arp(rx_port, pkt, now, out),
            _ => out.drop(pkt, DropReason::UnsupportedEthertype),
        }
    }

    fn is_local4(&self, a: Ipv4Addr) -> bool {
        self.cfg
            .ports
            .iter()
            .any(|p| p.v4.iter().any(|(x, _)| *x == a))
    }

    fn is_local6(&self, a: Ipv6Addr) -> bool {
        self.cfg
            .ports
            .iter()
            .any(|p| p.v6.iter().any(|(x, _)| *x == a))
    }

    fn connected4(&self, a: Ipv4Addr) -> Option<u16> {
        self.cfg
            .ports
            .iter()
            .position(|p| p.v4.iter().any(|(n, l)| in_prefix4(a, *n, *l)))
            .map(|i| i as u16)
    }

    fn connected6(&self, a: Ipv6Addr) -> Option<u16> {
        self.cfg
            .ports
            .iter()
            .position(|p| p.v6.iter().any(|(n, l)| in_prefix6(a, *n, *l)))
            .map(|i| i as u16)
    }

    /// Our IPv4 address on `port` (the one in `peer`'s subnet if any).
    fn src4(&self, port: u16, peer: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        let p = self.cfg.ports.get(port as usize)?;
        peer.and_then(|x| p.v4.iter().find(|(n, l)| in_prefix4(x, *n, *l)))
            .or_else(|| p.v4.first())
            .map(|(a, _)| *a)
    }

    fn src6(&self, port: u16, peer: Option<Ipv6Addr>) -> Option<Ipv6Addr> {
        let p = self.cfg.ports.get(port as usize)?;
        peer.and_then(|x| p.v6.iter().find(|(n, l)| in_prefix6(x, *n, *l)))
            .or_else(|| p.v6.first())
            .map(|(a, _)| *a)
    }

    fn mac(&self, port: u16) -> MacAddr {
        self.cfg
            .ports
            .get(port as usize)
            .map_or(MacAddr::ZERO, |p| p.mac)
    }

    fn ipv4(
        &mut self,
        rx_port: u16,
        pkt: P,
        now: u64,
        hint: Option<Hint>,
        out: &mut impl Output<P>,
    ) {
        let ip = &pkt.bytes()[ETHERNET_HEADER_LEN..];
        if let Err(r) = rfc1812::check_ipv4(ip) {
            return out.drop(pkt, r);
        }
        // The bulk pass already read this frame's key (with the same code, from the same
        // bytes); read it again only without one, or if the hint was made from another frame.
        let (key, raw) = match hint {
            Some(h) if h.frame == pkt.bytes().as_ptr() as usize => (h.key, Some(h.raw)),
            _ => match ipv4_key(pkt.bytes()) {
                Some(k) => (k, None),
                // Unreachable: check_ipv4 accepted the header ipv4_key needs.
                None => return out.drop(pkt, DropReason::Truncated),
            },
        };
        let (src, dst) = (key.src, key.dst);
        if self.cfg.router && self.is_local4(dst) {
            return self.local4(rx_port, pkt, out);
        }
        if dst.is_multicast()
            || dst.is_broadcast()
            || dst.is_unspecified()
            || src.is_multicast()
            || src.is_broadcast()
        {
            return out.drop(pkt, DropReason::NotForwardable);
        }
        if self.cfg.router
            && self.cfg.ports.get(rx_port as usize).is_some_and(|p| {
                p.v4.iter()
                    .any(|(n, l)| *l < 31 && dst == directed_broadcast(*n, *l))
            })
        {
            return out.drop(pkt, DropReason::NotForwardable);
        }
        if rfc1812::ttl_expired_v4(ip) {
            return self.drop_and_report(rx_port, pkt, DropReason::TtlExpired, now, out);
        }
        let (port, hop) = match self.route4(rx_port, &key, raw) {
            Ok(r) => r,
            Err(reason) => return self.drop_and_report(rx_port, pkt, reason, now, out),
        };
        // Copied out: the next hop is borrowed from the tables, and sending borrows the router.
        let next = hop.and_then(|h| h.via).unwrap_or(IpAddr::V4(dst));
        self.forward(port, next, pkt, now, out, rfc1812::forward_ipv4);
    }

    /// Routes key `k` (`raw`: its result from a bulk lookup, if it had one) to an output port
    /// and, for a table route, its next hop (borrowed: nothing is copied per packet).
    #[inline]
    fn route4(
        &self,
        rx_port: u16,
        k: &Key<Ipv4Addr>,
        raw: Option<u32>,
    ) -> Result<(u16, Option<&NextHop>), DropReason> {
        if self.cfg.router
            && let Some(port) = self.connected4(k.dst)
        {
            return Ok((port, None));
        }
        let d = match raw {
            Some(raw) => self.lookup.decide_raw_ref(raw),
            None => self.lookup.v4_ref(k),
        };
        self.decided(rx_port, d)
    }

    /// The output port (and, for a table route, the next hop) of a lookup's decision.
    #[inline]
    fn decided<'a>(
        &self,
        rx_port: u16,
        d: DecisionRef<'a>,
    ) -> Result<(u16, Option<&'a NextHop>), DropReason> {
        let (port, hop) = match d {
            DecisionRef::Forward(nh) => (nh.port, Some(nh)),
            DecisionRef::Deny => return Err(DropReason::AclDenied),
            DecisionRef::Miss if !self.cfg.router && self.cfg.miss_to_rx_port => (rx_port, None),
            DecisionRef::Miss => return Err(DropReason::NoRoute),
        };
        if port as usize >= self.cfg.ports.len() {
            return Err(DropReason::BadPort);
        }
        Ok((port, hop))
    }

    /// Without router mode: writes the L2 header for `port` (the static next-hop MAC) and sends.
    #[inline]
    fn send_static(&self, port: u16, mut pkt: P, out: &mut impl Output<P>) {
        let dst_mac = self
            .cfg
            .eth_dest
            .get(port as usize)
            .copied()
            .unwrap_or(MacAddr([2, 0, 0, 0, 0, port as u8]));
        let src_mac = self.mac(port);
        let Some(b) = pkt.bytes_mut() else {
            return out.drop(pkt, DropReason::Other);
        };
        b[0..6].copy_from_slice(&dst_mac.0);
        b[6..12].copy_from_slice(&src_mac.0);
        out.tx(port, pkt);
    }

    /// The last step of forwarding `pkt` out `port`: `update_header` (the `rfc1812` TTL or
    /// hop limit update of its family) on the IP header, then [`Self::send`] towards `next`.
    #[inline]
    fn forward(
        &mut self,
        port: u16,
        next: IpAddr,
        mut pkt: P,
        now: u64,
        out: &mut impl Output<P>,
        update_header: impl FnOnce(&mut [u8]) -> Option<u8>,
    ) {
        let Some(b) = pkt.bytes_mut() else {
            return out.drop(pkt, DropReason::Other);
        };
        if update_header(&mut b[ETHERNET_HEADER_LEN..]).is_none() {
            return out.drop(pkt, DropReason::TtlExpired);
        }
        self.send(port, next, pkt, now, out);
    }

    /// Writes the L2 header for `port` and sends, resolving the next hop in router mode.
    fn send(&mut self, port: u16, next: IpAddr, mut pkt: P, now: u64, out: &mut impl Output<P>) {
        if !self.cfg.router {
            return self.send_static(port, pkt, out);
        }
        let src_mac = self.mac(port);
        let dst_mac = match self.neigh.resolve(port, next, pkt, now) {
            Resolve::Mac {
                mac,
                refresh,
                pkt: p,
            } => {
                if refresh {
                    self.probe(port, next, out);
                }
                pkt = p;
                mac
            }
            Resolve::Held { probe } => {
                RouterCounters::inc(&self.counters.held);
                if probe {
                    self.probe(port, next, out);
                }
                return;
            }
            Resolve::Full(p) => return out.drop(p, DropReason::NeighHoldFull),
        };
        let Some(b) = pkt.bytes_mut() else {
            return out.drop(pkt, DropReason::Other);
        };
        b[0..6].copy_from_slice(&dst_mac.0);
        b[6..12].copy_from_slice(&src_mac.0);
        out.tx(port, pkt);
    }

    /// Sends an ARP request or neighbour solicitation for `ip` on `port`.
    fn probe(&mut self, port: u16, ip: IpAddr, out: &mut impl Output<P>) {
        let mac = self.mac(port);
        let sent = if ip.is_ipv4() {
            &self.counters.arp_requests
        } else {
            &self.counters.ns_sent
        };
        self.send_own(port, sent, out, |p| match ip {
            IpAddr::V4(t) => self
                .src4(port, Some(t))
                .is_some_and(|s| icmp::arp_request(p, mac, s, t)),
            IpAddr::V6(t) => self
                .src6(port, Some(t))
                .is_some_and(|s| icmp::neighbour_solicit(p, mac, s, t)),
        });
    }

    /// Sends a packet of the router's own out `port`: `build` writes it into a fresh packet and
    /// says whether it could (if not, the packet is dropped); a sent one is counted in `sent`.
    fn send_own(
        &self,
        port: u16,
        sent: &AtomicU64,
        out: &mut impl Output<P>,
        build: impl FnOnce(&mut P) -> bool,
    ) {
        let Some(mut p) = out.alloc() else {
            RouterCounters::inc(&self.counters.alloc_failed);
            return;
        };
        if build(&mut p) {
            RouterCounters::inc(sent);
            out.tx(port, p);
        } else {
            out.drop(p, DropReason::Other);
        }
    }

    /// Releases packets held for a neighbour that answered.
    fn learn(
        &mut self,
        port: u16,
        ip: IpAddr,
        mac: MacAddr,
        create: bool,
        now: u64,
        out: &mut impl Output<P>,
    ) {
        RouterCounters::inc(&self.counters.neigh_learned);
        let src_mac = self.mac(port);
        let counters = self.counters.clone();
        self.neigh
            .learn(port, ip, mac, create, now, |mut p| match p.bytes_mut() {
                Some(b) => {
                    b[0..6].copy_from_slice(&mac.0);
                    b[6..12].copy_from_slice(&src_mac.0);
                    RouterCounters::inc(&counters.released);
                    out.tx(port, p);
                }
                None => out.drop(p, DropReason::Other),
            });
    }

    fn icmp_allowed(&mut self, now: u64) -> bool {
        if self.icmp_limit.take(now) {
            true
        } else {
            RouterCounters::inc(&self.counters.icmp_rate_limited);
            false
        }
    }

    /// Drops `pkt` (a checked IPv4 or IPv6 frame) for `reason`. A router first tells the sender
    /// with an ICMP(v6) error when there is one for the reason: time exceeded for an expired TTL
    /// or hop limit, destination unreachable (code 0) for no route.
    fn drop_and_report(
        &mut self,
        rx_port: u16,
        pkt: P,
        reason: DropReason,
        now: u64,
        out: &mut impl Output<P>,
    ) {
        let time_exceeded = match reason {
            DropReason::TtlExpired => true,
            DropReason::NoRoute => false,
            _ => return out.drop(pkt, reason),
        };
        if self.cfg.router {
            self.icmp_error(rx_port, pkt.bytes(), time_exceeded, now, out);
        }
        out.drop(pkt, reason)
    }

    /// Sends a time exceeded or destination unreachable (code 0) error about `frame` (IPv4 or
    /// IPv6, by its version) back out `rx_port` to its sender, from our address in the sender's
    /// subnet; nothing if the RFCs forbid an error about it, `rx_port` has no address of its
    /// family, or the rate limit is reached.
    fn icmp_error(
        &mut self,
        rx_port: u16,
        frame: &[u8],
        time_exceeded: bool,
        now: u64,
        out: &mut impl Output<P>,
    ) {
        let ip = &frame[ETHERNET_HEADER_LEN..];
        let v4 = ip[0] >> 4 == 4;
        let allowed = if v4 {
            icmp::may_send_icmp4_error(ip)
        } else {
            icmp::may_send_icmp6_error(ip)
        };
        if !allowed {
            return;
        }
        let src = if v4 {
            let sender = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
            self.src4(rx_port, Some(sender)).map(IpAddr::V4)
        } else {
            let mut sender = [0u8; 16];
            sender.copy_from_slice(&ip[8..24]);
            self.src6(rx_port, Some(Ipv6Addr::from(sender)))
                .map(IpAddr::V6)
        };
        let Some(src) = src else {
            return;
        };
        if !self.icmp_allowed(now) {
            return;
        }
        let (type4, type6) = if time_exceeded {
            (icmpv4_type::TIME_EXCEEDED, icmpv6_type::TIME_EXCEEDED)
        } else {
            (icmpv4_type::DEST_UNREACHABLE, icmpv6_type::DEST_UNREACHABLE)
        };
        let sent = if time_exceeded {
            &self.counters.time_exceeded
        } else {
            &self.counters.unreachable
        };
        let from = self.mac(rx_port);
        let to = MacAddr([frame[6], frame[7], frame[8], frame[9], frame[10], frame[11]]);
        self.send_own(rx_port, sent, out, |p| match src {
            IpAddr::V4(src) => icmp::icmp4_error(p, from, to, src, ip, type4, 0),
            IpAddr::V6(src) => icmp::icmp6_error(p, from, to, src, ip, type6, 0),
        });
    }

    fn local4(&mut self, rx_port: u16, mut pkt: P, out: &mut impl Output<P>) {
        let mac = self.mac(rx_port);
        let Some(b) = pkt.bytes_mut() else {
            return out.drop(pkt, DropReason::Other);
        };
        match icmp::echo_reply_v4(b, mac) {
            Ok(()) => {
                RouterCounters::inc(&self.counters.echo_replies);
                out.tx(rx_port, pkt);
            }
            Err(r) => out.drop(pkt, r),
        }
    }

    fn ipv6(&mut self, rx_port: u16, pkt: P, now: u64, out: &mut impl Output<P>) {
        let ip = &pkt.bytes()[ETHERNET_HEADER_LEN..];
        if let Err(r) = rfc1812::check_ipv6(ip) {
            return out.drop(pkt, r);
        }
        let mut a = [0u8; 16];
        a.copy_from_slice(&ip[8..24]);
        let src = Ipv6Addr::from(a);
        a.copy_from_slice(&ip[24..40]);
        let dst = Ipv6Addr::from(a);
        let nh_proto = ip[6];
        if self.cfg.router {
            if nh_proto == protocol::ICMPV6 && (dst.is_multicast() || self.is_local6(dst)) {
                let t = ip.get(40).copied().unwrap_or(0);
                if t == icmpv6_type::NEIGHBOR_SOLICIT || t == icmpv6_type::NEIGHBOR_ADVERT {
                    return self.ndp(rx_port, pkt, src, dst, now, out);
                }
            }
            if self.is_local6(dst) {
                let mac = self.mac(rx_port);
                let mut pkt = pkt;
                let Some(b) = pkt.bytes_mut() else {
                    return out.drop(pkt, DropReason::Other);
                };
                return match icmp::echo_reply_v6(b, mac) {
                    Ok(()) => {
                        RouterCounters::inc(&self.counters.echo_replies);
                        out.tx(rx_port, pkt)
                    }
                    Err(r) => out.drop(pkt, r),
                };
            }
        }
        let link_local = |x: Ipv6Addr| x.segments()[0] & 0xffc0 == 0xfe80;
        if dst.is_multicast()
            || dst.is_unspecified()
            || dst.is_loopback()
            || link_local(dst)
            || link_local(src)
            || src.is_multicast()
        {
            return out.drop(pkt, DropReason::NotForwardable);
        }
        if rfc1812::hop_limit_expired(ip) {
            return self.drop_and_report(rx_port, pkt, DropReason::TtlExpired, now, out);
        }
        let (sport, dport) = l4_ports(nh_proto, false, &ip[40..]);
        let k = Key {
            src,
            dst,
            sport,
            dport,
            proto: nh_proto,
        };
        let routed = match (self.cfg.router, self.connected6(dst)) {
            (true, Some(port)) => Ok((port, None)),
            _ => self
                .decided(rx_port, self.lookup.v6_ref(&k))
                .map(|(port, hop)| (port, hop.and_then(|h| h.via))),
        };
        let (port, via) = match routed {
            Ok(r) => r,
            Err(reason) => return self.drop_and_report(rx_port, pkt, reason, now, out),
        };
        let next = via.unwrap_or(IpAddr::V6(dst));
        self.forward(port, next, pkt, now, out, rfc1812::forward_ipv6);
    }

    fn ndp(
        &mut self,
        rx_port: u16,
        pkt: P,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        now: u64,
        out: &mut impl Output<P>,
    ) {
        let b = pkt.bytes();
        let ip = &b[ETHERNET_HEADER_LEN..];
        let plen = u16::from_be_bytes([ip[4], ip[5]]) as usize;
        // RFC 4861 7.1: hop limit 255, code 0, valid checksum.
        let msg = &ip[40..40 + plen];
        let Ok(icmp) = Icmpv6Packet::new_checked(msg) else {
            return out.drop(pkt, DropReason::ArpIgnored);
        };
        if ip[7] != 255 || icmp.code() != 0 || !icmp.verify_checksum(src, dst) {
            return out.drop(pkt, DropReason::ArpIgnored);
        }
        let eth_src = MacAddr([b[6], b[7], b[8], b[9], b[10], b[11]]);
        let Ok(repr) = icmp.ndp() else {
            return out.drop(pkt, DropReason::ArpIgnored);
        };
        let ours = |t: Ipv6Addr| {
            self.cfg
                .ports
                .get(rx_port as usize)
                .is_some_and(|p| p.v6.iter().any(|(a, _)| *a == t))
        };
        match repr {
            NdpRepr::NeighborSolicit {
                target,
                source_lladdr,
            } => {
                if !ours(target) {
                    return out.drop(pkt, DropReason::ArpIgnored);
                }
                let to_mac = source_lladdr.unwrap_or(eth_src);
                out.drop(pkt, DropReason::Consumed);
                if !src.is_unspecified() {
                    self.learn(rx_port, IpAddr::V6(src), to_mac, true, now, out);
                }
                let from = self.mac(rx_port);
                self.send_own(rx_port, &self.counters.na_sent, out, |p| {
                    icmp::neighbour_advert(p, from, to_mac, src, target)
                });
            }
            NdpRepr::NeighborAdvert {
                target,
                target_lladdr,
                ..
            } => {
                let mac = target_lladdr.unwrap_or(eth_src);
                out.drop(pkt, DropReason::Consumed);
                if !ours(target) {
                    self.learn(rx_port, IpAddr::V6(target), mac, false, now, out);
                }
            }
        }
    }

    fn arp(&mut self, rx_port: u16, mut pkt: P, now: u64, out: &mut impl Output<P>) {
        let (op, sender_mac, sender_ip, target_ip) =
            match ArpPacket::new_checked(&pkt.bytes()[ETHERNET_HEADER_LEN..]) {
                Ok(a) => (a.operation(), a.sender_mac(), a.sender_ip(), a.target_ip()),
                Err(_) => return out.drop(pkt, DropReason::ArpIgnored),
            };
        let Some(port) = self.cfg.ports.get(rx_port as usize) else {
            return out.drop(pkt, DropReason::Other);
        };
        let mac = port.mac;
        let for_us = port.v4.iter().any(|(a, _)| *a == target_ip);
        let sane = !sender_ip.is_unspecified() && sender_mac.is_unicast() && sender_mac != mac;
        if !sane {
            return out.drop(pkt, DropReason::ArpIgnored);
        }
        // RFC 826: update an existing entry from any ARP; create one only when it is for us.
        self.learn(rx_port, IpAddr::V4(sender_ip), sender_mac, for_us, now, out);
        if op == ARP_REQUEST && for_us {
            let Some(b) = pkt.bytes_mut() else {
                return out.drop(pkt, DropReason::Other);
            };
            if let Ok(mut a) = ArpPacket::new_checked(&mut b[ETHERNET_HEADER_LEN..]) {
                a.make_reply(mac);
            }
            b[0..6].copy_from_slice(&sender_mac.0);
            b[6..12].copy_from_slice(&mac.0);
            RouterCounters::inc(&self.counters.arp_replies);
            return out.tx(rx_port, pkt);
        }
        let reason = if op == ARP_REPLY && for_us {
            DropReason::Consumed
        } else {
            DropReason::ArpIgnored
        };
        out.drop(pkt, reason);
    }
}

fn directed_broadcast(net: Ipv4Addr, len: u8) -> Ipv4Addr {
    let host = if len >= 32 { 0 } else { u32::MAX >> len };
    Ipv4Addr::from_bits(net.to_bits() | host)
}

/// TCP/UDP/SCTP ports from the start of the L4 header (0, 0 for other protocols and fragments).
#[inline]
fn l4_ports(proto: u8, frag: bool, l4: &[u8]) -> (u16, u16) {
    match proto {
        protocol::TCP | protocol::UDP | protocol::SCTP if !frag && l4.len() >= 4 => (
            u16::from_be_bytes([l4[0], l4[1]]),
            u16::from_be_bytes([l4[2], l4[3]]),
        ),
        _ => (0, 0),
    }
}

#[cfg(test)]
#[path = "router_tests.rs"]
mod tests;
