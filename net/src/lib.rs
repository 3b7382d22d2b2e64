//! The Ferroplane wire layer: zero-copy header views, checksums, packet-type parsing and frame
//! builders.
//!
//! # Layers
//!
//! Like smoltcp's wire module, each protocol has two faces:
//!
//! - a **view** (`EthernetFrame<T>`, `Ipv4Packet<T>`, `UdpPacket<T>`, ...) over a byte buffer
//!   `T: AsRef<[u8]>` (`&[u8]`, `&mut [u8]`, `Vec<u8>`, an mbuf's data). `new_checked` validates
//!   lengths and the fields that bound them once; accessors then read fields in place, and with
//!   `T: AsMut<[u8]>` setters write them in place (the same type serves read-only and mutable
//!   use). Header structs are `#[repr(C)]` zerocopy types with network-endian fields, so a field
//!   read is one unaligned load and a byte swap. Views never own their payload and never copy.
//! - a **representation** (`EthernetRepr`, `Ipv4Repr`, `UdpRepr`, ...): the header's meaning
//!   as plain, `Copy` Rust values, with `parse` (from a checked view) and `emit` (into a
//!   caller's buffer). Reprs carry payload *lengths*, not payloads.
//!
//! Views nest: the payload of an [`ethernet::EthernetFrame`] is handed to an
//! [`ipv4::Ipv4Packet`], whose payload goes to [`udp::UdpPacket`] and so on; the payload of
//! each view excludes padding after the length the header announces.
//!
//! On top of these:
//! - [`checksum`]: the Internet checksum on wide words, pseudo-headers, RFC 1624 updates.
//! - [`ptype`]: one-pass classification of a whole frame (`rte_net_get_ptype` style) into a
//!   [`PacketInfo`] with header lengths, and [`fill_meta`] for mbuf-style metadata.
//! - [`builder`]: complete frames (Ethernet [+VLAN] + IPv4/IPv6 + UDP/TCP/ICMP + payload,
//!   VXLAN-encapsulated too) written into a caller's buffer, and [`builder::FrameTemplate`]
//!   for re-sending a frame with a changed sequence number or timestamp at the cost of a copy
//!   and an incremental checksum fix-up.
//!
//! Bad input is a typed [`ParseError`]; no function here panics on any input.

pub mod arp;
pub mod builder;
pub mod checksum;
pub mod error;
pub mod ethernet;
mod field;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod options;
pub mod ptype;
pub mod tcp;
pub mod tunnel;
pub mod udp;

pub use error::{BuildError, Layer, ParseError};
pub use ethernet::MacAddr;
pub use ptype::{PacketInfo, PacketMeta, fill_meta, parse};
