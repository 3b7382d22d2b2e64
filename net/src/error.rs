//! Typed errors for malformed frames and for builders given a buffer that is too small.

use thiserror::Error;

/// The protocol layer a [`ParseError`] refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    /// Ethernet II header.
    Ethernet,
    /// 802.1Q / 802.1ad tag.
    Vlan,
    /// ARP (Ethernet/IPv4).
    Arp,
    /// IPv4 header.
    Ipv4,
    /// IPv6 fixed header.
    Ipv6,
    /// An IPv6 extension header.
    Ipv6Extension,
    /// UDP header.
    Udp,
    /// TCP header.
    Tcp,
    /// SCTP common header.
    Sctp,
    /// ICMPv4 message.
    Icmpv4,
    /// ICMPv6 message.
    Icmpv6,
    /// NDP option inside an ICMPv6 message.
    NdpOption,
    /// VXLAN header.
    Vxlan,
    /// GRE header.
    Gre,
}

impl core::fmt::Display for Layer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self, f)
    }
}

/// Why a frame (or one of its headers) could not be parsed.
///
/// Every malformed input maps to one of these; no parser in this crate panics or reads out of
/// bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum ParseError {
    /// The bytes left are fewer than the header (or fixed part) needs.
    #[error("{layer} truncated: need {needed} bytes, have {available}")]
    Truncated {
        /// Layer whose header is cut short.
        layer: Layer,
        /// Bytes the header needs.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// IPv4 version field is not 4.
    #[error("IPv4 header has version {0}, expected 4")]
    Ipv4Version(u8),
    /// IPv4 IHL below 5 (20 bytes).
    #[error("IPv4 IHL {0} is below the minimum of 5")]
    Ipv4IhlTooSmall(u8),
    /// IPv4 total length smaller than the header length.
    #[error("IPv4 total length {total_len} is smaller than the header length {header_len}")]
    Ipv4TotalLengthTooSmall {
        /// Total length field.
        total_len: u16,
        /// Header length from IHL.
        header_len: usize,
    },
    /// IPv4 total length larger than the bytes present.
    #[error("IPv4 total length {total_len} exceeds the {available} bytes present")]
    Ipv4TotalLengthBeyondFrame {
        /// Total length field.
        total_len: u16,
        /// Bytes available from the start of the IPv4 header.
        available: usize,
    },
    /// IPv6 version field is not 6.
    #[error("IPv6 header has version {0}, expected 6")]
    Ipv6Version(u8),
    /// IPv6 payload length larger than the bytes present.
    #[error("IPv6 payload length {payload_len} exceeds the {available} bytes present")]
    Ipv6PayloadBeyondFrame {
        /// Payload length field.
        payload_len: u16,
        /// Bytes available after the fixed header.
        available: usize,
    },
    /// An IPv6 extension header runs past the end of the payload.
    #[error("IPv6 extension header {next_header} truncated: need {needed} bytes, have {available}")]
    Ipv6ExtensionTruncated {
        /// Protocol number of the extension header.
        next_header: u8,
        /// Bytes the extension header needs.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// A hop-by-hop options header that is not directly after the fixed header (RFC 8200 4.1).
    #[error("IPv6 hop-by-hop options header found after another extension header")]
    Ipv6HopByHopNotFirst,
    /// An authentication header whose payload length field is 0 (less than its fixed 12 bytes).
    #[error("authentication header payload length {0} is below the minimum of 1")]
    AuthHeaderLength(u8),
    /// TCP data offset below 5 words.
    #[error("TCP data offset {0} is below the minimum of 5")]
    TcpDataOffsetTooSmall(u8),
    /// TCP data offset past the end of the segment.
    #[error(
        "TCP header length {header_len} (data offset) exceeds the {available} bytes of the segment"
    )]
    TcpDataOffsetBeyondSegment {
        /// Header length from the data offset.
        header_len: usize,
        /// Bytes of the segment.
        available: usize,
    },
    /// UDP length field smaller than 8 (and not 0) or larger than the IP payload.
    #[error("UDP length {length} invalid for {available} bytes of IP payload")]
    UdpLength {
        /// Length field.
        length: u16,
        /// Bytes of IP payload.
        available: usize,
    },
    /// ARP with a hardware/protocol combination other than Ethernet/IPv4.
    #[error(
        "ARP htype {htype:#06x} ptype {ptype:#06x} hlen {hlen} plen {plen} is not Ethernet/IPv4"
    )]
    ArpUnsupported {
        /// Hardware type.
        htype: u16,
        /// Protocol type.
        ptype: u16,
        /// Hardware address length.
        hlen: u8,
        /// Protocol address length.
        plen: u8,
    },
    /// GRE version other than 0, or the deprecated routing bit set.
    #[error("GRE flags/version {0:#06x} unsupported (version must be 0, routing bit clear)")]
    GreUnsupported(u16),
    /// An NDP option with length 0 (RFC 4861 4.6: must be silently discarded).
    #[error("NDP option type {0} has length 0")]
    NdpOptionZeroLength(u8),
    /// The message is not of the type the accessor expects.
    #[error("{layer} message type {msg_type} is not the expected kind")]
    UnexpectedType {
        /// Layer.
        layer: Layer,
        /// Type found.
        msg_type: u8,
    },
}

/// Why a builder or `emit` could not write a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum BuildError {
    /// The caller's buffer is shorter than the frame.
    #[error("buffer of {available} bytes too small for a {needed}-byte frame")]
    BufferTooSmall {
        /// Bytes the frame needs.
        needed: usize,
        /// Bytes in the buffer.
        available: usize,
    },
    /// A length field would overflow (e.g. IPv4 total length above 65535).
    #[error("{layer} length {len} does not fit its length field")]
    LengthOverflow {
        /// Layer whose length field overflows.
        layer: Layer,
        /// Length that does not fit.
        len: usize,
    },
    /// Header options whose length is not a multiple of 4 or exceeds 40 bytes.
    #[error("options length {0} is not a multiple of 4 up to 40")]
    BadOptionsLength(usize),
}

/// Shorthand for a truncation error.
#[inline]
pub(crate) fn truncated(layer: Layer, needed: usize, available: usize) -> ParseError {
    ParseError::Truncated {
        layer,
        needed,
        available,
    }
}
