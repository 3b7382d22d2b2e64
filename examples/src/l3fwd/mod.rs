//! l3fwd: IPv4/IPv6 forwarding with LPM, exact-match or ACL lookups, and a router mode for
//! standing between real hosts.
//!
//! - [`rfc1812`]: header checks and the TTL / hop-limit update.
//! - [`routes`]: route and rule files, DPDK's built-in tables.
//! - [`lookup`]: the three lookup methods behind one per-lcore handle.
//! - [`neigh`]: the ARP/ND neighbour table with hold queues.
//! - [`ratelimit`]: the token bucket for ICMP errors.
//! - [`icmp`]: building ARP, NDP and ICMP messages.
//! - [`router`]: the per-packet decision, over any [`crate::packet::Packet`].
//! - [`worker`]: the engine worker (mbufs, TX, drop counters).
//! - [`control`]: run-time route and address changes (telemetry commands, SIGHUP).
//! - [`cli`]: the command line; [`app`]: putting it all together.

pub mod app;
pub mod cli;
pub mod control;
pub mod icmp;
pub mod lookup;
pub mod neigh;
pub mod ratelimit;
pub mod rfc1812;
pub mod router;
pub mod routes;
pub mod worker;

use std::sync::atomic::{AtomicU64, Ordering};

/// Why l3fwd dropped (or terminated) a packet; each is a named drop counter of the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Shorter than its headers.
    Truncated,
    /// IP version field wrong.
    BadVersion,
    /// IPv4 IHL below 5.
    BadIhl,
    /// IPv4 total length / IPv6 payload length inconsistent with the frame.
    BadTotalLength,
    /// IPv4 header checksum (or a local ICMP message's checksum) wrong.
    BadChecksum,
    /// TTL or hop limit 0 or 1.
    TtlExpired,
    /// No route, flow or rule matched.
    NoRoute,
    /// An ACL drop rule matched.
    AclDenied,
    /// The route names a port that does not exist.
    BadPort,
    /// Not IPv4/IPv6 (or ARP in router mode).
    UnsupportedEthertype,
    /// Destination a router must not forward to (multicast, broadcast, link-local, ...).
    NotForwardable,
    /// Addressed to the router but not something it answers.
    LocalUnhandled,
    /// The neighbour's hold queue was full.
    NeighHoldFull,
    /// The neighbour did not answer ARP/ND.
    NeighUnresolved,
    /// ARP or neighbour discovery not for us, or malformed.
    ArpIgnored,
    /// Answered or learnt from by the router (ARP, NS, NA): not a failure.
    Consumed,
    /// Anything else (a shared buffer, no buffer for a reply).
    Other,
}

impl DropReason {
    /// Every named reason, in counter order.
    pub const ALL: [DropReason; 16] = [
        DropReason::Truncated,
        DropReason::BadVersion,
        DropReason::BadIhl,
        DropReason::BadTotalLength,
        DropReason::BadChecksum,
        DropReason::TtlExpired,
        DropReason::NoRoute,
        DropReason::AclDenied,
        DropReason::BadPort,
        DropReason::UnsupportedEthertype,
        DropReason::NotForwardable,
        DropReason::LocalUnhandled,
        DropReason::NeighHoldFull,
        DropReason::NeighUnresolved,
        DropReason::ArpIgnored,
        DropReason::Consumed,
    ];

    /// The counter name.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Truncated => "truncated",
            DropReason::BadVersion => "bad_version",
            DropReason::BadIhl => "bad_ihl",
            DropReason::BadTotalLength => "bad_total_length",
            DropReason::BadChecksum => "bad_checksum",
            DropReason::TtlExpired => "ttl_expired",
            DropReason::NoRoute => "no_route",
            DropReason::AclDenied => "acl_denied",
            DropReason::BadPort => "bad_port",
            DropReason::UnsupportedEthertype => "unsupported_ethertype",
            DropReason::NotForwardable => "not_forwardable",
            DropReason::LocalUnhandled => "local_unhandled",
            DropReason::NeighHoldFull => "neigh_hold_full",
            DropReason::NeighUnresolved => "neigh_unresolved",
            DropReason::ArpIgnored => "arp_nd_ignored",
            DropReason::Consumed => "consumed_by_router",
            DropReason::Other => "other",
        }
    }

    /// The engine's drop-reason index ([`ferroplane::Worker::drop_reasons`] order; `Other` maps
    /// to the engine's own "other").
    pub fn index(self) -> usize {
        Self::ALL
            .iter()
            .position(|r| *r == self)
            .unwrap_or(usize::MAX)
    }
}

/// Router-mode event counters of one lcore (written by its lcore, read by anyone).
#[derive(Debug, Default)]
#[repr(align(64))]
pub struct RouterCounters {
    /// ARP replies sent for our addresses.
    pub arp_replies: AtomicU64,
    /// ARP requests sent to resolve next hops (first and retries).
    pub arp_requests: AtomicU64,
    /// Neighbour advertisements sent for our addresses.
    pub na_sent: AtomicU64,
    /// Neighbour solicitations sent to resolve next hops.
    pub ns_sent: AtomicU64,
    /// Neighbours learnt or refreshed (ARP or ND).
    pub neigh_learned: AtomicU64,
    /// Packets held waiting for a neighbour.
    pub held: AtomicU64,
    /// Held packets sent once their neighbour answered.
    pub released: AtomicU64,
    /// ICMP / ICMPv6 echo replies sent.
    pub echo_replies: AtomicU64,
    /// ICMP time exceeded sent.
    pub time_exceeded: AtomicU64,
    /// ICMP destination unreachable sent.
    pub unreachable: AtomicU64,
    /// ICMP errors not sent because of the rate limit.
    pub icmp_rate_limited: AtomicU64,
    /// Replies not sent for lack of an mbuf.
    pub alloc_failed: AtomicU64,
}

impl RouterCounters {
    /// Adds one (single writer: load + store, no locked instruction).
    #[inline]
    pub fn inc(c: &AtomicU64) {
        c.store(c.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// `(name, value)` pairs.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        vec![
            ("arp_replies", g(&self.arp_replies)),
            ("arp_requests", g(&self.arp_requests)),
            ("na_sent", g(&self.na_sent)),
            ("ns_sent", g(&self.ns_sent)),
            ("neigh_learned", g(&self.neigh_learned)),
            ("held", g(&self.held)),
            ("released", g(&self.released)),
            ("echo_replies", g(&self.echo_replies)),
            ("time_exceeded", g(&self.time_exceeded)),
            ("unreachable", g(&self.unreachable)),
            ("icmp_rate_limited", g(&self.icmp_rate_limited)),
            ("alloc_failed", g(&self.alloc_failed)),
        ]
    }
}
