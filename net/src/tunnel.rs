//! Tunnel headers: VXLAN (RFC 7348) and GRE (RFC 2784 / RFC 2890).
//!
//! VXLAN is an 8-byte header after UDP (destination port [`VXLAN_PORT`]) carrying a 24-bit
//! network identifier and the inner Ethernet frame. GRE is 4 bytes (flags/version and the
//! protocol of the payload as an EtherType) plus optional checksum, key and sequence words.

use crate::checksum;
use crate::error::{BuildError, Layer, ParseError, truncated};

/// IANA UDP port for VXLAN.
pub const VXLAN_PORT: u16 = 4789;
/// Length of the VXLAN header.
pub const VXLAN_HEADER_LEN: usize = 8;
/// VXLAN "I" flag: the VNI is valid.
pub const VXLAN_FLAG_VNI: u8 = 0x08;

/// A view over a VXLAN header and the inner frame after it.
#[derive(Debug, Clone)]
pub struct VxlanPacket<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> VxlanPacket<T> {
    /// Wraps `buffer` (the UDP payload), checking it holds the 8-byte header.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let len = buffer.as_ref().len();
        if len < VXLAN_HEADER_LEN {
            return Err(truncated(Layer::Vxlan, VXLAN_HEADER_LEN, len));
        }
        Ok(VxlanPacket { buffer })
    }
    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    /// Flags byte.
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[0]
    }
    /// `true` if the I flag says the VNI is valid.
    #[inline]
    pub fn has_vni(&self) -> bool {
        self.flags() & VXLAN_FLAG_VNI != 0
    }
    /// VXLAN network identifier (24 bits).
    #[inline]
    pub fn vni(&self) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([0, b[4], b[5], b[6]])
    }
    /// The inner Ethernet frame.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[VXLAN_HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VxlanPacket<T> {
    /// Sets the VNI (and the I flag).
    #[inline]
    pub fn set_vni(&mut self, vni: u32) {
        let b = self.buffer.as_mut();
        b[0] |= VXLAN_FLAG_VNI;
        b[4..7].copy_from_slice(&vni.to_be_bytes()[1..]);
    }
    /// The inner frame, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[VXLAN_HEADER_LEN..]
    }
}

/// Parsed VXLAN header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VxlanRepr {
    /// Network identifier (24 bits).
    pub vni: u32,
}

impl VxlanRepr {
    /// Reads a checked header (the VNI regardless of the I flag).
    pub fn parse<T: AsRef<[u8]>>(p: &VxlanPacket<T>) -> Self {
        VxlanRepr { vni: p.vni() }
    }
    /// Header length (8).
    pub const fn header_len(&self) -> usize {
        VXLAN_HEADER_LEN
    }
    /// Writes the header (I flag set) to the front of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, BuildError> {
        let avail = buf.len();
        let h = buf
            .get_mut(..VXLAN_HEADER_LEN)
            .ok_or(BuildError::BufferTooSmall {
                needed: VXLAN_HEADER_LEN,
                available: avail,
            })?;
        h.fill(0);
        h[0] = VXLAN_FLAG_VNI;
        h[4..7].copy_from_slice(&(self.vni & 0xff_ffff).to_be_bytes()[1..]);
        Ok(VXLAN_HEADER_LEN)
    }
}

const GRE_C: u16 = 0x8000;
const GRE_R: u16 = 0x4000;
const GRE_K: u16 = 0x2000;
const GRE_S: u16 = 0x1000;
const GRE_VERSION: u16 = 0x0007;
/// Length of the GRE base header.
pub const GRE_BASE_LEN: usize = 4;

/// A view over a GRE header and its payload.
#[derive(Debug, Clone)]
pub struct GrePacket<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> GrePacket<T> {
    /// Wraps `buffer` (the IP payload), validating version 0, the routing bit clear, and that
    /// the optional fields fit.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let b = buffer.as_ref();
        if b.len() < GRE_BASE_LEN {
            return Err(truncated(Layer::Gre, GRE_BASE_LEN, b.len()));
        }
        let fv = u16::from_be_bytes([b[0], b[1]]);
        if fv & (GRE_VERSION | GRE_R) != 0 {
            return Err(ParseError::GreUnsupported(fv));
        }
        let hl = gre_header_len(fv);
        if b.len() < hl {
            return Err(truncated(Layer::Gre, hl, b.len()));
        }
        Ok(GrePacket { buffer })
    }
    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    fn flags_version(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[0], b[1]])
    }
    fn word(&self, at: usize) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }
    /// Header length with the optional fields.
    #[inline]
    pub fn header_len(&self) -> usize {
        gre_header_len(self.flags_version())
    }
    /// EtherType of the payload.
    #[inline]
    pub fn protocol(&self) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_be_bytes([b[2], b[3]])
    }
    /// `true` if the checksum field is present.
    #[inline]
    pub fn has_checksum(&self) -> bool {
        self.flags_version() & GRE_C != 0
    }
    /// The checksum field, if present.
    #[inline]
    pub fn checksum(&self) -> Option<u16> {
        self.has_checksum().then(|| (self.word(4) >> 16) as u16)
    }
    /// The key, if present.
    #[inline]
    pub fn key(&self) -> Option<u32> {
        let fv = self.flags_version();
        (fv & GRE_K != 0).then(|| self.word(GRE_BASE_LEN + if fv & GRE_C != 0 { 4 } else { 0 }))
    }
    /// The sequence number, if present.
    #[inline]
    pub fn seq(&self) -> Option<u32> {
        let fv = self.flags_version();
        (fv & GRE_S != 0).then(|| self.word(gre_header_len(fv) - 4))
    }
    /// `true` if there is no checksum or it is valid (it covers header and payload).
    pub fn verify_checksum(&self) -> bool {
        !self.has_checksum() || checksum::verify(self.buffer.as_ref())
    }
    /// The payload after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

fn gre_header_len(fv: u16) -> usize {
    GRE_BASE_LEN
        + if fv & GRE_C != 0 { 4 } else { 0 }
        + if fv & GRE_K != 0 { 4 } else { 0 }
        + if fv & GRE_S != 0 { 4 } else { 0 }
}

/// Parsed GRE header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GreRepr {
    /// EtherType of the payload.
    pub protocol: u16,
    /// Whether to carry a checksum (computed over header and payload by [`Self::emit`]).
    pub checksum: bool,
    /// Key.
    pub key: Option<u32>,
    /// Sequence number.
    pub seq: Option<u32>,
}

impl GreRepr {
    /// Reads a checked header.
    pub fn parse<T: AsRef<[u8]>>(p: &GrePacket<T>) -> Self {
        GreRepr {
            protocol: p.protocol(),
            checksum: p.has_checksum(),
            key: p.key(),
            seq: p.seq(),
        }
    }
    /// Header length.
    pub fn header_len(&self) -> usize {
        GRE_BASE_LEN
            + 4 * (self.checksum as usize
                + self.key.is_some() as usize
                + self.seq.is_some() as usize)
    }
    /// Writes the header to the front of `buf`; if `checksum` is set, `buf` must hold exactly
    /// header and payload (already in place), since the checksum covers both.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, BuildError> {
        let hl = self.header_len();
        if buf.len() < hl {
            return Err(BuildError::BufferTooSmall {
                needed: hl,
                available: buf.len(),
            });
        }
        let mut fv = 0u16;
        let mut at = GRE_BASE_LEN;
        if self.checksum {
            fv |= GRE_C;
            buf[at..at + 4].fill(0);
            at += 4;
        }
        if let Some(k) = self.key {
            fv |= GRE_K;
            buf[at..at + 4].copy_from_slice(&k.to_be_bytes());
            at += 4;
        }
        if let Some(s) = self.seq {
            fv |= GRE_S;
            buf[at..at + 4].copy_from_slice(&s.to_be_bytes());
        }
        buf[..2].copy_from_slice(&fv.to_be_bytes());
        buf[2..4].copy_from_slice(&self.protocol.to_be_bytes());
        if self.checksum {
            let c = checksum::checksum(buf);
            buf[4..6].copy_from_slice(&c.to_be_bytes());
        }
        Ok(hl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vxlan_round_trip() {
        let mut b = [0u8; 12];
        VxlanRepr { vni: 0xabcdef }.emit(&mut b).unwrap();
        assert_eq!(&b[..8], &[0x08, 0, 0, 0, 0xab, 0xcd, 0xef, 0]);
        let mut v = VxlanPacket::new_checked(&mut b[..]).unwrap();
        assert!(v.has_vni());
        assert_eq!(v.vni(), 0xabcdef);
        v.set_vni(7);
        assert_eq!(VxlanRepr::parse(&v), VxlanRepr { vni: 7 });
        assert_eq!(v.payload().len(), 4);
        assert!(VxlanPacket::new_checked(&b[..7]).is_err());
    }

    #[test]
    fn gre_optional_fields() {
        for (c, k, s) in [
            (false, None, None),
            (true, Some(9), None),
            (true, Some(1), Some(2)),
            (false, None, Some(5)),
        ] {
            let r = GreRepr {
                protocol: 0x0800,
                checksum: c,
                key: k,
                seq: s,
            };
            let mut b = vec![0u8; r.header_len() + 5];
            b[r.header_len()..].copy_from_slice(b"inner");
            assert_eq!(r.emit(&mut b).unwrap(), r.header_len());
            let g = GrePacket::new_checked(&b[..]).unwrap();
            assert_eq!(GreRepr::parse(&g), r);
            assert!(g.verify_checksum());
            assert_eq!(g.payload(), b"inner");
            if c {
                b[r.header_len()] ^= 1;
                assert!(!GrePacket::new_checked(&b[..]).unwrap().verify_checksum());
            }
            assert!(matches!(
                GrePacket::new_checked(&b[..r.header_len() - 1]),
                Err(ParseError::Truncated { .. })
            ));
        }
        assert_eq!(
            GrePacket::new_checked(&[0, 1, 8, 0][..]).unwrap_err(),
            ParseError::GreUnsupported(1)
        );
        assert_eq!(
            GrePacket::new_checked(&[0x40, 0, 8, 0][..]).unwrap_err(),
            ParseError::GreUnsupported(0x4000)
        );
    }
}
