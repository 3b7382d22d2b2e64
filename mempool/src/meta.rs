//! Mbuf metadata: what a driver and the protocol layers know about a packet.
//!
//! Each mbuf's metadata is 128 bytes (two cache lines) in an array separate from the packet
//! buffers, so writing it never dirties a cache line of packet data. The first cache line holds
//! what every RX/TX touches (buffer address, offsets, lengths, reference count, offload flags,
//! packet type, RSS hash); the second the rest of [`PacketInfo`].

use std::sync::atomic::AtomicU32;

use crate::mbuf::Mbuf;
use crate::pool::PoolInner;

/// Bytes of metadata per mbuf.
pub const META_SIZE: usize = 128;

/// Offload flags (`ol_flags`): RX results reported by a driver and TX requests to it, in the
/// spirit of DPDK's `RTE_MBUF_F_*`. RX flags are in the low 32 bits, TX flags in the high 32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct OffloadFlags(pub u64);

impl OffloadFlags {
    /// No flag.
    pub const NONE: Self = Self(0);
    /// RX: the packet had a VLAN tag (its TCI is in `vlan_tci`).
    pub const RX_VLAN: Self = Self(1 << 0);
    /// RX: the VLAN tag was stripped from the data (its TCI is in `vlan_tci`).
    pub const RX_VLAN_STRIPPED: Self = Self(1 << 1);
    /// RX: `rss_hash` holds a valid RSS hash.
    pub const RX_RSS_HASH: Self = Self(1 << 2);
    /// RX: the IPv4 header checksum was verified good.
    pub const RX_IP_CKSUM_GOOD: Self = Self(1 << 3);
    /// RX: the IPv4 header checksum is wrong.
    pub const RX_IP_CKSUM_BAD: Self = Self(1 << 4);
    /// RX: the L4 (TCP/UDP) checksum was verified good.
    pub const RX_L4_CKSUM_GOOD: Self = Self(1 << 5);
    /// RX: the L4 (TCP/UDP) checksum is wrong.
    pub const RX_L4_CKSUM_BAD: Self = Self(1 << 6);
    /// RX: the outer IPv4 header checksum of a tunnelled packet is wrong.
    pub const RX_OUTER_IP_CKSUM_BAD: Self = Self(1 << 7);
    /// RX: the packet matched a flow-director rule (its id is in `user_data`).
    pub const RX_FDIR: Self = Self(1 << 8);
    /// RX: `timestamp` holds the receive time.
    pub const RX_TIMESTAMP: Self = Self(1 << 9);
    /// TX: insert a VLAN tag with `vlan_tci`.
    pub const TX_VLAN: Self = Self(1 << 32);
    /// TX: the packet is IPv4 (needed with the checksum requests).
    pub const TX_IPV4: Self = Self(1 << 33);
    /// TX: the packet is IPv6.
    pub const TX_IPV6: Self = Self(1 << 34);
    /// TX: compute the IPv4 header checksum (uses `l2_len`, `l3_len`).
    pub const TX_IP_CKSUM: Self = Self(1 << 35);
    /// TX: compute the TCP checksum (uses `l2_len`, `l3_len`).
    pub const TX_TCP_CKSUM: Self = Self(1 << 36);
    /// TX: compute the UDP checksum (uses `l2_len`, `l3_len`).
    pub const TX_UDP_CKSUM: Self = Self(1 << 37);
    /// TX: TCP segmentation offload (uses `l2_len`, `l3_len`, `l4_len`).
    pub const TX_TCP_SEG: Self = Self(1 << 38);
    /// TX: compute the outer IPv4 checksum of a tunnelled packet.
    pub const TX_OUTER_IP_CKSUM: Self = Self(1 << 39);
    /// TX: the packet is VXLAN-encapsulated.
    pub const TX_TUNNEL_VXLAN: Self = Self(1 << 40);
    /// Mask of the RX flags.
    pub const RX_MASK: Self = Self(0xffff_ffff);
    /// Mask of the TX flags.
    pub const TX_MASK: Self = Self(0xffff_ffff << 32);

    /// The raw bits.
    #[inline]
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// Whether every flag of `other` is set.
    #[inline]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any flag of `other` is set.
    #[inline]
    pub const fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    /// Sets the flags of `other`.
    #[inline]
    pub fn insert(&mut self, other: Self) {
        self.0 |= other.0;
    }

    /// Clears the flags of `other`.
    #[inline]
    pub fn remove(&mut self, other: Self) {
        self.0 &= !other.0;
    }

    /// Whether no flag is set.
    #[inline]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl std::ops::BitOr for OffloadFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl std::ops::BitOrAssign for OffloadFlags {
    fn bitor_assign(&mut self, rhs: Self) {
        self.0 |= rhs.0;
    }
}

impl std::ops::BitAnd for OffloadFlags {
    type Output = Self;
    fn bitand(self, rhs: Self) -> Self {
        Self(self.0 & rhs.0)
    }
}

/// Packet type values (`packet_type`), with DPDK's `RTE_PTYPE_*` layout: one nibble each for
/// L2, L3, L4, tunnel, inner L2, inner L3 and inner L4. The constants are ferroplane-net's,
/// which fills them ([`Mbuf::parse_packet_type`](crate::Mbuf::parse_packet_type)).
pub use ferroplane_net::ptype::ptype;

/// What is known about a packet, beyond its buffer: filled by drivers and parsers, read by
/// everyone. Reset to the default (all zero) when the mbuf is freed.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PacketInfo {
    /// Offload flags: RX results and TX requests.
    pub ol_flags: OffloadFlags,
    /// Packet type, see [`ptype`].
    pub packet_type: u32,
    /// RSS hash (valid with [`OffloadFlags::RX_RSS_HASH`]).
    pub rss_hash: u32,
    /// Input port (RX) or the port it is meant for.
    pub port: u16,
    /// RX queue it arrived on.
    pub queue: u16,
    /// VLAN tag control information (with `RX_VLAN`/`RX_VLAN_STRIPPED`/`TX_VLAN`).
    pub vlan_tci: u16,
    /// L2 header length in bytes.
    pub l2_len: u16,
    /// L3 header length in bytes.
    pub l3_len: u16,
    /// L4 header length in bytes.
    pub l4_len: u16,
    /// Outer L2 header length of a tunnelled packet (0 otherwise), as DPDK's `outer_l2_len`.
    pub outer_l2_len: u16,
    /// Outer L3 header length of a tunnelled packet (0 otherwise), as DPDK's `outer_l3_len`.
    pub outer_l3_len: u16,
    /// Outer VLAN TCI of a QinQ frame (0 otherwise), as DPDK's `vlan_tci_outer`.
    pub vlan_tci_outer: u16,
    /// Free for the application.
    pub user_data: u64,
    /// Receive timestamp (nanoseconds, with [`OffloadFlags::RX_TIMESTAMP`]).
    pub timestamp: u64,
}

/// The metadata of one mbuf. Written only by the unique owner of the mbuf; while the mbuf is
/// shared (reference count above 1) it is read-only except for the reference count.
#[repr(C, align(64))]
pub(crate) struct MbufMeta {
    // First cache line: everything RX/TX and free touch.
    /// The pool this mbuf belongs to (lives as long as any of its mbufs).
    pub(crate) pool: *const PoolInner,
    /// Start of the chunk (the buffer).
    pub(crate) buf_addr: *mut u8,
    /// Next segment, owned by this one.
    pub(crate) next: Option<Mbuf>,
    /// Index of the chunk in the pool's region.
    pub(crate) chunk_index: u32,
    /// Bytes in this segment and all after it (meaningful on the first segment).
    pub(crate) pkt_len: u32,
    /// Number of handles and chain links owning this segment.
    pub(crate) refcnt: AtomicU32,
    /// Offset of the data from the start of the buffer.
    pub(crate) data_off: u16,
    /// Bytes of data in this segment.
    pub(crate) data_len: u16,
    /// Usable bytes of the buffer (headroom + data room).
    pub(crate) buf_len: u16,
    /// Segments in the chain starting here (meaningful on the first segment).
    pub(crate) nb_segs: u16,
    /// The pool's headroom: `data_off` after a reset.
    pub(crate) default_data_off: u16,
    pub(crate) info: PacketInfo,
}

/// `ferroplane_net::fill_meta` writes packet metadata through this (see
/// [`Mbuf::parse_packet_type`]). The lengths follow DPDK's TX-offload convention: for a tunnel,
/// `outer_l2/outer_l3` are the outer headers and `l2_len` spans outer L4 + tunnel + inner L2.
impl ferroplane_net::PacketMeta for PacketInfo {
    #[inline]
    fn set_packet_type(&mut self, ptype: u32) {
        self.packet_type = ptype;
    }
    #[inline]
    fn set_l2_len(&mut self, len: u16) {
        self.l2_len = len;
    }
    #[inline]
    fn set_l3_len(&mut self, len: u16) {
        self.l3_len = len;
    }
    #[inline]
    fn set_l4_len(&mut self, len: u16) {
        self.l4_len = len;
    }
    #[inline]
    fn set_outer_l2_len(&mut self, len: u16) {
        self.outer_l2_len = len;
    }
    #[inline]
    fn set_outer_l3_len(&mut self, len: u16) {
        self.outer_l3_len = len;
    }
    #[inline]
    fn set_vlan_tci(&mut self, tci: u16) {
        // A tag the driver stripped is not in the data: keep the TCI it reported.
        if !self.ol_flags.contains(OffloadFlags::RX_VLAN_STRIPPED) {
            self.vlan_tci = tci;
        }
    }
    #[inline]
    fn set_vlan_tci_outer(&mut self, tci: u16) {
        self.vlan_tci_outer = tci;
    }
}

const _: () = assert!(std::mem::size_of::<MbufMeta>() == META_SIZE);
const _: () = assert!(std::mem::align_of::<MbufMeta>() == 64);
const _: () = assert!(
    std::mem::offset_of!(MbufMeta, info) + 16 <= 64,
    "hot fields on line 0"
);
