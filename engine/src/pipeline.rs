//! Pipelines and software RSS.
//!
//! A pipeline splits the work of a packet across lcores connected by rings
//! ([`crate::Engine::add_ring`]): stage one receives and classifies, then
//! [`crate::BurstCtx::enqueue`]s; the next lcore polls the ring as one of its sources. A full
//! ring is back-pressure: per [`crate::BackPressure`] the mbufs are retried or freed, and
//! counted (`ring_full`). Order within a flow is kept as long as a flow always takes the same
//! ring (rings are FIFO and each has one producer).
//!
//! Software RSS ([`SoftRss`]) is such a first stage for ports without enough hardware queues:
//! it hashes each packet's 5-tuple with the Toeplitz function of `ferroplane_classify`, looks
//! the hash up in a redirection table ([`Reta`]) and enqueues the packet on the ring of the
//! chosen worker lcore, so one flow always lands on one worker. The hash is stored in the
//! mbuf (`rss_hash`, flag `RX_RSS_HASH`) so the workers need not compute it again.

use std::net::{Ipv4Addr, Ipv6Addr};

use ferroplane_classify::{Reta, RssKey};
use ferroplane_mempool::{MbufBurst, OffloadFlags};

use crate::worker::{BurstCtx, Worker};

/// The Toeplitz hash of a frame's 5-tuple (IPv4/IPv6, TCP/UDP/SCTP ports when present and not
/// a non-first fragment; the 2-tuple otherwise), or `None` for non-IP frames. One 802.1Q/802.1ad
/// tag is skipped.
pub fn flow_hash(key: &RssKey, frame: &[u8]) -> Option<u32> {
    let mut l3 = 14;
    let mut ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    if ethertype == 0x8100 || ethertype == 0x88a8 {
        ethertype = u16::from_be_bytes([*frame.get(16)?, *frame.get(17)?]);
        l3 = 18;
    }
    let ports = |l4: usize, proto: u8| -> Option<(u16, u16)> {
        if !matches!(proto, 6 | 17 | 132) {
            return None;
        }
        let p = frame.get(l4..l4 + 4)?;
        Some((
            u16::from_be_bytes([p[0], p[1]]),
            u16::from_be_bytes([p[2], p[3]]),
        ))
    };
    match ethertype {
        0x0800 => {
            let ip = frame.get(l3..l3 + 20)?;
            let ihl = usize::from(ip[0] & 0x0f) * 4;
            let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
            let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
            let fragment = u16::from_be_bytes([ip[6], ip[7]]) & 0x1fff != 0;
            match (!fragment && ihl >= 20)
                .then(|| ports(l3 + ihl, ip[9]))
                .flatten()
            {
                Some((sp, dp)) => Some(key.hash_ipv4_ports(src, dst, sp, dp)),
                None => Some(key.hash_ipv4(src, dst)),
            }
        }
        0x86dd => {
            let ip = frame.get(l3..l3 + 40)?;
            let src = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[8..24]).ok()?);
            let dst = Ipv6Addr::from(<[u8; 16]>::try_from(&ip[24..40]).ok()?);
            match ports(l3 + 40, ip[6]) {
                Some((sp, dp)) => Some(key.hash_ipv6_ports(src, dst, sp, dp)),
                None => Some(key.hash_ipv6(src, dst)),
            }
        }
        _ => None,
    }
}

/// A first pipeline stage that spreads packets over rings by RSS (see the module docs).
///
/// The RETA maps a hash to a ring index of this lcore ([`crate::BurstCtx::enqueue`]); build it
/// with as many queues as rings (`Reta::new(128, nb_rings)`). Non-IP frames go to ring 0.
#[derive(Debug, Clone)]
pub struct SoftRss {
    key: RssKey,
    reta: Reta,
}

impl SoftRss {
    /// A stage with `key` and `reta`.
    pub fn new(key: RssKey, reta: Reta) -> Self {
        SoftRss { key, reta }
    }

    /// The ring a frame goes to, and its hash.
    #[inline]
    pub fn ring_for(&self, frame: &[u8]) -> (u16, Option<u32>) {
        match flow_hash(&self.key, frame) {
            Some(h) => (self.reta.queue_for(h), Some(h)),
            None => (0, None),
        }
    }
}

impl Worker for SoftRss {
    fn process(&mut self, ctx: &mut BurstCtx<'_>, burst: &mut MbufBurst) {
        for mut m in burst.drain(..) {
            let (ring, hash) = self.ring_for(m.data());
            if let (Some(h), Some(info)) = (hash, m.info_mut()) {
                info.rss_hash = h;
                info.ol_flags.insert(OffloadFlags::RX_RSS_HASH);
            }
            ctx.enqueue(ring, m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp4(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16) -> Vec<u8> {
        let mut f = vec![0u8; 14 + 20 + 8];
        f[12..14].copy_from_slice(&[8, 0]);
        f[14] = 0x45;
        f[23] = 17;
        f[26..30].copy_from_slice(&src);
        f[30..34].copy_from_slice(&dst);
        f[34..36].copy_from_slice(&sp.to_be_bytes());
        f[36..38].copy_from_slice(&dp.to_be_bytes());
        f
    }

    #[test]
    fn hash_matches_classify_and_the_microsoft_vector() {
        let key = RssKey::microsoft();
        // Microsoft's RSS verification suite: 66.9.149.187:2794 -> 161.142.100.80:1766.
        let f = udp4([66, 9, 149, 187], [161, 142, 100, 80], 2794, 1766);
        assert_eq!(flow_hash(&key, &f), Some(0x51cc_c178));
        // Same with a VLAN tag.
        let mut tagged = f[..12].to_vec();
        tagged.extend_from_slice(&[0x81, 0x00, 0x00, 0x05]);
        tagged.extend_from_slice(&f[12..]);
        assert_eq!(flow_hash(&key, &tagged), Some(0x51cc_c178));
        // A non-first fragment hashes the 2-tuple (0x323e8fc2 in the same suite).
        let mut frag = f.clone();
        frag[20] = 0x00;
        frag[21] = 0x10;
        assert_eq!(flow_hash(&key, &frag), Some(0x323e_8fc2));
        // Non-IP and truncated frames have no hash.
        assert_eq!(flow_hash(&key, &[0u8; 14]), None);
        assert_eq!(flow_hash(&key, &f[..20]), None);
    }

    #[test]
    fn soft_rss_spreads_flows_and_keeps_each_on_one_ring() {
        let rss = SoftRss::new(RssKey::microsoft(), Reta::new(128, 3).unwrap());
        let mut seen = [0usize; 3];
        for port in 0..300u16 {
            let f = udp4([10, 0, 0, 1], [10, 0, 0, 2], 1000 + port, 53);
            let (ring, h) = rss.ring_for(&f);
            assert!(h.is_some());
            assert_eq!(rss.ring_for(&f).0, ring, "deterministic");
            seen[ring as usize] += 1;
        }
        assert!(
            seen.iter().all(|&n| n > 50),
            "300 flows over 3 rings: {seen:?}"
        );
        assert_eq!(rss.ring_for(&[0u8; 60]).0, 0, "non-IP goes to ring 0");
    }
}
