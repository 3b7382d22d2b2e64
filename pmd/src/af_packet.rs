//! `af_packet`: a kernel interface through packet sockets with memory-mapped rings.
//!
//! Device string: `af_packet:iface=veth0[,queues=N][,blocksz=65536][,framesz=2048]`.
//!
//! - RX: one `TPACKET_V3` ring per queue. The kernel fills whole blocks of packets and hands a
//!   block over with one status word; we copy each packet into an mbuf (af_packet cannot receive
//!   into mbufs) and give the block back. No system call per packet or per burst.
//! - Several RX queues join one `PACKET_FANOUT` group in hash mode (a group id unique to the
//!   port), so each queue receives whole flows.
//! - TX: one `TPACKET_V2` ring per queue, `PACKET_QDISC_BYPASS`; frames are copied into the
//!   ring and one non-blocking `send` per burst kicks the kernel. Each frame is preceded by a
//!   `virtio_net_hdr` (`PACKET_VNET_HDR`) whose `hdr_len` covers the whole frame, so the kernel
//!   copies it into the socket buffer's linear area instead of attaching the ring page as a
//!   zero-copy fragment: a veth (or any local delivery) would otherwise copy that fragment into
//!   a freshly allocated page per frame (`skb_copy_ubufs`), which costs more than the copy.
//!   Kernels without `PACKET_VNET_HDR` get the plain layout.
//! - A VLAN tag the kernel took out of a received frame is put back, so frames arrive as they
//!   were on the wire (and `vlan_tci` plus `RX_VLAN` are set in the mbuf).
//! - Our own outgoing frames are not received (`PACKET_IGNORE_OUTGOING` and the packet type).
//! - Promiscuous mode is a `PACKET_MR_PROMISC` membership, held while the port or any of its
//!   queues is alive. MAC and MTU are read (and set, if configured) by ioctl.
//! - Kernel drops (ring full) are read from `PACKET_STATISTICS` into `rx_missed`.
//! - Checksums: a frame sent by this host's own stack through a device with TX checksum offload
//!   (a veth, by default) comes with a partial TCP/UDP checksum (`TP_STATUS_CSUMNOTREADY`); we
//!   complete it in software, as the NIC would have, so forwarded frames are valid. Such frames,
//!   and those the kernel already verified (`TP_STATUS_CSUM_VALID`), get `RX_L4_CKSUM_GOOD`.

use crate::copy::{Stash, mbuf_from_bytes, mbuf_from_parts, segments};
use crate::csum;
use crate::devargs::{DevArgs, check_ifname};
use crate::error::PmdError;
use crate::info::{Capabilities, LinkState, MacAddr, PortInfo};
use crate::port::{
    Port, PortConfig, PortDevice, QueuePort, Queues, RxQueue, TxQueue, effective_config,
};
use crate::stats::{PortStats, QueueStats};
use crate::sys::{self, RingMap};
use ferroplane_mempool::{MbufBurst, Mempool, OffloadFlags, free_bulk};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};

const KEYS: &[&str] = &["iface", "queues", "blocksz", "framesz"];
const MAX_QUEUES: u16 = 16;

// <linux/if_packet.h>
const PACKET_ADD_MEMBERSHIP: i32 = 1;
const PACKET_DROP_MEMBERSHIP: i32 = 2;
const PACKET_RX_RING: i32 = 5;
const PACKET_STATISTICS: i32 = 6;
const PACKET_VERSION: i32 = 10;
const PACKET_LOSS: i32 = 14;
const PACKET_TX_RING: i32 = 13;
const PACKET_VNET_HDR: i32 = 15;
const PACKET_FANOUT: i32 = 18;
const PACKET_QDISC_BYPASS: i32 = 20;
const PACKET_IGNORE_OUTGOING: i32 = 23;
const PACKET_MR_PROMISC: u16 = 1;
const PACKET_FANOUT_HASH: u32 = 0;
const PACKET_OUTGOING: u8 = 4;
const TPACKET_V2: i32 = 1;
const TPACKET_V3: i32 = 2;
const TP_STATUS_KERNEL: u32 = 0;
const TP_STATUS_USER: u32 = 1;
const TP_STATUS_SEND_REQUEST: u32 = 1;
const TP_STATUS_SENDING: u32 = 2;
const TP_STATUS_WRONG_FORMAT: u32 = 4;
const TP_STATUS_CSUMNOTREADY: u32 = 1 << 3;
const TP_STATUS_CSUM_VALID: u32 = 1 << 7;
const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;

// Offsets in `struct tpacket_block_desc` (version, offset_to_priv, then tpacket_hdr_v1).
const BLK_STATUS: usize = 8;
const BLK_NUM_PKTS: usize = 12;
const BLK_FIRST_PKT: usize = 16;
// Offsets in `struct tpacket3_hdr` and the `sockaddr_ll` that follows it (at 48).
const P3_NEXT: usize = 0;
const P3_SEC: usize = 4;
const P3_NSEC: usize = 8;
const P3_SNAPLEN: usize = 12;
const P3_LEN: usize = 16;
const P3_STATUS: usize = 20;
const P3_MAC: usize = 24;
const P3_RXHASH: usize = 28;
const P3_VLAN_TCI: usize = 32;
const P3_VLAN_TPID: usize = 36;
const P3_PKTTYPE: usize = 48 + 10;
// `struct tpacket2_hdr`: status at 0, len at 4, snaplen at 8; TX data at 32.
const P2_LEN: usize = 4;
const P2_SNAPLEN: usize = 8;
const P2_DATA: usize = 32;
/// `struct virtio_net_hdr`: flags, gso_type (0: none), hdr_len at 2, gso_size, csum_start,
/// csum_offset; 16-bit fields in the host's byte order (legacy virtio, as af_packet reads them).
const VNET_HDR_LEN: usize = 10;
const VNET_HDR_LEN_AT: usize = 2;

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct TpacketReq3 {
    block_size: u32,
    block_nr: u32,
    frame_size: u32,
    frame_nr: u32,
    retire_blk_tov: u32,
    sizeof_priv: u32,
    feature_req_word: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct TpacketReq {
    block_size: u32,
    block_nr: u32,
    frame_size: u32,
    frame_nr: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct PacketMreq {
    ifindex: i32,
    kind: u16,
    alen: u16,
    address: [u8; 8],
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct TpacketStatsV3 {
    packets: u32,
    drops: u32,
    freeze_q_cnt: u32,
}

fn caps() -> Capabilities {
    Capabilities {
        max_rx_queues: MAX_QUEUES,
        max_tx_queues: MAX_QUEUES,
        rss: true,
        rss_hash_in_mbuf: true,
        promiscuous: true,
        multi_segment_tx: true,
        ..Capabilities::default()
    }
}

/// Port-wide state that queues keep alive: the interface and the promiscuous membership.
struct Control {
    ifname: String,
    ifindex: u32,
    fd: OwnedFd,
    promiscuous: AtomicBool,
}

impl Control {
    fn set_promiscuous(&self, on: bool) -> Result<(), PmdError> {
        if self.promiscuous.load(Ordering::Relaxed) == on {
            return Ok(());
        }
        let mreq = PacketMreq {
            ifindex: self.ifindex as i32,
            kind: PACKET_MR_PROMISC,
            ..Default::default()
        };
        let op = if on {
            PACKET_ADD_MEMBERSHIP
        } else {
            PACKET_DROP_MEMBERSHIP
        };
        sys::set_opt(self.fd.as_raw_fd(), libc::SOL_PACKET, op, &mreq)
            .map_err(|e| PmdError::io("setsockopt(PACKET_ADD_MEMBERSHIP)", &self.ifname, e))?;
        self.promiscuous.store(on, Ordering::Relaxed);
        Ok(())
    }

    /// A new packet socket for one ring of the interface, using TPACKET `version`.
    fn ring_socket(&self, version: i32) -> Result<OwnedFd, PmdError> {
        let name = self.ifname.as_str();
        let fd = sys::packet_socket().map_err(|e| PmdError::io("socket(AF_PACKET)", name, e))?;
        sys::set_opt(fd.as_raw_fd(), libc::SOL_PACKET, PACKET_VERSION, &version)
            .map_err(|e| PmdError::io("setsockopt(PACKET_VERSION)", name, e))?;
        Ok(fd)
    }
}

/// The port's side of the interface: its control socket and the RX sockets whose kernel drop
/// counters it reads.
struct AfPacketDevice {
    ctl: Arc<Control>,
    rx_fds: Vec<Arc<OwnedFd>>,
    kernel_drops: AtomicU64,
}

struct AfPacketRx {
    map: RingMap,
    /// Keeps the socket open as long as the ring is mapped (the port holds another reference
    /// to read its statistics).
    _fd: Arc<OwnedFd>,
    block_size: usize,
    block_nr: usize,
    block: usize,
    in_block: bool,
    pkts_left: u32,
    pkt_off: usize,
    pool: Mempool,
    stash: Stash,
    queue: u16,
    stats: Arc<QueueStats>,
    _ctl: Arc<Control>,
}

struct AfPacketTx {
    map: RingMap,
    fd: OwnedFd,
    frame_size: usize,
    frame_nr: usize,
    head: usize,
    unkicked: bool,
    /// Bytes of `virtio_net_hdr` before each frame (0 if the kernel refused `PACKET_VNET_HDR`).
    vnet: usize,
    spill: Vec<u8>,
    stats: Arc<QueueStats>,
    _ctl: Arc<Control>,
}

fn next_fanout_id() -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let base = (std::process::id() as u16).wrapping_mul(40503);
    base.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Opens an af_packet port.
pub(crate) fn open(
    args: &DevArgs,
    devstr: &str,
    cfg: &PortConfig,
) -> Result<Box<dyn Port>, PmdError> {
    args.check_keys(KEYS)?;
    let ifname = args.require("iface")?;
    check_ifname(args, "iface", ifname)?;
    let block_size = args.number::<u32>("blocksz", 1 << 16, 4096, 1 << 22)?;
    if !block_size.is_power_of_two() {
        return Err(args.bad("blocksz", &block_size.to_string(), "must be a power of two"));
    }
    let frame_size = args.number::<u32>("framesz", 2048, 128, 65536)?;
    if !frame_size.is_power_of_two() {
        return Err(args.bad("framesz", &frame_size.to_string(), "must be a power of two"));
    }
    let cfg = effective_config(args, cfg, "af_packet", &caps())?;
    let (rxq, txq) = (cfg.rx_queues, cfg.tx_queues);
    let ifindex = sys::if_index(ifname).map_err(|e| PmdError::io("if_nametoindex", ifname, e))?;
    if let Some(mtu) = cfg.mtu {
        sys::set_mtu(ifname, mtu).map_err(|e| PmdError::io("ioctl(SIOCSIFMTU)", ifname, e))?;
    }
    if let Some(mac) = cfg.mac {
        sys::set_mac(ifname, mac.0).map_err(|e| PmdError::io("ioctl(SIOCSIFHWADDR)", ifname, e))?;
    }
    let mtu = sys::get_mtu(ifname).map_err(|e| PmdError::io("ioctl(SIOCGIFMTU)", ifname, e))?;
    let mac = sys::get_mac(ifname).map_err(|e| PmdError::io("ioctl(SIOCGIFHWADDR)", ifname, e))?;
    // Largest frame: MTU + Ethernet header + two VLAN tags.
    let max_frame = mtu as usize + 14 + 8;
    let tx_frame = (max_frame + P2_DATA + VNET_HDR_LEN)
        .next_power_of_two()
        .max(frame_size as usize);
    let rx_block = (max_frame + 128)
        .next_power_of_two()
        .max(block_size as usize);

    let ctl = Arc::new(Control {
        ifname: ifname.to_string(),
        ifindex,
        fd: sys::packet_socket().map_err(|e| PmdError::io("socket(AF_PACKET)", ifname, e))?,
        promiscuous: AtomicBool::new(false),
    });
    if cfg.promiscuous {
        ctl.set_promiscuous(true)?;
    }

    let mut queues = Queues::new();
    let mut rx_fds = Vec::new();
    let fanout_id = if rxq > 1 {
        Some(next_fanout_id())
    } else {
        None
    };
    let mut fanout_id = fanout_id;
    for q in 0..rxq {
        let (rx, fd) = open_rx(&ctl, &cfg, q, rx_block, frame_size as usize, &mut fanout_id)?;
        rx_fds.push(fd);
        let stats = Arc::clone(&rx.stats);
        queues.push_rx(Box::new(rx), stats);
    }
    for _ in 0..txq {
        let tx = open_tx(&ctl, cfg.tx_ring_size as usize, tx_frame)?;
        let stats = Arc::clone(&tx.stats);
        queues.push_tx(Box::new(tx), stats);
    }
    log::info!(
        "af_packet: {ifname} (ifindex {ifindex}) {rxq} RX queue(s){}, {txq} TX queue(s)",
        match fanout_id {
            Some(id) => format!(" in fanout group {id}"),
            None => String::new(),
        }
    );
    let info = PortInfo {
        name: ifname.to_string(),
        driver: "af_packet",
        devstr: devstr.to_string(),
        mac: MacAddr(mac),
        mtu,
        rx_queues: rxq,
        tx_queues: txq,
        ifindex: Some(ifindex),
        caps: caps(),
    };
    let device = AfPacketDevice {
        ctl,
        rx_fds,
        kernel_drops: AtomicU64::new(0),
    };
    Ok(Box::new(QueuePort::new(info, queues, device)))
}

fn open_rx(
    ctl: &Arc<Control>,
    cfg: &PortConfig,
    queue: u16,
    block_size: usize,
    frame_size: usize,
    fanout_id: &mut Option<u16>,
) -> Result<(AfPacketRx, Arc<OwnedFd>), PmdError> {
    let name = ctl.ifname.as_str();
    let fd = ctl.ring_socket(TPACKET_V3)?;
    let raw = fd.as_raw_fd();
    let opt = |what: &'static str, r: io::Result<()>| r.map_err(|e| PmdError::io(what, name, e));
    let ring_bytes = cfg.rx_ring_size as usize * frame_size.max(2048);
    let block_nr = (ring_bytes / block_size).max(4);
    let req = TpacketReq3 {
        block_size: block_size as u32,
        block_nr: block_nr as u32,
        frame_size: frame_size as u32,
        frame_nr: (block_size / frame_size * block_nr) as u32,
        retire_blk_tov: 1,
        ..Default::default()
    };
    opt(
        "setsockopt(PACKET_RX_RING)",
        sys::set_opt(raw, libc::SOL_PACKET, PACKET_RX_RING, &req),
    )?;
    let map = RingMap::map(raw, block_size * block_nr)
        .map_err(|e| PmdError::io("mmap(RX ring)", name, e))?;
    // Older kernels lack PACKET_IGNORE_OUTGOING; the packet type check below covers them.
    if let Err(e) = sys::set_opt(raw, libc::SOL_PACKET, PACKET_IGNORE_OUTGOING, &1i32) {
        log::debug!("af_packet {name}: PACKET_IGNORE_OUTGOING unavailable: {e}");
    }
    opt(
        "bind",
        sys::bind_packet(raw, ctl.ifindex, sys::ETH_P_ALL_BE),
    )?;
    if let Some(id) = fanout_id {
        let mut tries = 0;
        loop {
            let arg = *id as u32 | (PACKET_FANOUT_HASH << 16);
            match sys::set_opt(raw, libc::SOL_PACKET, PACKET_FANOUT, &arg) {
                Ok(()) => break,
                // The first queue may hit a group id another socket owns: pick another.
                Err(_) if queue == 0 && tries < 32 => {
                    tries += 1;
                    *id = next_fanout_id();
                }
                Err(e) => return Err(PmdError::io("setsockopt(PACKET_FANOUT)", name, e)),
            }
        }
    }
    let fd = Arc::new(fd);
    Ok((
        AfPacketRx {
            map,
            _fd: Arc::clone(&fd),
            block_size,
            block_nr,
            block: 0,
            in_block: false,
            pkts_left: 0,
            pkt_off: 0,
            pool: cfg.pool.clone(),
            stash: Stash::new(32),
            queue,
            stats: Arc::new(QueueStats::default()),
            _ctl: Arc::clone(ctl),
        },
        fd,
    ))
}

fn open_tx(
    ctl: &Arc<Control>,
    ring_size: usize,
    frame_size: usize,
) -> Result<AfPacketTx, PmdError> {
    let name = ctl.ifname.as_str();
    let fd = ctl.ring_socket(TPACKET_V2)?;
    let raw = fd.as_raw_fd();
    let opt = |what: &'static str, r: io::Result<()>| r.map_err(|e| PmdError::io(what, name, e));
    opt(
        "setsockopt(PACKET_QDISC_BYPASS)",
        sys::set_opt(raw, libc::SOL_PACKET, PACKET_QDISC_BYPASS, &1i32),
    )?;
    // Malformed frames are dropped by the kernel instead of stalling the ring.
    opt(
        "setsockopt(PACKET_LOSS)",
        sys::set_opt(raw, libc::SOL_PACKET, PACKET_LOSS, &1i32),
    )?;
    // Before the ring exists (the kernel refuses it after): frames copied whole into the skb.
    let vnet = match sys::set_opt(raw, libc::SOL_PACKET, PACKET_VNET_HDR, &1i32) {
        Ok(()) => VNET_HDR_LEN,
        Err(e) => {
            log::debug!("af_packet: {name}: no PACKET_VNET_HDR ({e}); TX frames as page fragments");
            0
        }
    };
    let block_size = frame_size.max(4096);
    let per_block = block_size / frame_size;
    let block_nr = ring_size.div_ceil(per_block);
    let req = TpacketReq {
        block_size: block_size as u32,
        block_nr: block_nr as u32,
        frame_size: frame_size as u32,
        frame_nr: (per_block * block_nr) as u32,
    };
    opt(
        "setsockopt(PACKET_TX_RING)",
        sys::set_opt(raw, libc::SOL_PACKET, PACKET_TX_RING, &req),
    )?;
    let map = RingMap::map(raw, block_size * block_nr)
        .map_err(|e| PmdError::io("mmap(TX ring)", name, e))?;
    // Protocol 0: this socket sends only and never receives.
    opt("bind", sys::bind_packet(raw, ctl.ifindex, 0))?;
    Ok(AfPacketTx {
        map,
        fd,
        frame_size,
        frame_nr: per_block * block_nr,
        head: 0,
        unkicked: false,
        vnet,
        spill: Vec::new(),
        stats: Arc::new(QueueStats::default()),
        _ctl: Arc::clone(ctl),
    })
}

impl AfPacketRx {
    /// Gives the current block back to the kernel and moves to the next.
    #[inline]
    fn release_block(&mut self) {
        let base = self.block * self.block_size;
        self.map
            .status(base + BLK_STATUS)
            .store(TP_STATUS_KERNEL, Ordering::Release);
        self.block = (self.block + 1) % self.block_nr;
        self.in_block = false;
        self.pkts_left = 0;
    }
}

impl RxQueue for AfPacketRx {
    fn rx_burst(&mut self, burst: &mut MbufBurst) -> usize {
        let (mut got, mut bytes) = (0u64, 0u64);
        while !burst.is_full() {
            if self.pkts_left == 0 {
                if self.in_block {
                    self.release_block();
                }
                let base = self.block * self.block_size;
                let st = self.map.status(base + BLK_STATUS).load(Ordering::Acquire);
                if st & TP_STATUS_USER == 0 {
                    break;
                }
                self.in_block = true;
                self.pkts_left = self.map.read_u32(base + BLK_NUM_PKTS);
                self.pkt_off = base + self.map.read_u32(base + BLK_FIRST_PKT) as usize;
                continue;
            }
            let block_end = (self.block + 1) * self.block_size;
            let h = self.pkt_off;
            let snaplen = self.map.read_u32(h + P3_SNAPLEN) as usize;
            let mac = self.map.read_u16(h + P3_MAC) as usize;
            let next = self.map.read_u32(h + P3_NEXT) as usize;
            if h + mac + snaplen > block_end || (next == 0 && self.pkts_left > 1) {
                // A header we cannot trust: drop the rest of the block.
                self.stats.add_rx_errors(self.pkts_left as u64);
                self.pkts_left = 0;
                continue;
            }
            if next != 0 {
                self.map.prefetch(h + next);
            }
            let pkttype = self.map.bytes(h + P3_PKTTYPE, 1).map_or(0, |b| b[0]);
            if pkttype != PACKET_OUTGOING {
                let len = self.map.read_u32(h + P3_LEN) as usize;
                let data = self.map.bytes(h + mac, snaplen).unwrap_or(&[]);
                if snaplen < len || data.is_empty() {
                    self.stats.add_rx_errors(1);
                } else {
                    let ts = self.map.read_u32(h + P3_SEC) as u64 * 1_000_000_000
                        + self.map.read_u32(h + P3_NSEC) as u64;
                    let status = self.map.read_u32(h + P3_STATUS);
                    let tci = self.map.read_u32(h + P3_VLAN_TCI) as u16;
                    // The kernel took the VLAN tag out of the frame (offload): put it back so
                    // the frame arrives as it was on the wire.
                    let vlan = status & TP_STATUS_VLAN_VALID != 0 && data.len() >= 12;
                    let m = if vlan {
                        let tpid = match self.map.read_u16(h + P3_VLAN_TPID) {
                            t if status & TP_STATUS_VLAN_TPID_VALID != 0 && t != 0 => t,
                            _ => 0x8100,
                        };
                        let [t0, t1] = tpid.to_be_bytes();
                        let [c0, c1] = tci.to_be_bytes();
                        let tag = [t0, t1, c0, c1];
                        let parts: [&[u8]; 3] = [&data[..12], &tag, &data[12..]];
                        mbuf_from_parts(&mut self.stash, &self.pool, &parts, Some(ts))
                    } else {
                        mbuf_from_bytes(&mut self.stash, &self.pool, data, Some(ts))
                    };
                    let Some(mut m) = m else {
                        // Leave the packet in the ring and retry on the next call.
                        self.stats.add_alloc_failures(1);
                        break;
                    };
                    let mut l4_good = status & TP_STATUS_CSUM_VALID != 0;
                    if status & TP_STATUS_CSUMNOTREADY != 0 {
                        // Computed on the ring copy, which lacks the VLAN tag we put back.
                        match csum::complete_l4(data) {
                            csum::L4Csum::Fix(fix) => {
                                let at = fix.offset + if vlan { 4 } else { 0 };
                                l4_good = m.write(at, &fix.value.to_be_bytes()).is_ok();
                            }
                            csum::L4Csum::Valid => l4_good = true,
                            csum::L4Csum::NotApplicable => {}
                        }
                    }
                    let hash = self.map.read_u32(h + P3_RXHASH);
                    if let Some(info) = m.info_mut() {
                        if l4_good {
                            info.ol_flags.insert(OffloadFlags::RX_L4_CKSUM_GOOD);
                        }
                        info.queue = self.queue;
                        if hash != 0 {
                            info.rss_hash = hash;
                            info.ol_flags.insert(OffloadFlags::RX_RSS_HASH);
                        }
                        if vlan {
                            info.vlan_tci = tci;
                            info.ol_flags.insert(OffloadFlags::RX_VLAN);
                        }
                    }
                    bytes += m.pkt_len() as u64;
                    got += 1;
                    if let Err(m) = burst.push(m) {
                        drop(m); // cannot happen: the loop checks for room
                        got -= 1;
                    }
                }
            }
            self.pkts_left -= 1;
            self.pkt_off = h + next;
        }
        if self.in_block && self.pkts_left == 0 {
            self.release_block();
        }
        self.stats.add_rx(got, bytes);
        got as usize
    }
}

impl AfPacketTx {
    #[inline]
    fn kick(&mut self) {
        match sys::kick_tx(self.fd.as_raw_fd()) {
            Ok(()) => self.unkicked = false,
            Err(e) => {
                // EAGAIN/ENOBUFS: the frames stay in the ring; flush() kicks again.
                self.unkicked = true;
                if !matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::ENOBUFS)) {
                    log::debug!("af_packet: TX kick failed: {e}");
                }
            }
        }
    }
}

impl TxQueue for AfPacketTx {
    fn tx_burst(&mut self, burst: &mut MbufBurst) -> usize {
        let max_len = self.frame_size - P2_DATA - self.vnet;
        let (mut taken, mut sent, mut bytes) = (0usize, 0u64, 0u64);
        for m in burst.iter() {
            let len = m.pkt_len();
            if len > max_len || len == 0 {
                self.stats.add_tx_errors(1);
                taken += 1;
                continue;
            }
            let off = self.head * self.frame_size;
            let status = self.map.status(off);
            let st = status.load(Ordering::Acquire);
            if st & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING) != 0 {
                break; // ring full
            }
            if st & TP_STATUS_WRONG_FORMAT != 0 {
                self.stats.add_tx_errors(1);
            }
            let mut at = off + P2_DATA;
            if self.vnet != 0 {
                // No offloads; the whole frame is "header", copied into the linear area.
                let mut h = [0u8; VNET_HDR_LEN];
                h[VNET_HDR_LEN_AT..VNET_HDR_LEN_AT + 2]
                    .copy_from_slice(&(len as u16).to_ne_bytes());
                self.map.copy_in(at, &h);
                at += VNET_HDR_LEN;
            }
            let (parts, k) = segments(m, &mut self.spill);
            for p in &parts[..k] {
                self.map.copy_in(at, p);
                at += p.len();
            }
            let wire = (len + self.vnet) as u32;
            self.map.write_u32(off + P2_LEN, wire);
            self.map.write_u32(off + P2_SNAPLEN, wire);
            status.store(TP_STATUS_SEND_REQUEST, Ordering::Release);
            self.head = (self.head + 1) % self.frame_nr;
            taken += 1;
            sent += 1;
            bytes += len as u64;
        }
        if sent > 0 {
            self.kick();
        }
        free_bulk(burst.drain(..taken));
        self.stats.add_tx(sent, bytes);
        taken
    }

    fn flush(&mut self) {
        if self.unkicked {
            self.kick();
        }
    }
}

impl PortDevice for AfPacketDevice {
    fn add_device_counters(&self, totals: &mut PortStats) {
        for fd in &self.rx_fds {
            // Reading PACKET_STATISTICS resets the kernel's counters, so accumulate.
            if let Ok(s) =
                sys::get_opt::<TpacketStatsV3>(fd.as_raw_fd(), libc::SOL_PACKET, PACKET_STATISTICS)
            {
                self.kernel_drops
                    .fetch_add(s.drops as u64, Ordering::Relaxed);
            }
        }
        totals.rx_missed += self.kernel_drops.load(Ordering::Relaxed);
    }
    fn link(&self, _info: &PortInfo) -> LinkState {
        let name = &self.ctl.ifname;
        let running = (libc::IFF_UP | libc::IFF_RUNNING) as u32;
        let up = sys::get_flags(name)
            .map(|f| f & running == running)
            .unwrap_or(false);
        let speed = std::fs::read_to_string(format!("/sys/class/net/{name}/speed"))
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .filter(|&s| s > 0)
            .map(|s| s as u32);
        LinkState {
            up,
            speed_mbps: speed,
            full_duplex: true,
        }
    }
    fn set_promiscuous(&mut self, _info: &PortInfo, on: bool) -> Result<(), PmdError> {
        self.ctl.set_promiscuous(on)
    }
}
