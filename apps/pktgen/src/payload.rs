//! The measurement payload every generated frame carries, and the receiver's sequence tracker.
//!
//! Layout at the innermost payload offset (18 bytes, big-endian):
//!
//! | bytes | field |
//! |---|---|
//! | 0..2 | signature `0xFE 0xB6` |
//! | 2..10 | stream id (16 bits) << 48 \| sequence number (48 bits) |
//! | 10..18 | TSC at transmission (0: no timestamp) |
//!
//! A stream is one (TX port, TX queue) pair; its sequence numbers start at 0 and count every
//! frame it sends, so the receiver can tell loss, duplicates and reordering per stream.

/// Length of the payload header.
pub const SIG_LEN: usize = 18;
/// The signature bytes.
pub const SIGNATURE: [u8; 2] = [0xfe, 0xb6];
/// Bits of sequence number in the id word.
pub const SEQ_BITS: u32 = 48;
/// Mask of the sequence number.
pub const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;

/// What a receiver reads back from a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Stream id.
    pub stream: u16,
    /// Sequence number.
    pub seq: u64,
    /// TSC at transmission (0 if none).
    pub tsc: u64,
}

/// The 16 bytes written per packet after the signature.
#[inline]
pub fn encode(stream: u16, seq: u64, tsc: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&(((stream as u64) << SEQ_BITS) | (seq & SEQ_MASK)).to_be_bytes());
    b[8..].copy_from_slice(&tsc.to_be_bytes());
    b
}

/// Reads a stamp from a frame, locating the payload by parsing the headers. `None` if the frame
/// is not one of ours.
#[inline]
pub fn decode(frame: &[u8]) -> Option<Stamp> {
    let info = ferroplane_net::parse(frame).ok()?;
    decode_at(frame, info.payload_offset())
}

/// Reads a stamp at a known payload offset.
#[inline]
pub fn decode_at(frame: &[u8], off: usize) -> Option<Stamp> {
    let p = frame.get(off..off + SIG_LEN)?;
    if p[..2] != SIGNATURE {
        return None;
    }
    let id = u64::from_be_bytes(p[2..10].try_into().ok()?);
    let tsc = u64::from_be_bytes(p[10..18].try_into().ok()?);
    Some(Stamp {
        stream: (id >> SEQ_BITS) as u16,
        seq: id & SEQ_MASK,
        tsc,
    })
}

/// Bits of history the tracker keeps behind the highest sequence number seen.
pub const WINDOW: u64 = 4096;

/// Per-stream sequence accounting with a bitmap window (RFC 4737 style counters).
///
/// - *duplicate*: a number seen before (within the window);
/// - *reordered*: a new number lower than the highest seen;
/// - *lost*: numbers below the highest seen that never arrived (numbers start at 0; frames
///   lost after the last one received are found by comparing with the TX count).
///
/// A number further than [`WINDOW`] behind the highest is counted as reordered and as
/// `late` (it cannot be checked for duplication).
#[derive(Debug, Clone)]
pub struct SeqTracker {
    bits: Box<[u64; (WINDOW / 64) as usize]>,
    max: Option<u64>,
    unique: u64,
    duplicates: u64,
    reordered: u64,
    late: u64,
}

impl Default for SeqTracker {
    fn default() -> Self {
        Self::new()
    }
}

impl SeqTracker {
    /// An empty tracker.
    pub fn new() -> Self {
        SeqTracker {
            bits: Box::new([0; (WINDOW / 64) as usize]),
            max: None,
            unique: 0,
            duplicates: 0,
            reordered: 0,
            late: 0,
        }
    }

    #[inline]
    fn bit(&mut self, seq: u64) -> (usize, u64) {
        (((seq % WINDOW) / 64) as usize, 1u64 << (seq % 64))
    }

    /// Accounts one received sequence number.
    #[inline]
    pub fn record(&mut self, seq: u64) {
        let max = match self.max {
            None => {
                self.max = Some(seq);
                let (w, m) = self.bit(seq);
                self.bits[w] |= m;
                self.unique += 1;
                return;
            }
            Some(m) => m,
        };
        if seq > max {
            // Clear the slots the window slides over, then mark.
            let gap = seq - max;
            if gap >= WINDOW {
                self.bits.fill(0);
            } else {
                for s in max + 1..=seq {
                    let (w, m) = self.bit(s);
                    self.bits[w] &= !m;
                }
            }
            let (w, m) = self.bit(seq);
            self.bits[w] |= m;
            self.max = Some(seq);
            self.unique += 1;
        } else if max - seq >= WINDOW {
            self.late += 1;
            self.reordered += 1;
            self.unique += 1;
        } else {
            let (w, m) = self.bit(seq);
            if self.bits[w] & m != 0 {
                self.duplicates += 1;
            } else {
                self.bits[w] |= m;
                self.reordered += 1;
                self.unique += 1;
            }
        }
    }

    /// Distinct numbers received.
    pub fn unique(&self) -> u64 {
        self.unique
    }
    /// Duplicates received.
    pub fn duplicates(&self) -> u64 {
        self.duplicates
    }
    /// Numbers that arrived after a higher one.
    pub fn reordered(&self) -> u64 {
        self.reordered
    }
    /// Reordered numbers too old for the window.
    pub fn late(&self) -> u64 {
        self.late
    }
    /// Highest number received.
    pub fn max(&self) -> Option<u64> {
        self.max
    }
    /// Numbers up to the highest one received that are missing.
    pub fn lost(&self) -> u64 {
        self.max.map_or(0, |m| (m + 1).saturating_sub(self.unique))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_round_trips() {
        let mut f = vec![0u8; 40];
        f[10..12].copy_from_slice(&SIGNATURE);
        f[12..28].copy_from_slice(&encode(513, 0x1234_5678_9abc, 77));
        let s = decode_at(&f, 10).unwrap();
        assert_eq!((s.stream, s.seq, s.tsc), (513, 0x1234_5678_9abc, 77));
        assert_eq!(decode_at(&f, 11), None);
        assert_eq!(decode_at(&f, 30), None);
    }

    #[test]
    fn in_order_stream_is_clean() {
        let mut t = SeqTracker::new();
        for s in 0..10_000 {
            t.record(s);
        }
        assert_eq!(
            (t.unique(), t.lost(), t.duplicates(), t.reordered()),
            (10_000, 0, 0, 0)
        );
    }

    #[test]
    fn detects_loss_duplicates_and_reordering() {
        let mut t = SeqTracker::new();
        // 0..100 with 10 and 20..25 lost, 30 duplicated twice, 40/41 swapped.
        for s in 0..100u64 {
            match s {
                10 | 20..25 => {}
                30 => {
                    t.record(30);
                    t.record(30);
                    t.record(30);
                }
                40 => t.record(41),
                41 => t.record(40),
                _ => t.record(s),
            }
        }
        assert_eq!(t.lost(), 6);
        assert_eq!(t.duplicates(), 2);
        assert_eq!(t.reordered(), 1);
        assert_eq!(t.unique(), 94);
        // A late arrival of a lost one fills the hole.
        t.record(10);
        assert_eq!((t.lost(), t.reordered()), (5, 2));
    }

    #[test]
    fn window_slides_and_old_numbers_are_late() {
        let mut t = SeqTracker::new();
        t.record(0);
        t.record(WINDOW * 3);
        // Slot of 0 was cleared by the slide, so a late 0 is not a duplicate.
        t.record(0);
        assert_eq!((t.late(), t.duplicates()), (1, 0));
        // A duplicate inside the window after a long slide is still caught.
        t.record(WINDOW * 3 - 5);
        t.record(WINDOW * 3 - 5);
        assert_eq!(t.duplicates(), 1);
        assert_eq!(t.max(), Some(WINDOW * 3));
    }
}
