//! The classic pcap file format (not pcapng): a reader for microsecond and nanosecond files of
//! either byte order, and a writer of nanosecond files (magic `0xa1b23c4d`) that tcpdump,
//! tshark and Wireshark open.

use std::io::{self, Read, Write};

/// Magic of a microsecond-resolution file.
pub const MAGIC_MICROS: u32 = 0xa1b2_c3d4;
/// Magic of a nanosecond-resolution file.
pub const MAGIC_NANOS: u32 = 0xa1b2_3c4d;
/// Link type of Ethernet frames.
pub const LINKTYPE_ETHERNET: u32 = 1;
/// The snapshot length we write and the largest record we accept.
pub const MAX_SNAPLEN: u32 = 262_144;

/// Error reading a pcap file.
#[derive(Debug, thiserror::Error)]
pub enum PcapError {
    /// An I/O error.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The file does not start with a pcap magic number.
    #[error("not a pcap file (magic 0x{0:08x}; pcapng is not supported)")]
    BadMagic(u32),
    /// The file's link type is not Ethernet.
    #[error("link type {0} is not Ethernet (1)")]
    LinkType(u32),
    /// The file ends inside a header or record.
    #[error("file truncated inside {0}")]
    Truncated(&'static str),
    /// A record claims an impossible length.
    #[error(
        "record {index} has captured length {incl_len} (snaplen {snaplen}, original length {orig_len})"
    )]
    BadRecordLength {
        /// Record number, from 0.
        index: u64,
        /// Captured length.
        incl_len: u32,
        /// Original length.
        orig_len: u32,
        /// The file's snapshot length.
        snaplen: u32,
    },
}

/// One record's header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordHeader {
    /// Timestamp in nanoseconds since the Unix epoch.
    pub ts_nanos: u64,
    /// Bytes captured (the record's data length).
    pub incl_len: u32,
    /// The frame's length on the wire.
    pub orig_len: u32,
}

/// Reads records from a pcap stream.
pub struct PcapReader<R: Read> {
    inner: R,
    swapped: bool,
    nanos: bool,
    snaplen: u32,
    index: u64,
}

fn read_exact_or_eof<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

impl<R: Read> PcapReader<R> {
    /// Reads and checks the file header.
    pub fn new(mut inner: R) -> Result<Self, PcapError> {
        let mut h = [0u8; 24];
        if read_exact_or_eof(&mut inner, &mut h)? != 24 {
            return Err(PcapError::Truncated("the file header"));
        }
        let magic = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let (swapped, nanos) = match magic {
            MAGIC_MICROS => (false, false),
            MAGIC_NANOS => (false, true),
            m if m.swap_bytes() == MAGIC_MICROS => (true, false),
            m if m.swap_bytes() == MAGIC_NANOS => (true, true),
            m => return Err(PcapError::BadMagic(m)),
        };
        let rd = |o: usize| {
            let v = u32::from_le_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
            if swapped { v.swap_bytes() } else { v }
        };
        let snaplen = rd(16);
        let linktype = rd(20) & 0x0fff_ffff; // upper bits carry FCS info
        if linktype != LINKTYPE_ETHERNET {
            return Err(PcapError::LinkType(linktype));
        }
        Ok(PcapReader {
            inner,
            swapped,
            nanos,
            snaplen: if snaplen == 0 { MAX_SNAPLEN } else { snaplen },
            index: 0,
        })
    }

    /// Whether the file has nanosecond timestamps.
    pub fn is_nanosecond(&self) -> bool {
        self.nanos
    }

    /// The file's snapshot length.
    pub fn snaplen(&self) -> u32 {
        self.snaplen
    }

    /// Reads the next record's header; `Ok(None)` at a clean end of file. The caller must then
    /// read the data with [`read_data`](Self::read_data) or skip it with
    /// [`skip_data`](Self::skip_data).
    pub fn next_header(&mut self) -> Result<Option<RecordHeader>, PcapError> {
        let mut h = [0u8; 16];
        match read_exact_or_eof(&mut self.inner, &mut h)? {
            0 => return Ok(None),
            16 => {}
            _ => return Err(PcapError::Truncated("a record header")),
        }
        let rd = |o: usize| {
            let v = u32::from_le_bytes([h[o], h[o + 1], h[o + 2], h[o + 3]]);
            if self.swapped { v.swap_bytes() } else { v }
        };
        let (sec, frac, incl_len, orig_len) = (rd(0), rd(4), rd(8), rd(12));
        // Some writers record a snaplen smaller than their records; only reject absurd sizes.
        if incl_len > MAX_SNAPLEN.max(self.snaplen) {
            return Err(PcapError::BadRecordLength {
                index: self.index,
                incl_len,
                orig_len,
                snaplen: self.snaplen,
            });
        }
        self.index += 1;
        let frac_ns = if self.nanos {
            frac as u64
        } else {
            frac as u64 * 1000
        };
        Ok(Some(RecordHeader {
            ts_nanos: sec as u64 * 1_000_000_000 + frac_ns,
            incl_len,
            orig_len,
        }))
    }

    /// Reads a record's data (exactly `buf.len()` bytes, which must be the header's `incl_len`).
    pub fn read_data(&mut self, buf: &mut [u8]) -> Result<(), PcapError> {
        if read_exact_or_eof(&mut self.inner, buf)? != buf.len() {
            return Err(PcapError::Truncated("record data"));
        }
        Ok(())
    }

    /// Skips `len` bytes of record data.
    pub fn skip_data(&mut self, len: u32) -> Result<(), PcapError> {
        let n = io::copy(&mut (&mut self.inner).take(len as u64), &mut io::sink())?;
        if n != len as u64 {
            return Err(PcapError::Truncated("record data"));
        }
        Ok(())
    }

    /// Reads the next record into a new vector; `Ok(None)` at the end.
    pub fn next_record(&mut self) -> Result<Option<(RecordHeader, Vec<u8>)>, PcapError> {
        let Some(h) = self.next_header()? else {
            return Ok(None);
        };
        let mut data = vec![0u8; h.incl_len as usize];
        self.read_data(&mut data)?;
        Ok(Some((h, data)))
    }
}

/// Writes a nanosecond-resolution Ethernet pcap stream.
pub struct PcapWriter<W: Write> {
    inner: W,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the file header.
    pub fn new(mut inner: W) -> io::Result<Self> {
        let mut h = [0u8; 24];
        h[0..4].copy_from_slice(&MAGIC_NANOS.to_le_bytes());
        h[4..6].copy_from_slice(&2u16.to_le_bytes());
        h[6..8].copy_from_slice(&4u16.to_le_bytes());
        // thiszone = 0, sigfigs = 0
        h[16..20].copy_from_slice(&MAX_SNAPLEN.to_le_bytes());
        h[20..24].copy_from_slice(&LINKTYPE_ETHERNET.to_le_bytes());
        inner.write_all(&h)?;
        Ok(PcapWriter { inner })
    }

    /// Writes one record made of the concatenation of `parts` (the segments of a frame).
    pub fn write_record(&mut self, ts_nanos: u64, parts: &[&[u8]]) -> io::Result<()> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let incl = self.write_header(ts_nanos, len)?;
        let mut left = incl as usize;
        for p in parts {
            let n = p.len().min(left);
            self.inner.write_all(&p[..n])?;
            left -= n;
        }
        Ok(())
    }

    /// Writes one record of a frame in one piece: the same bytes as `write_record(ts, &[data])`
    /// without the parts loop.
    #[inline]
    pub fn write_frame(&mut self, ts_nanos: u64, data: &[u8]) -> io::Result<()> {
        let incl = self.write_header(ts_nanos, data.len())?;
        // `incl` is at most `data.len()`.
        self.inner.write_all(&data[..incl as usize])
    }

    /// Writes a record header for a frame of `len` bytes; returns the captured length.
    #[inline]
    fn write_header(&mut self, ts_nanos: u64, len: usize) -> io::Result<u32> {
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        let incl = len.min(MAX_SNAPLEN);
        // Two 8-byte writes of values built in registers, not a 16-byte array filled by
        // narrower stores: copying such an array into the writer's buffer loads 16 bytes
        // that were just stored in pieces, a store-forwarding stall that was most of the TX
        // cost of a pcap port.
        let ts = u64::from((ts_nanos / 1_000_000_000) as u32)
            | u64::from((ts_nanos % 1_000_000_000) as u32) << 32;
        let lens = u64::from(incl) | u64::from(len) << 32;
        self.inner.write_all(&ts.to_le_bytes())?;
        self.inner.write_all(&lens.to_le_bytes())?;
        Ok(incl)
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }

    /// The underlying writer.
    pub fn into_inner(self) -> W {
        self.inner
    }
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn micro_file(be: bool) -> Vec<u8> {
        let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let w16 = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let mut f = Vec::new();
        f.extend(w32(MAGIC_MICROS));
        f.extend(w16(2));
        f.extend(w16(4));
        f.extend([0; 8]);
        f.extend(w32(65535));
        f.extend(w32(1));
        for (i, len) in [60u32, 3].into_iter().enumerate() {
            f.extend(w32(1000 + i as u32));
            f.extend(w32(123_456));
            f.extend(w32(len));
            f.extend(w32(len + 4));
            f.extend((0..len).map(|b| b as u8 ^ i as u8));
        }
        f
    }

    #[test]
    fn reads_microsecond_files_of_both_byte_orders() {
        for be in [false, true] {
            let f = micro_file(be);
            let mut r = PcapReader::new(&f[..]).unwrap();
            assert!(!r.is_nanosecond());
            let (h, d) = r.next_record().unwrap().unwrap();
            assert_eq!(h.ts_nanos, 1000 * 1_000_000_000 + 123_456_000);
            assert_eq!((h.incl_len, h.orig_len), (60, 64));
            assert_eq!(d, (0..60).map(|b| b as u8).collect::<Vec<_>>());
            let (h, d) = r.next_record().unwrap().unwrap();
            assert_eq!(h.ts_nanos, 1001 * 1_000_000_000 + 123_456_000);
            assert_eq!(d, vec![1, 0, 3]);
            assert!(r.next_record().unwrap().is_none());
        }
    }

    #[test]
    fn nanosecond_round_trip() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write_record(5_000_000_007, &[&[1, 2, 3], &[4, 5]])
            .unwrap();
        w.write_record(6_999_999_999, &[&[9; 100]]).unwrap();
        let f = w.into_inner();
        assert_eq!(&f[0..4], &MAGIC_NANOS.to_le_bytes());
        let mut r = PcapReader::new(&f[..]).unwrap();
        assert!(r.is_nanosecond());
        let (h, d) = r.next_record().unwrap().unwrap();
        assert_eq!((h.ts_nanos, h.incl_len, h.orig_len), (5_000_000_007, 5, 5));
        assert_eq!(d, vec![1, 2, 3, 4, 5]);
        let (h, d) = r.next_record().unwrap().unwrap();
        assert_eq!(h.ts_nanos, 6_999_999_999);
        assert_eq!(d, vec![9; 100]);
        assert!(r.next_record().unwrap().is_none());
    }

    #[test]
    fn write_frame_writes_the_bytes_of_a_one_part_record() {
        let over = vec![0x5a; MAX_SNAPLEN as usize + 3];
        for data in [&[][..], &[1, 2, 3][..], &[7; 1514][..], &over[..]] {
            let mut a = PcapWriter::new(Vec::new()).unwrap();
            a.write_record(1_234_567_890_123, &[data]).unwrap();
            let mut b = PcapWriter::new(Vec::new()).unwrap();
            b.write_frame(1_234_567_890_123, data).unwrap();
            assert_eq!(a.into_inner(), b.into_inner(), "{} bytes", data.len());
        }
        // Truncated to the snap length, original length kept.
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.write_frame(1, &over).unwrap();
        let f = w.into_inner();
        let (h, d) = PcapReader::new(&f[..])
            .unwrap()
            .next_record()
            .unwrap()
            .unwrap();
        assert_eq!((h.incl_len, h.orig_len), (MAX_SNAPLEN, over.len() as u32));
        assert_eq!(d.len(), MAX_SNAPLEN as usize);
    }

    #[test]
    fn malformed_files_are_errors() {
        assert!(matches!(
            PcapReader::new(&[0u8; 10][..]),
            Err(PcapError::Truncated(_))
        ));
        let mut f = micro_file(false);
        f[0] = 0x0a;
        assert!(matches!(
            PcapReader::new(&f[..]),
            Err(PcapError::BadMagic(_))
        ));
        let mut f = micro_file(false);
        f[20] = 101; // raw IP
        assert!(matches!(
            PcapReader::new(&f[..]),
            Err(PcapError::LinkType(101))
        ));
        let f = micro_file(false);
        let cut = &f[..f.len() - 1];
        let mut r = PcapReader::new(cut).unwrap();
        r.next_record().unwrap().unwrap();
        assert!(matches!(r.next_record(), Err(PcapError::Truncated(_))));
        let mut f = micro_file(false);
        f[24 + 8..24 + 12].copy_from_slice(&(MAX_SNAPLEN + 1).to_le_bytes());
        let mut r = PcapReader::new(&f[..]).unwrap();
        assert!(matches!(
            r.next_record(),
            Err(PcapError::BadRecordLength { .. })
        ));
    }
}
