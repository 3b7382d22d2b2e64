//! The XDP steering program (`pmd/bpf/xdp_steer.bpf.c`): loading, attaching and detaching it,
//! registering sockets in its XSKMAP, and the flow director's run-time rules.
//!
//! # What XDP can steer
//! An XDP program can hand a frame only to the AF_XDP socket bound on the queue the frame
//! **arrived on**. Spreading traffic across queues is the interface's job (RSS on a NIC; on a
//! veth, `ip link add ... numrxqueues N numtxqueues N` spreads by the sender's CPU) plus
//! software steering in the engine. A [`FlowAction::Queue`] rule is therefore honoured
//! exactly when the frame arrives on that queue; otherwise the [`MismatchPolicy`] applies
//! (by default the frame goes to the arrival queue's socket and the mismatch is counted, so
//! the engine can steer it in software).
//!
//! # Order of decisions in the program
//! 1. Rules, most specific first: ethertype (checked first because it applies to every
//!    frame), then 5-tuple, then destination address + port. The program's `config` map
//!    holds the number of rules in each table, kept by [`FlowDirector`] (counted before a
//!    rule is inserted, uncounted after it is deleted, unchanged by a replacement), and an
//!    empty table is not looked up: with no rules, a frame costs no hash lookup.
//! 2. ARP goes to the kernel (unless `arp=xsk`); frames that are neither IPv4 nor IPv6 go to
//!    the kernel, so the host keeps its control plane.
//! 3. Everything else goes to the arrival queue's socket; with no socket bound there the frame
//!    goes to the kernel (`bpf_redirect_map` with `XDP_PASS` as the fallback).
//!
//! # Attaching
//! The program is attached with `XDP_FLAGS_UPDATE_IF_NOEXIST`, so another program is never
//! replaced silently: if one is attached, [`SteerProgram::attach`] fails naming its id unless
//! `force` is set. It is detached when the [`SteerProgram`] is dropped, and only if the
//! program attached at that moment is still ours. No libxdp dispatcher and no bpffs are used.

use std::fmt;
use std::mem::MaybeUninit;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard};

use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, MapHandle, Xdp, XdpFlags};

crate::bpf_skeleton!(steer_skel, "xdp_steer.skel.rs");

/// Errors of the XDP program.
#[derive(Debug, thiserror::Error)]
pub enum XdpError {
    /// libbpf failed to open or load the program.
    #[error("loading the XDP program {program} failed: {source}")]
    Load {
        /// The program.
        program: &'static str,
        /// libbpf's error.
        source: libbpf_rs::Error,
    },
    /// Another XDP program is attached and `force` was not given.
    #[error(
        "interface '{iface}' already has XDP program id {prog_id} attached ({mode} mode); \
         detach it (`ip link set dev {iface} xdp off`) or pass force=1 to replace it"
    )]
    Busy {
        /// The interface.
        iface: String,
        /// The id of the program found there.
        prog_id: u32,
        /// The mode it is attached in.
        mode: &'static str,
    },
    /// Attaching failed.
    #[error("attaching the XDP program to '{iface}' in {mode} mode failed: {source}")]
    Attach {
        /// The interface.
        iface: String,
        /// The mode tried last.
        mode: &'static str,
        /// libbpf's error.
        source: libbpf_rs::Error,
    },
    /// A BPF map operation failed.
    #[error("XDP map '{map}': {op} failed: {source}")]
    Map {
        /// The map.
        map: &'static str,
        /// The operation.
        op: &'static str,
        /// libbpf's error.
        source: libbpf_rs::Error,
    },
    /// A rule that cannot be expressed.
    #[error("invalid flow rule {rule}: {reason}")]
    BadRule {
        /// The rule.
        rule: String,
        /// Why.
        reason: String,
    },
}

/// XDP attach mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpMode {
    /// Native (driver) mode if the driver supports it, else generic.
    Auto,
    /// Native mode only.
    Native,
    /// Generic (SKB) mode only.
    Generic,
}

impl XdpMode {
    /// `native`, `generic` or `auto`.
    pub fn name(self) -> &'static str {
        match self {
            XdpMode::Auto => "auto",
            XdpMode::Native => "native",
            XdpMode::Generic => "generic",
        }
    }
}

/// What a flow-director rule matches. Ports are host byte order; `proto` is the IP protocol
/// number (6 TCP, 17 UDP, 132 SCTP; ports are 0 for other protocols).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowMatch {
    /// Exact 5-tuple. Both addresses must be of the same family.
    FiveTuple {
        /// IP protocol.
        proto: u8,
        /// Source address.
        src: IpAddr,
        /// Source port.
        sport: u16,
        /// Destination address.
        dst: IpAddr,
        /// Destination port.
        dport: u16,
    },
    /// Destination address and port (and protocol).
    Dst {
        /// IP protocol.
        proto: u8,
        /// Destination address.
        dst: IpAddr,
        /// Destination port.
        dport: u16,
    },
    /// Ethertype (after up to two VLAN tags), e.g. `0x88cc` for LLDP.
    EtherType(u16),
}

/// What to do with a frame that matches a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlowAction {
    /// Deliver to the socket of this queue (see the module docs: only honoured on arrival on
    /// that queue; otherwise the [`MismatchPolicy`] applies).
    Queue(u32),
    /// Drop in XDP.
    Drop,
    /// Give to the kernel stack.
    Pass,
}

/// A flow-director rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowRule {
    /// The match.
    pub matches: FlowMatch,
    /// The action.
    pub action: FlowAction,
}

impl fmt::Display for FlowRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.matches {
            FlowMatch::FiveTuple {
                proto,
                src,
                sport,
                dst,
                dport,
            } => write!(f, "5tuple/{proto}/{src}/{sport}/{dst}/{dport}")?,
            FlowMatch::Dst { proto, dst, dport } => write!(f, "dst/{proto}/{dst}/{dport}")?,
            FlowMatch::EtherType(t) => write!(f, "ether/0x{t:04x}")?,
        }
        match self.action {
            FlowAction::Queue(q) => write!(f, "/queue{q}"),
            FlowAction::Drop => write!(f, "/drop"),
            FlowAction::Pass => write!(f, "/pass"),
        }
    }
}

/// What happens to a frame matching a `Queue(n)` rule that arrived on another queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MismatchPolicy {
    /// Deliver to the arrival queue's socket (counted); the engine steers in software.
    #[default]
    ArrivalQueue,
    /// Give to the kernel.
    Pass,
    /// Drop.
    Drop,
}

/// Hit counters of one rule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleCounters {
    /// Frames matched.
    pub hits: u64,
    /// Bytes matched.
    pub bytes: u64,
}

/// Per-action counters of the XDP program, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SteerStats {
    /// Frames handed to a socket.
    pub redirect: u64,
    /// Frames passed to the kernel because no socket is bound on their queue.
    pub pass_no_socket: u64,
    /// ARP frames passed to the kernel.
    pub pass_arp: u64,
    /// Non-IP frames passed to the kernel.
    pub pass_non_ip: u64,
    /// Frames matching a queue rule.
    pub rule_queue: u64,
    /// Frames dropped by a rule.
    pub rule_drop: u64,
    /// Frames passed by a rule.
    pub rule_pass: u64,
    /// Queue-rule frames that arrived on another queue than the rule's.
    pub queue_mismatch: u64,
    /// Frames with truncated headers (passed to the kernel).
    pub parse_error: u64,
}

const STAT_COUNT: u32 = 9;

const ACT_QUEUE: u32 = 0;
const ACT_DROP: u32 = 1;
const ACT_PASS: u32 = 2;

/// Key of `rules_5tuple` (layout of `struct fp_key5`).
fn key5(proto: u8, src: IpAddr, sport: u16, dst: IpAddr, dport: u16) -> Option<[u8; 40]> {
    let mut k = [0u8; 40];
    let family = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            k[0..4].copy_from_slice(&s.octets());
            k[16..20].copy_from_slice(&d.octets());
            4
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            k[0..16].copy_from_slice(&s.octets());
            k[16..32].copy_from_slice(&d.octets());
            6
        }
        _ => return None,
    };
    if has_ports(proto) {
        k[32..34].copy_from_slice(&sport.to_be_bytes());
        k[34..36].copy_from_slice(&dport.to_be_bytes());
    }
    k[36] = proto;
    k[37] = family;
    Some(k)
}

/// Key of `rules_dst` (layout of `struct fp_key_dst`).
fn key_dst(proto: u8, dst: IpAddr, dport: u16) -> [u8; 20] {
    let mut k = [0u8; 20];
    k[19] = match dst {
        IpAddr::V4(d) => {
            k[0..4].copy_from_slice(&d.octets());
            4
        }
        IpAddr::V6(d) => {
            k[0..16].copy_from_slice(&d.octets());
            6
        }
    };
    if has_ports(proto) {
        k[16..18].copy_from_slice(&dport.to_be_bytes());
    }
    k[18] = proto;
    k
}

fn has_ports(proto: u8) -> bool {
    matches!(proto, 6 | 17 | 132)
}

/// The program's maps, shared by the port and every [`FlowDirector`] handle.
struct SteerMaps {
    xsks: MapHandle,
    rules_5tuple: MapHandle,
    rules_dst: MapHandle,
    rules_ethertype: MapHandle,
    config: MapHandle,
    stats: MapHandle,
    /// The `config` map's value as last written. The lock serialises every rule change with
    /// the rewrite of the counts, so concurrent handles keep the counts exact.
    state: Mutex<ConfigState>,
}

/// The rule tables, for the per-table rule counts the program reads to skip empty tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Table {
    Ethertype,
    FiveTuple,
    Dst,
}

/// The value of the program's `config` map (`struct fp_config`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ConfigState {
    arp_to_xsk: bool,
    mismatch: MismatchPolicy,
    /// Rules in rules_ethertype, rules_5tuple, rules_dst.
    rules: [u32; 3],
}

impl ConfigState {
    fn slot(&mut self, t: Table) -> &mut u32 {
        &mut self.rules[t as usize]
    }

    /// The `struct fp_config` bytes.
    fn encode(&self) -> [u8; 20] {
        let policy: u32 = match self.mismatch {
            MismatchPolicy::ArrivalQueue => 0,
            MismatchPolicy::Pass => 1,
            MismatchPolicy::Drop => 2,
        };
        let mut v = [0u8; 20];
        v[0..4].copy_from_slice(&u32::from(self.arp_to_xsk).to_ne_bytes());
        v[4..8].copy_from_slice(&policy.to_ne_bytes());
        for (i, n) in self.rules.iter().enumerate() {
            v[8 + 4 * i..12 + 4 * i].copy_from_slice(&n.to_ne_bytes());
        }
        v
    }
}

fn map_err(map: &'static str, op: &'static str) -> impl FnOnce(libbpf_rs::Error) -> XdpError {
    move |source| XdpError::Map { map, op, source }
}

/// A run-time handle to the flow director of an attached program (`Send + Sync`, cheap to
/// clone): rules can be added and removed while the queues run.
#[derive(Clone)]
pub struct FlowDirector {
    maps: Arc<SteerMaps>,
}

impl fmt::Debug for FlowDirector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlowDirector").finish_non_exhaustive()
    }
}

impl FlowDirector {
    fn rule_map(
        &self,
        m: &FlowMatch,
    ) -> Result<(&MapHandle, &'static str, Table, Vec<u8>), XdpError> {
        Ok(match *m {
            FlowMatch::FiveTuple {
                proto,
                src,
                sport,
                dst,
                dport,
            } => {
                let k = key5(proto, src, sport, dst, dport).ok_or_else(|| XdpError::BadRule {
                    rule: format!("{m:?}"),
                    reason: "source and destination must both be IPv4 or both IPv6".into(),
                })?;
                (
                    &self.maps.rules_5tuple,
                    "rules_5tuple",
                    Table::FiveTuple,
                    k.to_vec(),
                )
            }
            FlowMatch::Dst { proto, dst, dport } => (
                &self.maps.rules_dst,
                "rules_dst",
                Table::Dst,
                key_dst(proto, dst, dport).to_vec(),
            ),
            FlowMatch::EtherType(t) => (
                &self.maps.rules_ethertype,
                "rules_ethertype",
                Table::Ethertype,
                t.to_ne_bytes().to_vec(),
            ),
        })
    }

    /// The config state, locked. A panic while it was held cannot leave it inconsistent with
    /// the map (every change is written before the state is kept), so poisoning is ignored.
    fn state(&self) -> MutexGuard<'_, ConfigState> {
        self.maps
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Writes `next` to the `config` map; on success it becomes the kept state.
    fn write_config(
        &self,
        state: &mut MutexGuard<'_, ConfigState>,
        next: ConfigState,
    ) -> Result<(), XdpError> {
        self.maps
            .config
            .update(&0u32.to_ne_bytes(), &next.encode(), MapFlags::ANY)
            .map_err(map_err("config", "update"))?;
        **state = next;
        Ok(())
    }

    /// Adds a rule, or replaces the action of a rule with the same match (its counters restart
    /// from zero).
    pub fn add_rule(&self, rule: &FlowRule) -> Result<(), XdpError> {
        let (map, name, table, key) = self.rule_map(&rule.matches)?;
        let (action, queue) = match rule.action {
            FlowAction::Queue(q) => (ACT_QUEUE, q),
            FlowAction::Drop => (ACT_DROP, 0),
            FlowAction::Pass => (ACT_PASS, 0),
        };
        let mut value = [0u8; 24];
        value[0..4].copy_from_slice(&action.to_ne_bytes());
        value[4..8].copy_from_slice(&queue.to_ne_bytes());
        let mut state = self.state();
        let exists = map
            .lookup(&key, MapFlags::ANY)
            .map_err(map_err(name, "lookup rule"))?
            .is_some();
        if exists {
            // A replacement: the count does not change.
            return map
                .update(&key, &value, MapFlags::ANY)
                .map_err(map_err(name, "add rule"));
        }
        // Count first, insert second: the program never skips a table that holds a rule.
        let before = *state;
        let mut next = before;
        *next.slot(table) += 1;
        self.write_config(&mut state, next)?;
        if let Err(e) = map.update(&key, &value, MapFlags::NO_EXIST) {
            if let Err(undo) = self.write_config(&mut state, before) {
                // The count stays one high: the table is looked up needlessly, never skipped
                // wrongly.
                log::warn!("af_xdp: restoring the rule count after a failed add: {undo}");
            }
            return Err(map_err(name, "add rule")(e));
        }
        Ok(())
    }

    /// Removes the rule with this match; returns whether there was one.
    pub fn remove_rule(&self, m: &FlowMatch) -> Result<bool, XdpError> {
        let (map, name, table, key) = self.rule_map(m)?;
        let mut state = self.state();
        match map.delete(&key) {
            Ok(()) => {
                // Delete first, uncount second (see add_rule).
                let mut next = *state;
                let n = next.slot(table);
                *n = n.saturating_sub(1);
                self.write_config(&mut state, next)?;
                Ok(true)
            }
            Err(e) if e.kind() == libbpf_rs::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(map_err(name, "remove rule")(e)),
        }
    }

    /// The number of rules in each table as the program sees them: (ethertype, 5-tuple,
    /// destination).
    pub fn rule_counts(&self) -> Result<(u32, u32, u32), XdpError> {
        let v = self
            .maps
            .config
            .lookup(&0u32.to_ne_bytes(), MapFlags::ANY)
            .map_err(map_err("config", "lookup"))?
            .unwrap_or_default();
        let at = |i: usize| {
            v.get(i..i + 4)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u32::from_ne_bytes)
        };
        Ok((at(8), at(12), at(16)))
    }

    /// The hit counters of the rule with this match, or `None` if there is no such rule.
    pub fn rule_counters(&self, m: &FlowMatch) -> Result<Option<RuleCounters>, XdpError> {
        let (map, name, _, key) = self.rule_map(m)?;
        let v = map
            .lookup(&key, MapFlags::ANY)
            .map_err(map_err(name, "lookup rule"))?;
        Ok(v.map(|v| RuleCounters {
            hits: u64::from_ne_bytes(v[8..16].try_into().unwrap_or_default()),
            bytes: u64::from_ne_bytes(v[16..24].try_into().unwrap_or_default()),
        }))
    }

    /// Sets the ARP filter and the queue-mismatch policy.
    pub fn set_config(&self, arp_to_xsk: bool, mismatch: MismatchPolicy) -> Result<(), XdpError> {
        let mut state = self.state();
        let next = ConfigState {
            arp_to_xsk,
            mismatch,
            ..*state
        };
        self.write_config(&mut state, next)
    }

    /// The program's per-action counters, summed over CPUs.
    pub fn stats(&self) -> Result<SteerStats, XdpError> {
        let mut c = [0u64; STAT_COUNT as usize];
        for (i, slot) in c.iter_mut().enumerate() {
            let per_cpu = self
                .maps
                .stats
                .lookup_percpu(&(i as u32).to_ne_bytes(), MapFlags::ANY)
                .map_err(map_err("stats", "lookup"))?
                .unwrap_or_default();
            *slot = per_cpu
                .iter()
                .map(|v| u64::from_ne_bytes(v[..8].try_into().unwrap_or_default()))
                .sum();
        }
        Ok(SteerStats {
            redirect: c[0],
            pass_no_socket: c[1],
            pass_arp: c[2],
            pass_non_ip: c[3],
            rule_queue: c[4],
            rule_drop: c[5],
            rule_pass: c[6],
            queue_mismatch: c[7],
            parse_error: c[8],
        })
    }
}

/// The loaded steering program, attached to at most one interface.
pub struct SteerProgram {
    prog: OwnedFd,
    prog_id: u32,
    fd: FlowDirector,
    attached: Option<Attachment>,
}

struct Attachment {
    iface: String,
    ifindex: i32,
    flags: u32,
}

impl fmt::Debug for SteerProgram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SteerProgram")
            .field("prog_id", &self.prog_id)
            .field("attached", &self.attached.as_ref().map(|a| &a.iface))
            .finish()
    }
}

/// Program id and mode of what is attached to `ifindex`, if anything.
fn query_attached(prog: &OwnedFd, ifindex: i32) -> Option<(u32, &'static str, u32)> {
    let q = Xdp::new(prog.as_fd()).query(ifindex, XdpFlags::NONE).ok()?;
    if q.drv_prog_id != 0 {
        Some((q.drv_prog_id, "native", XdpFlags::DRV_MODE.bits()))
    } else if q.skb_prog_id != 0 {
        Some((q.skb_prog_id, "generic", XdpFlags::SKB_MODE.bits()))
    } else if q.hw_prog_id != 0 {
        Some((q.hw_prog_id, "offload", XdpFlags::HW_MODE.bits()))
    } else if q.prog_id != 0 {
        Some((q.prog_id, "unknown", 0))
    } else {
        None
    }
}

fn prog_id_of(fd: &OwnedFd) -> u32 {
    let mut info = libbpf_rs::libbpf_sys::bpf_prog_info::default();
    let mut len = std::mem::size_of_val(&info) as u32;
    // SAFETY: info is a writable bpf_prog_info of len bytes; fd is a live program fd.
    let r = unsafe {
        libbpf_rs::libbpf_sys::bpf_prog_get_info_by_fd(fd.as_raw_fd(), &mut info, &mut len)
    };
    if r == 0 { info.id } else { 0 }
}

impl SteerProgram {
    /// Loads the program into the kernel (not attached yet).
    pub fn load(xsk_slots: u32) -> Result<Self, XdpError> {
        let load = |source| XdpError::Load {
            program: "xdp_steer",
            source,
        };
        let mut storage = MaybeUninit::uninit();
        let mut open = steer_skel::XdpSteerSkelBuilder::default()
            .open(&mut storage)
            .map_err(load)?;
        open.maps
            .xsks
            .set_max_entries(xsk_slots.max(1))
            .map_err(load)?;
        let skel = open.load().map_err(load)?;
        let handle = |m: &libbpf_rs::Map<'_>| MapHandle::try_from(m).map_err(load);
        let maps = SteerMaps {
            xsks: handle(&skel.maps.xsks)?,
            rules_5tuple: handle(&skel.maps.rules_5tuple)?,
            rules_dst: handle(&skel.maps.rules_dst)?,
            rules_ethertype: handle(&skel.maps.rules_ethertype)?,
            config: handle(&skel.maps.config)?,
            stats: handle(&skel.maps.stats)?,
            state: Mutex::new(ConfigState::default()),
        };
        let prog = skel
            .progs
            .xdp_steer
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| load(libbpf_rs::Error::from(e)))?;
        // The skeleton (and its libbpf object) goes away here; the program and maps live on
        // through the descriptors we hold.
        drop(skel);
        let prog_id = prog_id_of(&prog);
        Ok(SteerProgram {
            prog,
            prog_id,
            fd: FlowDirector {
                maps: Arc::new(maps),
            },
            attached: None,
        })
    }

    /// The kernel's id of the loaded program.
    pub fn id(&self) -> u32 {
        self.prog_id
    }

    /// A handle for adding and removing flow rules at run time.
    pub fn flow_director(&self) -> FlowDirector {
        self.fd.clone()
    }

    /// Attaches to `iface` in `mode`; with `force`, first detaches a program already there.
    /// Returns the mode actually used (`native` or `generic`).
    pub fn attach(
        &mut self,
        iface: &str,
        ifindex: u32,
        mode: XdpMode,
        force: bool,
    ) -> Result<&'static str, XdpError> {
        let ifindex = ifindex as i32;
        if let Some((id, m, flags)) = query_attached(&self.prog, ifindex) {
            if !force {
                return Err(XdpError::Busy {
                    iface: iface.to_string(),
                    prog_id: id,
                    mode: m,
                });
            }
            log::warn!("af_xdp {iface}: force=1: detaching XDP program id {id} ({m} mode)");
            Xdp::new(self.prog.as_fd())
                .detach(ifindex, XdpFlags::from_bits_retain(flags))
                .map_err(|source| XdpError::Attach {
                    iface: iface.to_string(),
                    mode: m,
                    source,
                })?;
        }
        let xdp = Xdp::new(self.prog.as_fd());
        let native = XdpFlags::DRV_MODE.bits();
        let generic = XdpFlags::SKB_MODE.bits();
        let tries: &[(u32, &'static str)] = match mode {
            XdpMode::Native => &[(native, "native")],
            XdpMode::Generic => &[(generic, "generic")],
            XdpMode::Auto => &[(native, "native"), (generic, "generic")],
        };
        let mut last = None;
        for &(flags, name) in tries {
            match xdp.attach(
                ifindex,
                XdpFlags::from_bits_retain(flags | XdpFlags::UPDATE_IF_NOEXIST.bits()),
            ) {
                Ok(()) => {
                    log::info!(
                        "af_xdp {iface}: XDP program id {} attached in {name} mode (mode={})",
                        self.prog_id,
                        mode.name()
                    );
                    self.attached = Some(Attachment {
                        iface: iface.to_string(),
                        ifindex,
                        flags,
                    });
                    return Ok(name);
                }
                Err(e) => {
                    log::info!("af_xdp {iface}: {name} XDP attach failed: {e}");
                    last = Some((name, e));
                }
            }
        }
        let (name, source) = last.expect("at least one mode is tried");
        Err(XdpError::Attach {
            iface: iface.to_string(),
            mode: name,
            source,
        })
    }

    /// Puts socket `xsk_fd` in the XSKMAP slot of `queue`.
    pub(crate) fn register_socket(&self, queue: u32, xsk_fd: i32) -> Result<(), XdpError> {
        self.fd
            .maps
            .xsks
            .update(&queue.to_ne_bytes(), &xsk_fd.to_ne_bytes(), MapFlags::ANY)
            .map_err(map_err("xsks", "register socket"))
    }

    /// Detaches the program if it is attached and still the one on the interface.
    pub fn detach(&mut self) {
        let Some(a) = self.attached.take() else {
            return;
        };
        match query_attached(&self.prog, a.ifindex) {
            Some((id, _, _)) if id == self.prog_id => {
                if let Err(e) = Xdp::new(self.prog.as_fd())
                    .detach(a.ifindex, XdpFlags::from_bits_retain(a.flags))
                {
                    log::warn!("af_xdp {}: detaching XDP program failed: {e}", a.iface);
                } else {
                    log::info!("af_xdp {}: XDP program id {id} detached", a.iface);
                }
            }
            Some((id, _, _)) => log::warn!(
                "af_xdp {}: XDP program id {id} replaced ours ({}); leaving it",
                a.iface,
                self.prog_id
            ),
            None => {}
        }
    }
}

impl Drop for SteerProgram {
    fn drop(&mut self) {
        self.detach();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_encodes_as_struct_fp_config() {
        let mut c = ConfigState {
            arp_to_xsk: true,
            mismatch: MismatchPolicy::Drop,
            rules: [0; 3],
        };
        *c.slot(Table::Ethertype) = 1;
        *c.slot(Table::FiveTuple) = 2;
        *c.slot(Table::Dst) = 0x0102_0304;
        let v = c.encode();
        let word = |i: usize| u32::from_ne_bytes(v[4 * i..4 * i + 4].try_into().unwrap());
        assert_eq!(
            [word(0), word(1), word(2), word(3), word(4)],
            [1, 2, 1, 2, 0x0102_0304]
        );
        assert_eq!(
            ConfigState::default().encode(),
            [0; 20],
            "the map's initial value"
        );
    }
}
